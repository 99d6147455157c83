"""Time-value network prices on the demo co-op's network: what the power flow says, what the
formula makes of it, firm at gate closure, the fallback, and what trades are charged."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from coop import demo, nz
from coop.models import CoopSettings, Feeder
from trading.models import FeederPrice, TimeValueParameters, TradingPeriod
from trading.services import network_prices, periods

pytestmark = pytest.mark.django_db

WINTER_MONDAY = dt.date(2026, 7, 13)
CLEAR_SUMMER_TUESDAY = dt.date(2026, 12, 8)  # the household model's sky is clear that day


def day_periods(day: dt.date) -> list[TradingPeriod]:
    return [
        TradingPeriod(trading_date=day, number=n, start=s, end=e, gate_closes_at=s)
        for n, s, e in nz.trading_periods(day)
    ]


def by_feeder_and_tp(rows):
    return {(r.feeder.name, r.period.number): r for r in rows}


@pytest.fixture
def demo_network(db):
    demo.seed()
    return list(Feeder.objects.select_related("transformer"))


def test_a_winter_evening_costs_more_than_the_night_and_a_clear_summer_noon_less(demo_network):
    winter = by_feeder_and_tp(
        network_prices.prices_compute(
            day_periods(WINTER_MONDAY), now=nz.trading_day_start(WINTER_MONDAY)
        )
    )
    summer = by_feeder_and_tp(
        network_prices.prices_compute(
            day_periods(CLEAR_SUMMER_TUESDAY), now=nz.trading_day_start(CLEAR_SUMMER_TUESDAY)
        )
    )
    assert {r.source for r in [*winter.values(), *summer.values()]} == {"power_flow"}
    loaded = []
    for feeder in demo_network:
        evening, night = winter[(feeder.name, 37)], winter[(feeder.name, 7)]  # 18:00, 03:00
        assert evening.price_c > night.price_c, feeder
        loaded.append(evening.loading_pct)
        noon, summer_evening = summer[(feeder.name, 26)], summer[(feeder.name, 38)]  # 12:30, 18:30
        assert noon.price_c < summer_evening.price_c, feeder
        assert noon.reverse_flow_kw > 0, feeder
        assert noon.v_max_pu > Decimal("1.04"), feeder
        assert noon.price_c < noon.base_c  # the flood is a discount on consuming
    # The demo is sized so that a cold evening with the EVs plugged in loads a transformer past
    # 90% of its rating.
    assert max(loaded) > 90


def test_network_study_prints_one_json_object_per_feeder_and_period(demo_network, capsys):
    import json

    call_command("network_study", "--date", "2026-07-13", "--json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 * 48
    keys = {
        "feeder",
        "trading_period",
        "forecast_kw",
        "loading_pct",
        "v_min_pu",
        "v_max_pu",
        "reverse_flow_kw",
        "price_c",
        "export_credit_c",
    }
    assert keys <= set(lines[0])
    evening = [line for line in lines if line["trading_period"] == 37]
    assert all(line["loading_pct"] > 70 for line in evening)


def open_periods(now: dt.datetime, hours: int = 3):
    periods.periods_ensure(now=now, hours=hours)
    return list(TradingPeriod.objects.filter(state="open").order_by("start"))


def test_prices_are_published_for_open_periods_and_firm_at_gate_closure(demo_network):
    now = nz.trading_period_start(WINTER_MONDAY, 34)  # 16:30 NZST
    rows = open_periods(now)
    published = network_prices.feeder_prices_publish(now=now)
    assert published.periods == len(rows)
    assert published.fallbacks == 0
    assert FeederPrice.objects.count() == 2 * len(rows)

    first = rows[0]
    assert periods.period_close_gate(period_id=first.pk)
    firm = {r.feeder_id: r.price_c for r in FeederPrice.objects.filter(period=first)}
    assert FeederPrice.objects.filter(period=first, firm=True).count() == 2

    # The distributor doubles the congestion weight: open periods are repriced, the closed one
    # keeps the price it trades on.
    TimeValueParameters.objects.create(effective_from=WINTER_MONDAY, kc=Decimal(80))
    before = {
        (r.feeder_id, r.period_id): r.price_c for r in FeederPrice.objects.exclude(period=first)
    }
    network_prices.feeder_prices_publish(now=now + dt.timedelta(minutes=10))
    assert {r.feeder_id: r.price_c for r in FeederPrice.objects.filter(period=first)} == firm
    after = {
        (r.feeder_id, r.period_id): r.price_c for r in FeederPrice.objects.exclude(period=first)
    }
    assert any(after[k] > before[k] for k in before)  # the evening periods got dearer


def test_a_feeder_without_a_transformer_falls_back_and_the_market_goes_on(demo_network):
    stray = Feeder.objects.create(name="Carried over from the old text field")
    now = nz.trading_period_start(WINTER_MONDAY, 36)
    rows = open_periods(now, hours=1)
    network_prices.feeder_prices_publish(now=now)
    fallback = FeederPrice.objects.get(feeder=stray, period=rows[0])
    assert fallback.source == "static"
    assert "has no transformer" in fallback.note
    # Lines price plus the static signal: the demo's evening window adds 6 c.
    assert fallback.price_c == fallback.base_c + rows[0].network_price_c
    assert FeederPrice.objects.filter(period=rows[0], source="power_flow").count() == 2


def test_a_period_whose_power_flow_does_not_converge_falls_back_alone(demo_network):
    t14 = Feeder.objects.get(name__startswith="ELL-T14")
    t14.other_customers = 20_000  # 35 MW through a 200 kVA transformer: no solution
    t14.save()
    rows = network_prices.prices_compute(
        day_periods(WINTER_MONDAY), now=nz.trading_day_start(WINTER_MONDAY)
    )
    evening = by_feeder_and_tp(rows)[(t14.name, 37)]
    assert evening.source == "static"
    assert "did not converge" in evening.note
    assert evening.price_c == evening.base_c + Decimal(0)  # no static window in this test


def test_the_market_clears_on_firm_prices_with_the_path_charge_and_export_credit(demo_network):
    """A trade under the time-value mechanism pays the buyer's feeder import price (plus the
    upstream part across transformers) and earns the seller its feeder's export credit; the
    settlement of a credit is a transfer from the network, so a period still sums to zero."""
    from trading.services.orders import order_place

    settings_row = CoopSettings.load()
    settings_row.mechanism = CoopSettings.Mechanism.TIME_VALUE
    settings_row.save()
    now = nz.trading_period_start(WINTER_MONDAY, 36)  # 17:30: the evening period is next
    open_periods(now)
    network_prices.feeder_prices_publish(now=now)
    period = TradingPeriod.objects.get(trading_date=WINTER_MONDAY, number=37)
    from coop.models import ICP

    seller_icp = ICP.objects.filter(
        feeder__name__startswith="ELL-T14", batteries__isnull=False
    ).first()
    buyer_same = (
        ICP.objects.filter(feeder__name__startswith="ELL-T14", batteries__isnull=True)
        .exclude(member=seller_icp.member)
        .first()
    )
    buyer_other = ICP.objects.filter(feeder__name__startswith="ELL-T22").first()
    order_place(
        member=seller_icp.member,
        icp=seller_icp,
        period=period,
        side="sell",
        energy_kwh=Decimal("2.000"),
        limit_price_c=Decimal(15),
        now=now,
    )
    order_place(
        member=buyer_same.member,
        icp=buyer_same,
        period=period,
        side="buy",
        energy_kwh=Decimal("1.000"),
        limit_price_c=Decimal(25),
        now=now,
    )
    order_place(
        member=buyer_other.member,
        icp=buyer_other,
        period=period,
        side="buy",
        energy_kwh=Decimal("1.000"),
        limit_price_c=Decimal(24),
        now=now,
    )
    assert periods.period_close_gate(period_id=period.pk)
    assert periods.period_clear(period_id=period.pk)

    firm = {r.feeder_id: r for r in FeederPrice.objects.filter(period=period, firm=True)}
    upstream = TimeValueParameters.in_force(WINTER_MONDAY).upstream_c
    trades = list(period.trades.select_related("buyer_icp", "seller_icp"))
    assert len(trades) == 2
    for trade in trades:
        buyer_feeder = firm[trade.buyer_icp.feeder_id]
        crosses = trade.buyer_icp.feeder.transformer_id != trade.seller_icp.feeder.transformer_id
        assert trade.network_c == buyer_feeder.price_c + (upstream if crosses else 0)
        assert trade.export_credit_c == firm[trade.seller_icp.feeder_id].export_credit_c
    assert all(t.export_credit_c > 0 for t in trades)  # the evening feeder is congested


def test_the_admin_home_lists_each_feeder_on_the_static_price(demo_network, admin_client):
    Feeder.objects.create(name="Carried over from the old text field")
    now = dt.datetime.now(dt.UTC)
    periods.periods_ensure(now=now, hours=1)
    network_prices.feeder_prices_publish(now=now)
    page = admin_client.get("/admin/").content.decode()
    assert "Feeders on the static network price" in page
    assert "Carried over from the old text field" in page
    assert "has no transformer" in page


def test_revenue_neutral_prices_collect_what_the_static_lines_prices_would(demo_network):
    TimeValueParameters.objects.create(effective_from=dt.date(2026, 1, 1), revenue_neutral=True)
    rows = network_prices.prices_compute(
        day_periods(WINTER_MONDAY), now=nz.trading_day_start(WINTER_MONDAY)
    )
    static = timevalue = Decimal(0)
    for r in rows:
        kwh = r.forecast_kw / 2
        imported, exported = max(kwh, Decimal(0)), max(-kwh, Decimal(0))
        static += imported * r.base_c
        timevalue += imported * r.price_c - exported * r.export_credit_c
    # Equal to the 4 dp the prices are stored to: within 0.01 c per kWh imported.
    imported_total = sum(max(r.forecast_kw / 2, Decimal(0)) for r in rows)
    assert abs(timevalue - static) < Decimal("0.01") * imported_total
    evening, night = (
        by_feeder_and_tp(rows)[("ELL-T14 Ballarat St", 37)],
        by_feeder_and_tp(rows)[("ELL-T14 Ballarat St", 7)],
    )
    assert evening.price_c > night.price_c  # the signal survives; the flat part moved
    assert night.price_c < night.base_c

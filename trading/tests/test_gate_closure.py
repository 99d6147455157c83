"""A period is closed and cleared at its gate-closure instant: queued once, a few minutes
ahead, with an ETA; never closed early; the minute's tick still closes it if the task is lost.
And the set-based writes the clearing and settlement use for large books."""

import datetime as dt
from decimal import Decimal

import pytest

from coop.models import ICP, Member, Tariff
from trading.bench_community import bench_icp, bench_members_ensure, bench_members_remove
from trading.live.snapshot import period_cleared
from trading.models import MemberPeriodSummary, Order, SettlementLine, Trade, TradingPeriod
from trading.services import orders, periods
from trading.services.rows import from_units, in_units, plain_rows, rows_insert, with_ids
from trading.tests.conftest import MARKET_NOW

pytestmark = pytest.mark.django_db
NOW = MARKET_NOW


def upcoming():
    return list(TradingPeriod.objects.filter(state="open").order_by("start"))


def test_gate_closures_due_within_the_lookahead_are_claimed_once(market):
    first, second, *_ = upcoming()
    # 12:00 NZST: the 12:00 period's gate closed at 11:55 and 12:30's closes at 12:25.
    now = second.gate_closes_at - dt.timedelta(minutes=4)
    due = periods.gate_closures_schedule(now=now)
    assert due == [(first.pk, first.gate_closes_at), (second.pk, second.gate_closes_at)]
    assert periods.gate_closures_schedule(now=now) == []  # a second tick queues nothing again
    third = upcoming()[2]
    assert third.gate_closes_at > now + periods.GATE_CLOSURE_LOOKAHEAD
    assert periods.gate_closures_schedule(now=third.gate_closes_at - dt.timedelta(minutes=5)) == [
        (third.pk, third.gate_closes_at)
    ]
    second.refresh_from_db()
    assert second.gate_closure_scheduled_at == now


def test_a_gate_is_never_closed_before_its_instant(market):
    buyer, _ = market
    period = upcoming()[1]
    early = period.gate_closes_at - dt.timedelta(milliseconds=1)
    assert not periods.period_close_gate(period_id=period.pk, now=early)
    period.refresh_from_db()
    assert period.state == "open"
    # So an order placed in that millisecond still counts.
    orders.order_place(
        member=buyer,
        icp=buyer.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1",
        limit_price_c="20",
        now=early,
    )
    assert periods.period_close_gate(period_id=period.pk, now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "gate_closed"


def test_the_gate_closure_task_closes_clears_and_says_what_cleared(market, settings):
    from trading import tasks

    buyer, seller = market
    period = TradingPeriod.objects.filter(gate_closes_at__lte=dt.datetime.now(dt.UTC)).first()
    assert period is not None
    assert period.state == "open"
    for member, side, price in ((buyer, "buy", "25"), (seller, "sell", "15")):
        Order.objects.create(
            period=period,
            member=member,
            icp=member.icps.get(),
            side=side,
            energy_kwh=Decimal(1),
            limit_price_c=Decimal(price),
            submitted_at=period.gate_closes_at - dt.timedelta(minutes=10),
        )
    assert tasks.gate_closure(period.pk) == {"closed": True, "cleared": True, "early": False}
    period.refresh_from_db()
    assert period.state == "cleared"
    assert period_cleared(period.pk) == {
        "period_id": period.pk,
        "period": "Wed 8 Jul, 12:00-12:30 pm",
        "price_c": "20.0000",
        "traded_kwh": "1.000",
    }
    # A duplicate delivery finds nothing to do.
    assert tasks.gate_closure(period.pk) == {"closed": False, "cleared": False, "early": False}


def test_a_gate_closure_delivered_early_waits_for_its_instant(market):
    from trading import tasks

    periods.periods_ensure(hours=1)  # periods ahead of the real clock
    period = upcoming()[-1]
    assert period.gate_closes_at > dt.datetime.now(dt.UTC)
    # In process (the tests' eager Celery) the task cannot wait: it leaves the period alone
    # for its real ETA or the tick.
    assert tasks.gate_closure(period.pk) == {"closed": False, "cleared": False, "early": True}
    period.refresh_from_db()
    assert period.state == "open"


def test_a_cleared_period_with_no_match_says_so():
    from trading.live.snapshot import _cleared

    period = TradingPeriod(
        pk=7,
        start=MARKET_NOW,
        end=MARKET_NOW + dt.timedelta(minutes=30),
        clearing_price_c=None,
        traded_kwh=Decimal(0),
    )
    assert _cleared(period)["price_c"] is None


def test_rows_insert_writes_every_row_with_the_models_defaults(market):
    buyer, seller = market
    period = upcoming()[0]
    made = [
        Order(
            period=period,
            member=m,
            icp=m.icps.get(),
            side=side,
            energy_kwh=Decimal(1),
            limit_price_c=Decimal(20),
            submitted_at=NOW,
        )
        for m, side in ((buyer, "buy"), (seller, "sell"))
    ]
    Order.objects.bulk_create(made)
    columns = ("period_id", "sequence", "buy_order_id", "sell_order_id", "buyer_id", "seller_id")
    columns += ("buyer_icp_id", "seller_icp_id", "energy_kwh", "price_c", "network_c", "fee_c")
    columns += ("energy_value_nzd", "network_value_nzd", "fee_value_nzd")
    row = (period.pk, 0, made[0].pk, made[1].pk, buyer.pk, seller.pk)
    row += (made[0].icp_id, made[1].icp_id, Decimal("1.000"), Decimal(20), Decimal(5), Decimal(1))
    row += (Decimal("0.20"), Decimal("0.05"), Decimal("0.01"))
    assert rows_insert(Trade, columns, [row]) == 1
    trade = Trade.objects.get(period=period)
    assert (trade.kind, trade.export_credit_c, trade.network_covered_by_coop) == (
        "market",
        Decimal(0),
        False,
    )
    assert trade.energy_value_nzd == Decimal("0.20")
    with pytest.raises(ValueError, match="no columns"):
        rows_insert(Trade, ["period"], [(period.pk,)])


def test_values_given_in_units_of_the_last_place_are_written_exactly(market):
    buyer, seller = market
    period = upcoming()[0]
    kwh, nzd = from_units(SettlementLine, "energy_kwh"), from_units(SettlementLine, "amount_nzd")
    columns = ("period_id", "account", "member_id", "kind", "energy_kwh", "amount_nzd")
    energy, amounts = kwh([1500, -1, 0]), nzd([-1_234_567, 1, 999_999_999_999])
    rows = [
        (period.pk, "member", buyer.pk, "p2p_energy", energy[0], amounts[0]),
        (period.pk, "member", seller.pk, "p2p_energy", energy[1], amounts[1]),
        (period.pk, "coop", None, "coop_fee", energy[2], amounts[2]),
    ]
    assert rows_insert(SettlementLine, columns, rows) == 3
    stored = list(
        SettlementLine.objects.filter(period=period)
        .order_by("pk")
        .values_list("energy_kwh", "amount_nzd")
    )
    assert stored == [
        (Decimal("1.500"), Decimal("-1.234567")),
        (Decimal("-0.001"), Decimal("0.000001")),
        (Decimal("0.000"), Decimal("999999.999999")),
    ]
    for not_whole in (Decimal("1.5"), 1.5, "15"):
        with pytest.raises(ValueError, match="format"):
            kwh([1, not_whole])  # never rounded, nor read as a number of kWh
    with pytest.raises(ValueError, match="not a DecimalField"):
        from_units(SettlementLine, "kind")


def test_decimals_read_in_units_of_the_last_place_are_exact(market):
    buyer, _ = market
    period = upcoming()[0]
    amounts = [
        Decimal("0.000001"),
        Decimal("-1.234567"),
        Decimal("0.1"),
        Decimal("0.3"),
        Decimal("123456789.999999"),  # 15 digits: exact on SQLite's doubles too
    ]
    columns = ("period_id", "account", "member_id", "kind", "energy_kwh", "amount_nzd")
    rows_insert(
        SettlementLine,
        columns,
        [
            (period.pk, "member", buyer.pk, "p2p_energy", Decimal(n) / 1000, amount)
            for n, amount in enumerate(amounts, start=1)
        ],
    )
    read = list(
        SettlementLine.objects.filter(period=period)
        .order_by("pk")
        .annotate(
            wh=in_units(SettlementLine, "energy_kwh"), micro=in_units(SettlementLine, "amount_nzd")
        )
        .values_list("wh", "micro")
    )
    assert read == [(n, int(a * 1_000_000)) for n, a in enumerate(amounts, start=1)]
    assert all(type(wh) is int and type(micro) is int for wh, micro in read)


def test_any_of_matches_as_in_does_on_keys_and_foreign_keys(market):
    buyer, seller = market
    icps = [buyer.icps.get().pk, seller.icps.get().pk]
    assert set(ICP.objects.filter(pk__any_of=icps).values_list("pk", flat=True)) == set(icps)
    assert list(ICP.objects.filter(pk__any_of=[])) == []
    assert list(ICP.objects.filter(pk__any_of={icps[0]})) == [buyer.icps.get()]
    tariffs = Tariff.objects.filter(icp__any_of=icps[:1])
    assert list(tariffs) == list(Tariff.objects.filter(icp__in=icps[:1]))
    assert tariffs.count() == 1
    assert Tariff.objects.filter(icp_id__any_of=icps).count() == 2
    # Ids go as one array's text on PostgreSQL; other values as a list, as before.
    numbers = [buyer.icps.get().identifier, "0000000000XX000"]
    assert list(ICP.objects.filter(identifier__any_of=numbers)) == [buyer.icps.get()]


def test_plain_rows_are_the_querysets_own_values(market):
    buyer, _ = market
    orders.order_place(
        member=buyer,
        icp=buyer.icps.get(),
        period=upcoming()[-1],
        side="buy",
        energy_kwh="1.5",
        limit_price_c="20.25",
        now=NOW,
    )
    rows = (
        Order.objects.annotate(wh=in_units(Order, "energy_kwh"))
        .order_by("pk")
        .values_list("pk", "side", "wh", "limit_price_c", "icp__feeder_id")
    )
    assert plain_rows(rows) == list(rows)
    assert plain_rows(rows)[0][1:4] == ("buy", 1500, Decimal("20.25"))


def test_with_ids_reaches_every_id_in_any_number(market):
    buyer, _ = market
    period = upcoming()[0]
    Order.objects.bulk_create(
        Order(
            period=period,
            member=buyer,
            icp=buyer.icps.get(),
            side="buy",
            energy_kwh=Decimal(1),
            limit_price_c=Decimal(20),
            submitted_at=NOW,
        )
        for _ in range(2500)  # more than one batch off PostgreSQL
    )
    ids = list(Order.objects.values_list("pk", flat=True))[:2300]
    assert sum(qs.update(status="cancelled") for qs in with_ids(Order.objects.all(), ids)) == 2300
    assert Order.objects.filter(status="cancelled").count() == 2300
    assert list(with_ids(Order.objects.all(), [])) == []


def test_a_large_book_clears_and_settles_to_the_cent():
    """60 bench members, 300 orders: every order's outcome matches its trades, and the
    settlement lines written in bulk balance to zero. Ten more bench members, left by an
    earlier and larger bench, have meters too and settle with them."""
    from trading.bench_community import bench_periods_remove
    from trading.management.commands.bench_gate_closure import BENCH_DAY, _clear_and_settle

    bench_members_ensure(count=70)
    members = bench_members_ensure(count=60)
    assert bench_icp(1) in {m.icps.get().identifier for m in members}
    figures = _clear_and_settle(members, 300, number=5)
    period = TradingPeriod.objects.get(trading_date=dt.date(2000, 1, 3), number=5)
    assert period.state == "settled"
    assert figures["trades"] == Trade.objects.filter(period=period).count() > 0
    for order in Order.objects.filter(period=period):
        matched = sum(
            (
                t.energy_kwh
                for t in Trade.objects.filter(period=period)
                if order.pk in (t.buy_order_id, t.sell_order_id)
            ),
            Decimal(0),
        )
        assert order.matched_kwh == matched
        expected = (
            "unmatched" if not matched else "filled" if matched == order.energy_kwh else "partial"
        )
        assert order.status == expected
    lines = SettlementLine.objects.filter(period=period)
    assert sum(line.amount_nzd for line in lines) == 0
    assert lines.filter(trade__isnull=False).count() > 0
    assert MemberPeriodSummary.objects.filter(period=period).count() == 70
    bench_periods_remove(day=BENCH_DAY)
    assert bench_members_remove() == 70
    assert not Member.objects.exists()


def test_bench_members_go_with_readings_a_killed_bench_left_behind():
    """A bench's clean-up never ran (killed): its ICPs still hold readings, one corrected."""
    from metering.models import Reading, ReadingRevision
    from metering.services.readings import readings_upsert
    from metering.values import IntervalEnergy

    icp = bench_members_ensure(count=3)[0].icps.get().pk
    at = dt.datetime(2000, 1, 3, 1, 0, tzinfo=dt.UTC)
    for kwh in ("0.5", "0.7"):
        readings_upsert(source="meter", rows=[IntervalEnergy(icp, at, Decimal(kwh), Decimal(0))])
    assert ReadingRevision.objects.count() == 1
    assert bench_members_remove() == 3
    assert not Reading.objects.exists()
    assert not ReadingRevision.objects.exists()

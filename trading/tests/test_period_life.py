"""A trading period's whole life through the services, and the rules on each step."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from conftest import feeder_named, give_flat_tariff
from coop.models import Battery, CoopSettings
from metering.models import Meter
from metering.services.readings import readings_upsert
from metering.values import IntervalEnergy
from trading.models import MemberPeriodSummary, Order, SettlementLine, Trade, TradingPeriod
from trading.services import orders, periods
from trading.tests.conftest import MARKET_NOW

pytestmark = pytest.mark.django_db
NOW = MARKET_NOW  # 12:00 NZST, a winter Wednesday; the market fixture is in conftest


def next_period():
    return TradingPeriod.objects.filter(start__gt=NOW).order_by("start").first()


def test_periods_are_created_ahead_once(market):
    count = TradingPeriod.objects.count()
    assert count == 12
    assert periods.periods_ensure(now=NOW, hours=6) == 0
    p = next_period()
    assert (p.trading_date, p.number) == (dt.date(2026, 7, 8), 26)
    assert p.gate_closes_at == p.start - dt.timedelta(minutes=5)


def test_a_period_lives_from_open_to_settled_and_balances(market):
    buyer, seller = market
    period = next_period()
    orders.order_place(
        member=buyer,
        icp=buyer.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1.5",
        limit_price_c="25",
        now=NOW,
    )
    orders.order_place(
        member=seller,
        icp=seller.icps.get(),
        period=period,
        side="sell",
        energy_kwh="1.0",
        limit_price_c="15",
        now=NOW,
    )
    after_gate = period.gate_closes_at + dt.timedelta(seconds=1)
    periods.periods_advance(now=after_gate)
    period.refresh_from_db()
    assert period.state == "cleared"
    assert period.clearing_price_c == Decimal("20.0000")
    trade = Trade.objects.get(period=period)
    assert trade.energy_kwh == Decimal("1.000")
    assert trade.energy_value_nzd == Decimal("0.200000")

    # No readings yet: the period waits for metering.
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
    period.refresh_from_db()
    assert period.state == "cleared"
    readings_upsert(
        source="test",
        rows=[
            IntervalEnergy(buyer.icps.get().pk, period.start, Decimal("2.000"), Decimal(0)),
            IntervalEnergy(seller.icps.get().pk, period.start, Decimal(0), Decimal("0.800")),
        ],
    )
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
    period.refresh_from_db()
    assert period.state == "settled"
    lines = SettlementLine.objects.filter(period=period)
    assert sum(line.amount_nzd for line in lines) == 0
    summary = MemberPeriodSummary.objects.get(period=period, member=buyer)
    # Bought 1 kWh at 20 c + 4 c network (other feeder? same F1 feeder: 2 c) + 0.5 c fee,
    # and 1 kWh from the retailer at 34.5/1.15 = 30 c excl. GST.
    assert summary.net_amount_nzd == Decimal("-0.525000")
    assert summary.retailer_only_nzd == Decimal("-0.600000")
    assert summary.saving_nzd == Decimal("0.075000")
    # Running the steps again (a duplicate task) changes nothing.
    for step in (periods.period_close_gate, periods.period_clear, periods.period_settle):
        assert step(period_id=period.pk) is False
    assert periods.period_meter(period_id=period.pk, deadline_passed=True) is False
    assert Trade.objects.filter(period=period).count() == 1
    assert SettlementLine.objects.filter(period=period).count() == lines.count()


def test_missing_readings_are_estimated_at_the_deadline_and_not_a_second_before(market):
    from metering.models import Reading

    resident, other = market
    period = next_period()
    periods.periods_advance(now=period.gate_closes_at)
    periods.periods_advance(now=period.end + dt.timedelta(hours=2) - dt.timedelta(seconds=1))
    period.refresh_from_db()
    assert period.state == "cleared"  # still waiting for the meters
    assert not Reading.objects.filter(interval_start=period.start).exists()
    periods.periods_advance(now=period.end + dt.timedelta(hours=2))
    period.refresh_from_db()
    assert period.state == "settled"
    estimates = Reading.objects.filter(interval_start=period.start)
    assert {r.icp_id for r in estimates} == {resident.icps.get().pk, other.icps.get().pk}
    assert {r.quality for r in estimates} == {Reading.Quality.ESTIMATED}
    # No history in the previous week: each estimate is zero, and settles as zero.
    assert all(r.import_kwh == 0 and r.export_kwh == 0 for r in estimates)
    assert MemberPeriodSummary.objects.filter(period=period).count() == 2


def test_the_metered_check_writes_nothing(market):
    from metering.models import Reading
    from trading.services.metered import metered_data_ready

    period = next_period()
    periods.periods_advance(now=period.gate_closes_at)
    assert metered_data_ready(period, deadline_passed=True)
    assert not metered_data_ready(period, deadline_passed=False)
    assert not Reading.objects.exists()


def test_a_period_never_skips_a_state(market):
    period = next_period()
    with pytest.raises(ValueError, match="never moves from open to settled"):
        periods._claim(period.pk, "open", "settled")
    assert not periods.period_record_committed(period_id=period.pk)  # open, not settled
    period.refresh_from_db()
    assert period.state == "open"


def test_a_failing_clearing_leaves_the_period_gate_closed(market, monkeypatch):
    period = next_period()

    def boom(*, period):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(periods, "book_clear", boom)  # the step's work, where the step calls it
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "gate_closed"
    assert "engine exploded" in period.last_error
    monkeypatch.undo()
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "cleared"
    assert period.last_error == ""


@pytest.mark.parametrize(
    ("kwh", "price", "message"),
    [
        ("0", "20", "more than 0 kWh"),
        ("-1", "20", "more than 0 kWh"),
        ("NaN", "20", "finite"),
        ("1.0001", "20", "3 decimal places"),
        ("abc", "20", "not a number"),
        ("100", "20", "at most 7.500 kWh"),
        ("1", "101", "between the co-op's floor"),
        ("1", "-1", "between the co-op's floor"),
    ],
)
def test_bad_orders_are_refused_and_nothing_stored(market, kwh, price, message):
    buyer, _ = market
    with pytest.raises(ValidationError, match=message):
        orders.order_place(
            member=buyer,
            icp=buyer.icps.get(),
            period=next_period(),
            side="buy",
            energy_kwh=kwh,
            limit_price_c=price,
            now=NOW,
        )
    assert not Order.objects.exists()


def test_orders_on_others_icps_closed_periods_and_without_assets_are_refused(market):
    buyer, seller = market
    with pytest.raises(PermissionDenied):
        orders.order_place(
            member=buyer,
            icp=seller.icps.get(),
            period=next_period(),
            side="buy",
            energy_kwh="1",
            limit_price_c="20",
            now=NOW,
        )
    with pytest.raises(ValidationError, match="export"):
        orders.order_place(
            member=buyer,
            icp=buyer.icps.get(),
            period=next_period(),
            side="sell",
            energy_kwh="1",
            limit_price_c="20",
            now=NOW,
        )
    period = next_period()
    with pytest.raises(ValidationError, match="closed for orders"):
        orders.order_place(
            member=buyer,
            icp=buyer.icps.get(),
            period=period,
            side="buy",
            energy_kwh="1",
            limit_price_c="20",
            now=period.gate_closes_at,
        )
    assert not Order.objects.exists()


def test_amend_and_cancel_until_gate_closure(market):
    buyer, _ = market
    period = next_period()
    order = orders.order_place(
        member=buyer,
        icp=buyer.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1",
        limit_price_c="20",
        now=NOW,
    )
    order = orders.order_amend(member=buyer, order=order, energy_kwh="2", now=NOW)
    assert order.energy_kwh == Decimal("2.000")
    orders.order_cancel(member=buyer, order=order, now=NOW)
    with pytest.raises(ValidationError, match="Only open orders"):
        orders.order_cancel(member=buyer, order=order, now=NOW)


def test_mechanism_is_fixed_at_gate_closure(market):
    settings = CoopSettings.load()
    settings.mechanism = "pay_as_bid"
    settings.save()
    period = next_period()
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.mechanism == "pay_as_bid"
    # A change after gate closure applies to later periods, never to this one.
    settings.mechanism = "mid_market"
    settings.save()
    periods.periods_advance(now=period.end + dt.timedelta(hours=2))
    period.refresh_from_db()
    assert period.state == "settled"
    assert period.mechanism == "pay_as_bid"
    later = TradingPeriod.objects.filter(start__gt=period.start).order_by("start").first()
    periods.periods_advance(now=later.gate_closes_at)
    later.refresh_from_db()
    assert later.mechanism == "mid_market"


# --- a member never trades with themselves (issue 10, item 3) ------------------------------


def second_icp(member, n: int):
    """Another ICP for `member` (with a battery, so it can sell too)."""
    from coop import nz, services

    base = f"{9_100_000_000 + n:010d}UN"
    icp = services.icp_create(
        member=member,
        on=dt.date(2026, 1, 1),
        identifier=base + nz.icp_checksum(base),
        address=f"{n} Second Street, Ellerslie",
        grid_exit_point="PEN0331",
        feeder=feeder_named("F2"),
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
    )
    Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
    return icp


def place(member, icp, side, kwh, price, period=None):
    return orders.order_place(
        member=member,
        icp=icp,
        period=period or next_period(),
        side=side,
        energy_kwh=kwh,
        limit_price_c=price,
        now=NOW,
    )


def test_a_bid_crossing_the_members_own_offer_is_refused_and_nothing_saved(market):
    _, prosumer = market
    icp = prosumer.icps.get()
    place(prosumer, icp, "sell", "1", "10")
    with pytest.raises(ValidationError) as refused:
        place(prosumer, icp, "buy", "1", "30")
    assert refused.value.message_dict["limit_price_c"] == [
        "This bid at 30.0000 c/kWh would cross your own offer at 10.0000 c/kWh for the same "
        "period; cancel that offer first."
    ]
    assert list(Order.objects.values_list("side", flat=True)) == ["sell"]


def test_an_offer_crossing_the_members_bid_on_their_other_icp_is_refused(market):
    _, prosumer = market
    first_icp = prosumer.icps.get()
    other_icp = second_icp(prosumer, 7)
    place(prosumer, first_icp, "buy", "1", "30")
    with pytest.raises(
        ValidationError,
        match=r"This offer at 30\.0000 c/kWh would cross your "
        r"own bid at 30\.0000 c/kWh for the same period; cancel that bid first",
    ):
        place(prosumer, other_icp, "sell", "1", "30")  # equal limits cross too
    assert Order.objects.count() == 1
    # Not crossing (offer above the bid), another period, or another member: all fine.
    place(prosumer, other_icp, "sell", "1", "30.0001")
    later = TradingPeriod.objects.filter(start__gt=NOW).order_by("start")[1]
    place(prosumer, other_icp, "sell", "1", "10", period=later)
    buyer, _ = market
    place(buyer, buyer.icps.get(), "buy", "1", "40")
    assert Order.objects.count() == 4


def test_amending_an_order_into_a_cross_with_the_members_own_is_refused(market):
    _, prosumer = market
    icp = prosumer.icps.get()
    place(prosumer, icp, "buy", "1", "8")
    offer = place(prosumer, icp, "sell", "1", "12")
    with pytest.raises(ValidationError, match=r"would cross your own bid at 8\.0000"):
        orders.order_amend(member=prosumer, order=offer, limit_price_c="7.5", now=NOW)
    offer.refresh_from_db()
    assert offer.limit_price_c == Decimal("12.0000")
    # Amending an order against itself is no cross.
    orders.order_amend(member=prosumer, order=offer, limit_price_c="9", now=NOW)


def test_crossing_standing_orders_skip_the_crossing_one_and_the_tick_goes_on(market, caplog):
    from trading.models import StandingOrder
    from trading.services.standing import standing_orders_place

    _, prosumer = market
    icp = prosumer.icps.get()
    for side, price in (("sell", "10"), ("buy", "30")):
        StandingOrder.objects.create(
            member=prosumer,
            icp=icp,
            side=side,
            limit_price_c=Decimal(price),
            max_kwh=Decimal(1),
            start_time=dt.time(12, 0),
            end_time=dt.time(14, 0),
        )
    caplog.set_level("INFO", logger="trading.services.standing")
    placed = standing_orders_place(now=NOW)
    # 12:30-14:00 NZST is three open periods: the buy rule (placed first) takes each; the sell is
    # skipped in each, with a note, and nothing crashes.
    assert placed == 3
    assert set(Order.objects.values_list("side", flat=True)) == {"buy"}
    notes = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(notes) == 3
    assert "would cross your own bid at 30.0000" in notes[0]
    assert standing_orders_place(now=NOW) == 0


def test_self_crossing_orders_that_reach_the_engine_match_nothing(market):
    """Defence in depth: orders stored around the services (the admin, old data)."""
    buyer, prosumer = market
    period = next_period()
    icp = prosumer.icps.get()
    for side, price in (("buy", "30"), ("sell", "10")):
        Order.objects.create(
            period=period,
            member=prosumer,
            icp=icp,
            side=side,
            energy_kwh=Decimal(1),
            limit_price_c=Decimal(price),
            submitted_at=NOW,
        )
    place(buyer, buyer.icps.get(), "buy", "1", "20")
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "cleared"
    assert not Trade.objects.filter(period=period).exists()
    assert period.clearing_price_c is None
    assert set(Order.objects.values_list("status", flat=True)) == {"unmatched"}


# --- one incomplete ICP never stops settlement for the co-op (issue 10, item 4) ------------


@pytest.fixture
def incomplete(market):
    """The market plus two newcomers: one without a meter, one without a tariff."""
    from conftest import make_member

    no_meter = make_member("nometer", 4)
    give_flat_tariff(no_meter)
    no_tariff = make_member("notariff", 5)
    Meter.objects.create(icp=no_tariff.icps.get())
    return (*market, no_meter, no_tariff)


def test_an_icp_with_no_meter_and_one_with_no_tariff_are_held_aside_alone(incomplete):
    from trading.models import SettlementHold

    buyer, seller, no_meter, no_tariff = incomplete
    period = next_period()
    place(buyer, buyer.icps.get(), "buy", "1.5", "25")
    place(no_tariff, no_tariff.icps.get(), "buy", "0.5", "25")
    place(seller, seller.icps.get(), "sell", "2", "15")
    periods.periods_advance(now=period.gate_closes_at)
    assert Trade.objects.filter(period=period).count() == 2

    # Every ICP with a meter reports; the one without a meter is not waited for.
    readings_upsert(
        source="test",
        rows=[
            IntervalEnergy(buyer.icps.get().pk, period.start, Decimal("2.000"), Decimal(0)),
            IntervalEnergy(seller.icps.get().pk, period.start, Decimal(0), Decimal("1.200")),
            IntervalEnergy(no_tariff.icps.get().pk, period.start, Decimal("0.700"), Decimal(0)),
        ],
    )
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
    period.refresh_from_db()
    assert period.state == "settled"
    assert period.last_error == ""

    lines = SettlementLine.objects.filter(period=period)
    assert sum(line.amount_nzd for line in lines) == 0
    # Everyone else settled as ever: the buyer paid for 1.5 kWh of trades plus the rest retail.
    assert MemberPeriodSummary.objects.get(period=period, member=buyer).net_amount_nzd == (
        Decimal("-0.487500")  # 1.5 kWh at 20 + 2 + 0.5 c, 0.5 kWh retail at 30 c
    )
    # The held ICP's trade settled in full (its seller is owed); its deviation waits.
    no_tariff_icp = no_tariff.icps.get()
    assert set(lines.filter(icp=no_tariff_icp).values_list("kind", flat=True)) == {
        "p2p_energy",
        "network",
        "coop_fee",
    }
    assert not lines.filter(icp=no_meter.icps.get()).exists()
    holds = {h.icp.identifier: h.reason for h in SettlementHold.objects.filter(period=period)}
    no_meter_number, no_tariff_number = no_meter.icps.get().identifier, no_tariff_icp.identifier
    assert holds == {
        no_meter_number: f"ICP {no_meter_number}: no meter and no reading",
        no_tariff_number: f"ICP {no_tariff_number}: no tariff in force on 08 Jul 2026",
    }
    assert str(no_tariff_icp.pk) not in holds[no_tariff_number].replace(no_tariff_number, "")

    # The admin adds the missing tariff: the next tick settles that ICP's deviation too.
    give_flat_tariff(no_tariff)
    moved = periods.periods_advance(now=period.end + dt.timedelta(minutes=2))
    assert moved["holds_resolved"] == 1
    hold = SettlementHold.objects.get(icp=no_tariff_icp)
    assert hold.resolved_at is not None
    retail = lines.get(icp=no_tariff_icp, kind="retail_import", account="member")
    assert retail.energy_kwh == Decimal("0.200")
    assert retail.amount_nzd == Decimal("-0.060000")
    assert sum(line.amount_nzd for line in SettlementLine.objects.filter(period=period)) == 0
    summary = MemberPeriodSummary.objects.get(period=period, member=no_tariff)
    assert summary.imported_kwh == Decimal("0.700")
    assert summary.bought_p2p_kwh == Decimal("0.500")
    # 0.5 kWh at 22.5 c (price, network, fee) + 0.2 kWh at 30 c; alone 0.7 kWh at 30 c.
    assert summary.net_amount_nzd == Decimal("-0.172500")
    assert summary.retailer_only_nzd == Decimal("-0.210000")
    # The ICP with no meter stays held (tried, and still lacking a reading).
    still = SettlementHold.objects.get(icp=no_meter.icps.get())
    assert still.resolved_at is None
    assert still.checked_at is not None


def test_at_the_deadline_an_icp_with_no_meter_gets_no_made_up_estimate(incomplete):
    from metering.models import Reading
    from trading.models import SettlementHold

    _, _, no_meter, no_tariff = incomplete
    period = next_period()
    periods.periods_advance(now=period.gate_closes_at)
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
    period.refresh_from_db()
    assert period.state == "cleared"  # the three metered ICPs have not reported yet
    periods.periods_advance(now=period.end + dt.timedelta(hours=2))
    period.refresh_from_db()
    assert period.state == "settled"
    estimated = set(
        Reading.objects.filter(interval_start=period.start).values_list("icp", flat=True)
    )
    assert no_meter.icps.get().pk not in estimated
    assert no_tariff.icps.get().pk in estimated
    assert set(
        SettlementHold.objects.filter(period=period).values_list("icp__identifier", flat=True)
    ) == {no_meter.icps.get().identifier, no_tariff.icps.get().identifier}
    assert sum(line.amount_nzd for line in SettlementLine.objects.filter(period=period)) == 0


def test_no_tariff_is_reported_by_icp_number(incomplete):
    from trading.services.pricing import NoTariff, icp_prices

    _, _, _, no_tariff = incomplete
    icp = no_tariff.icps.get()
    with pytest.raises(NoTariff, match=rf"^ICPs {icp.identifier} have no tariff in force"):
        icp_prices(next_period(), {icp.pk})


def test_a_period_settles_with_whoever_held_the_icp_that_day(market):
    """The ICP changes hands the next day, before the period settles: the energy used that day
    is still the earlier holder's."""
    from conftest import make_member
    from coop import services

    resident, _other = market
    newcomer = make_member("newcomer", 9)
    period = next_period()
    services.icp_assign_member(
        icp=resident.icps.get(), member=newcomer, on=period.trading_date + dt.timedelta(days=1)
    )
    periods.periods_advance(now=period.gate_closes_at)
    periods.periods_advance(now=period.end + dt.timedelta(hours=2))
    period.refresh_from_db()
    assert period.state == "settled"
    members = set(
        MemberPeriodSummary.objects.filter(period=period).values_list("member", flat=True)
    )
    assert resident.pk in members
    assert newcomer.pk not in members

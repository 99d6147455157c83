"""A trading period's whole life through the services, and the rules on each step."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from conftest import give_flat_tariff
from coop.models import Battery, CoopSettings, PVSystem
from metering.services import IntervalEnergy, readings_upsert
from trading.models import MemberPeriodSummary, Order, SettlementLine, Trade, TradingPeriod
from trading.services import orders, periods

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 7, 8, 0, 0, tzinfo=dt.UTC)  # 12:00 NZST, a winter Wednesday


@pytest.fixture
def market(resident, other_resident):
    for member, pv in ((resident, None), (other_resident, Decimal("6.6"))):
        icp = member.icps.get()
        give_flat_tariff(member)
        if pv:
            PVSystem.objects.create(icp=icp, capacity_kwp=pv, inverter_kw=Decimal(5))
            Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
    periods.periods_ensure(now=NOW, hours=6)
    return resident, other_resident


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
    assert period.state == "cleared" and period.clearing_price_c == Decimal("20.0000")
    trade = Trade.objects.get(period=period)
    assert trade.energy_kwh == Decimal("1.000") and trade.energy_value_nzd == Decimal("0.200000")

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


def test_missing_readings_are_estimated_at_the_deadline(market):
    period = next_period()
    periods.periods_advance(now=period.gate_closes_at)
    periods.periods_advance(now=period.end + dt.timedelta(hours=2))
    period.refresh_from_db()
    assert period.state == "settled"


def test_a_failing_clearing_leaves_the_period_gate_closed(market, monkeypatch):
    period = next_period()
    from trading.services import clearing

    def boom(_period):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(clearing, "clear_period", boom)
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "gate_closed" and "engine exploded" in period.last_error
    monkeypatch.undo()
    periods.periods_advance(now=period.gate_closes_at)
    period.refresh_from_db()
    assert period.state == "cleared" and period.last_error == ""


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

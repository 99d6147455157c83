"""Standing orders become orders in the open periods they cover: sized from the past week's
readings of the co-op's own data, flexible loads in the cheaper half of their window, and a
tick that owes nothing reads no readings at all (it runs every minute)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metering.models import Reading
from metering.services.readings import readings_upsert
from metering.values import IntervalEnergy
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services.standing import standing_orders_place
from trading.tests.conftest import MARKET_NOW

pytestmark = pytest.mark.django_db
NOW = MARKET_NOW  # 12:00 NZST: the open periods start at 12:30
HALF_PAST = NOW + dt.timedelta(minutes=30)


def _rule(member, side, start, end, **extra):
    return StandingOrder.objects.create(
        member=member,
        icp=member.icps.get(),
        side=side,
        limit_price_c=Decimal(20),
        max_kwh=Decimal(2),
        start_time=start,
        end_time=end,
        **extra,
    )


def test_an_order_is_sized_from_the_same_half_hour_of_the_past_week(market):
    resident, _ = market
    icp = resident.icps.get().pk
    # Six days of the meter at 12:30 and, on the seventh, only the resident's own upload (far
    # larger): it sizes nothing.
    readings_upsert(
        rows=[
            IntervalEnergy(icp, HALF_PAST - dt.timedelta(days=d), Decimal(f"0.{d}"), Decimal(0))
            for d in range(1, 7)
        ],
        source="meter",
    )
    readings_upsert(
        rows=[
            IntervalEnergy(
                icp, HALF_PAST - dt.timedelta(days=7), Decimal(9), Decimal(0), "uploaded"
            )
        ],
        source="upload",
        fill_only=True,
    )
    assert Reading.objects.filter(icp_id=icp).count() == 7
    _rule(resident, "buy", dt.time(12, 30), dt.time(13, 0))

    assert standing_orders_place(now=NOW) == 1
    order = Order.objects.get()
    assert order.period.start == HALF_PAST
    assert order.energy_kwh == Decimal("0.350")  # (0.1 + ... + 0.6) / 6
    assert order.limit_price_c == Decimal(20)


def test_a_tick_that_owes_nothing_reads_no_readings(market):
    resident, prosumer = market
    _rule(resident, "buy", dt.time(12, 30), dt.time(14, 0))
    _rule(prosumer, "sell", dt.time(12, 30), dt.time(14, 0))
    assert standing_orders_place(now=NOW) >= 3
    placed = Order.objects.count()

    with CaptureQueriesContext(connection) as queries:
        assert standing_orders_place(now=NOW) == 0
    assert Order.objects.count() == placed
    read = [q["sql"] for q in queries if Reading._meta.db_table in q["sql"]]
    assert read == []


def test_a_flexible_load_buys_in_the_cheaper_half_of_its_window(market):
    resident, _ = market
    window = list(
        TradingPeriod.objects.filter(
            start__gte=HALF_PAST, start__lt=NOW + dt.timedelta(hours=3)
        ).order_by("start")
    )
    assert len(window) == 5  # 12:30 to 14:30
    for period, price in zip(window, ("9", "3", "7", "1", "5"), strict=True):
        TradingPeriod.objects.filter(pk=period.pk).update(network_price_c=Decimal(price))
    _rule(resident, "buy", dt.time(12, 30), dt.time(15, 0), flexible_load=True)

    assert standing_orders_place(now=NOW) == 3
    bought = Order.objects.order_by("period__start").values_list("period__network_price_c")
    assert [price for (price,) in bought] == [Decimal(3), Decimal(1), Decimal(5)]
    assert standing_orders_place(now=NOW) == 0

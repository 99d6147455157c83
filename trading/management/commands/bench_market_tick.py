"""`manage.py bench_market_tick --members 5000`: the minute's market tick (trading.tasks.market_tick)
for a co-op of that size, part by part.

Bench members (trading.bench_community), each with a standing order to buy at 12:00-12:30 NZ
time (two of the 48 hours of open periods), and nine days of readings before now for their
ICPs (source "bench-history", in place of any they held). Timed, in this process as the
worker runs it:
- `catch_up`: the tick that places every rule's orders in the open periods it covers;
- `new_period`: one such period's orders removed, as a period that has just opened owes them;
- `quiet`: a tick with nothing owed, part by part (periods ahead, standing orders, periods
  moved on, the live push of every member's power and the display's snapshot).
Prints JSON {"members", "catch_up", "new_period", "quiet"} last. The bench's standing orders,
their orders and the history readings are removed afterwards (the members are kept, as
bench_orders keeps its residents).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from config.benchmarks import database_ready, tables_vacuum
from coop import nz
from coop.models import ICP, Member
from metering.bench_data import icp_readings_delete
from metering.models import Reading
from metering.services.partitions import reading_partitions_ensure
from trading import tasks
from trading.bench_community import bench_members_ensure
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services import periods, standing

HISTORY = "bench-history"
HISTORY_DAYS = 9  # the forecast's week behind the two days of open periods


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=5000)

    def handle(self, *args: Any, members: int, **options: Any) -> None:
        if not 2 <= members <= 100_000:
            raise CommandError("--members must be 2 to 100,000")
        database_ready()
        community = bench_members_ensure(count=members)
        icps = dict(ICP.objects.filter(member__in=community).values_list("member_id", "pk"))
        rules = _rules_replace(community, icps)
        _history_write(list(icps.values()))
        tables_vacuum(Order, StandingOrder)
        try:
            result: dict[str, Any] = {"members": members, "database": connection.vendor}
            periods.periods_ensure()
            result["catch_up"] = _placing()
            latest = (
                Order.objects.filter(standing_order__in=rules).order_by("-period__start").first()
            )
            if latest is None:
                raise CommandError("the standing orders placed nothing")
            Order.objects.filter(period_id=latest.period_id, standing_order__in=rules).delete()
            result["new_period"] = _placing()
            result["quiet"] = _quiet_tick()
        finally:
            Order.objects.filter(standing_order__in=rules).delete()
            StandingOrder.objects.filter(pk__in=rules).delete()
            icp_readings_delete(list(icps.values()))
        self.stdout.write(json.dumps(result))


def _rules_replace(community: list[Member], icps: dict[int, int]) -> list[int]:
    """Each member's one rule (a run cut short leaves its own)."""
    Order.objects.filter(standing_order__member__in=community).delete()
    StandingOrder.objects.filter(member__in=community).delete()
    made = StandingOrder.objects.bulk_create(
        StandingOrder(
            member=member,
            icp_id=icps[member.pk],
            side=StandingOrder.Side.BUY,
            limit_price_c=Decimal(25),
            max_kwh=Decimal("1.5"),
            start_time=dt.time(12, 0),
            end_time=dt.time(12, 30),
        )
        for member in community
    )
    return [rule.pk for rule in made]


def _history_write(icp_ids: list[int]) -> None:
    """Every ICP's half hours for the days before now, import 0-1.5 kWh, in place of whatever
    readings the bench ICPs held (another bench's, or a run cut short)."""
    end = nz.trading_period_start(*nz.trading_period_of(timezone.now()))
    first = end - dt.timedelta(days=HISTORY_DAYS)
    reading_partitions_ensure(first=first, last=end)
    icp_readings_delete(icp_ids)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Reading._meta.db_table} "  # noqa: S608 (names only)
                "(icp_id, interval_start, import_kwh, export_kwh, quality, source, received_at) "
                "SELECT i, t, round((random() * 1.5)::numeric, 3), 0, 'actual', %s, now() "
                "FROM unnest(%s::bigint[]) i, "
                "generate_series(%s::timestamptz, %s::timestamptz, interval '30 minutes') t",
                [HISTORY, icp_ids, first, end - nz.TRADING_PERIOD],
            )
        return
    starts = [first + k * nz.TRADING_PERIOD for k in range(HISTORY_DAYS * 48)]
    Reading.objects.bulk_create(
        (
            Reading(
                icp_id=icp_id,
                interval_start=start,
                import_kwh=Decimal((icp_id * 7 + k) % 1500) / 1000,
                export_kwh=Decimal(0),
                source=HISTORY,
            )
            for icp_id in icp_ids
            for k, start in enumerate(starts)
        ),
        batch_size=5000,
    )


def _placing() -> dict[str, Any]:
    start = time.perf_counter()
    placed = standing.standing_orders_place()
    return {"orders_placed": placed, "seconds": round(time.perf_counter() - start, 3)}


def _quiet_tick() -> dict[str, Any]:
    parts: dict[str, Callable[[], object]] = {
        "periods_ensure": periods.periods_ensure,
        "standing_orders": standing.standing_orders_place,
        "periods_advance": periods.periods_advance,
        "live_push": tasks._push_live,
    }
    figures: dict[str, Any] = {}
    for name, part in parts.items():
        start = time.perf_counter()
        part()
        figures[f"{name}_seconds"] = round(time.perf_counter() - start, 3)
    figures["seconds"] = round(sum(figures.values()), 3)
    figures["open_periods"] = TradingPeriod.objects.filter(
        state=TradingPeriod.State.OPEN, gate_closes_at__gt=timezone.now()
    ).count()
    return figures

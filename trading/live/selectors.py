"""Reads of wholesale prices for the live pages and the wall display."""

from __future__ import annotations

import datetime as dt
import math

from django.core.cache import cache
from django.utils import timezone

from coop import nz
from trading.models import WholesalePrice
from trading.prices.points import PricePoint

DISPLAY_NODES = ["PEN0331", "OTA2201", "HAY2201", "BEN2201"]
STATUS_KEY = "prices:status"  # the last poll's outcome, written by services.prices_poll


def prices_status() -> dict:
    """Which source the last poll used, when, its problems and how many prices it stored."""
    return cache.get(STATUS_KEY) or {"source": "none"}


def latest_prices() -> dict:
    result = {}
    for node in DISPLAY_NODES:
        row = WholesalePrice.objects.filter(node=node).order_by("-interval_start", "kind").first()
        if row:
            result[node] = {
                "price": str(row.dollars_per_mwh),
                "at": row.interval_start.isoformat(),
                "kind": row.kind,
                "source": row.source,
            }
    return result


def history(hours: int = 24, now: dt.datetime | None = None) -> dict[str, list]:
    now = now or timezone.now()
    rows = (
        WholesalePrice.objects.filter(
            node__in=DISPLAY_NODES, interval_start__gte=now - dt.timedelta(hours=hours)
        )
        .order_by("interval_start")
        .values_list("node", "interval_start", "dollars_per_mwh")
    )
    series: dict[str, list] = {node: [] for node in DISPLAY_NODES}
    for node, at, price in rows:
        series[node].append([at.isoformat(), str(price)])
    return series


def replay_points(now: dt.datetime) -> list[PricePoint]:
    """The same half hour of the most recent archived day we hold: the demo's replay."""
    latest = WholesalePrice.objects.filter(kind="final").order_by("-interval_start").first()
    if latest is None:
        return []
    # Whole days back so that `then` lands at or before the archive's last half hour.
    behind = now - (latest.interval_start + dt.timedelta(minutes=30))
    days_back = max(1, math.ceil(behind / dt.timedelta(days=1)))
    then = now - dt.timedelta(days=days_back)
    rows = WholesalePrice.objects.filter(
        kind="final",
        node__in=DISPLAY_NODES,
        interval_start__lte=then,
        interval_start__gt=then - dt.timedelta(minutes=30),
    )
    day, period = nz.trading_period_of(now)
    start = nz.trading_period_start(day, period)
    return [
        PricePoint(r.node, day, period, start, r.dollars_per_mwh, "dispatch", "replay")
        for r in rows
    ]

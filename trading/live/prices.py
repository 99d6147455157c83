"""Polling the configured price source, storing new prices once, and telling the displays."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from trading.live import broadcast
from trading.models import WholesalePrice
from trading.prices import synthetic
from trading.prices.live import Em6, EmiRealTime, Wits
from trading.prices.points import PricePoint, SourceError

log = logging.getLogger(__name__)
DISPLAY_NODES = ["PEN0331", "OTA2201", "HAY2201", "BEN2201"]
STATUS_KEY = "prices:status"


def store(points: Iterable[PricePoint]) -> int:
    """Insert prices not seen before (unique per node, interval and kind). Returns how many."""
    rows = [
        WholesalePrice(
            node=p.node,
            trading_date=p.trading_date,
            trading_period=p.trading_period,
            interval_start=p.interval_start,
            dollars_per_mwh=p.dollars_per_mwh,
            kind=p.kind,
            source=p.source,
        )
        for p in points
    ]
    before = WholesalePrice.objects.count()
    WholesalePrice.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
    return WholesalePrice.objects.count() - before


def live_sources() -> list:
    sources = []
    if settings.EMI_API_KEY:
        sources.append(EmiRealTime(settings.EMI_API_URL, settings.EMI_API_KEY, DISPLAY_NODES))
    if settings.WITS_CLIENT_ID and settings.WITS_CLIENT_SECRET:
        sources.append(
            Wits(
                settings.WITS_API_URL,
                settings.WITS_CLIENT_ID,
                settings.WITS_CLIENT_SECRET,
                DISPLAY_NODES,
            )
        )
    sources.append(Em6(settings.EM6_URL))
    return sources


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
    from coop import nz

    day, period = nz.trading_period_of(now)
    start = nz.trading_period_start(day, period)
    return [
        PricePoint(r.node, day, period, start, r.dollars_per_mwh, "dispatch", "replay")
        for r in rows
    ]


def prices_poll(*, now: dt.datetime | None = None) -> dict:
    """Fetch from the configured source (auto: live, then replay, then synthetic), store, push."""
    now = now or timezone.now()
    choice = settings.PRICE_SOURCE
    points: list[PricePoint] = []
    used, problems = None, []
    if choice in ("auto", "em6", "emi", "wits"):
        for source in live_sources():
            if choice != "auto" and source.name != choice:
                continue
            try:
                points, skipped = source.fetch()
                problems += skipped
                used = source.name
                break
            except SourceError as exc:
                log.warning("price source %s: %s", source.name, exc)
                problems.append(f"{source.name}: {exc}")
    if used is None and choice in ("auto", "replay"):
        points = replay_points(now)
        used = "replay" if points else None
    if used is None and choice in ("auto", "synthetic"):
        points = synthetic.points(DISPLAY_NODES, now, now + dt.timedelta(seconds=1))
        used = "synthetic"
    stored = store(points)
    status = {
        "source": used or "none",
        "at": now.isoformat(),
        "problems": problems[:5],
        "stored": stored,
    }
    cache.set(STATUS_KEY, status, timeout=None)
    broadcast.to_display("prices", {"status": status, "latest": latest_prices()})
    return status


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

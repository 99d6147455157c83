"""Writes of wholesale prices: polling the configured source, storing new prices once, and
telling the displays (after the commit)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from trading.live import broadcast
from trading.live.selectors import DISPLAY_NODES, STATUS_KEY, latest_prices, replay_points
from trading.models import WholesalePrice
from trading.prices import synthetic
from trading.prices.live import Em6, EmiRealTime, Wits
from trading.prices.points import PricePoint, PriceSource, SourceError

log = logging.getLogger(__name__)


def prices_store(*, points: Iterable[PricePoint]) -> int:
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


def _live_sources() -> list[PriceSource]:
    sources: list[PriceSource] = []
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


def prices_poll(*, now: dt.datetime | None = None) -> dict:
    """Fetch from the configured source (auto: live, then replay, then synthetic), store, and
    once that has committed, record the status and push it with the latest prices."""
    now = now or timezone.now()
    choice = settings.PRICE_SOURCE
    points: list[PricePoint] = []
    used, problems = None, []
    if choice in ("auto", "em6", "emi", "wits"):
        for source in _live_sources():
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
    stored = prices_store(points=points)
    status = {
        "source": used or "none",
        "at": now.isoformat(),
        "problems": problems[:5],
        "stored": stored,
    }
    pushed = {"status": status, "latest": latest_prices()}

    def announce() -> None:
        cache.set(STATUS_KEY, status, timeout=None)
        broadcast.to_display("prices", pushed)

    transaction.on_commit(announce)  # at once outside a transaction
    return status

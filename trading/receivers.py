"""What the market does when metering's signals fire. Connected in TradingConfig.ready().

Metering cannot import the market (the layers point coop <- metering <- trading), so it only
says which stored readings changed (metering.signals.readings_corrected, after its commit); the
market works out which of its periods that touches and settles them again as amendments.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

from coop.models import ICP
from metering.signals import ReadingChange
from trading.models import TradingPeriod
from trading.tasks import period_resettle

# The dispatch_uid the receiver is connected with (a second connect is a no-op).
RESETTLE_CORRECTED = "trading.resettle_corrected_periods"
# Named in a reason at most; a file correcting a whole feeder says how many more.
REASON_ICPS = 10
_WORDS = {"estimated": "estimate", "uploaded": "upload", "substituted": "substitute"}
State = TradingPeriod.State


def _change(change: ReadingChange) -> str:
    was, now = (_WORDS.get(q, q) for q in (change.was, change.now))
    return f"{was} -> {now}" if was != now else f"{now}, value corrected"


def correction_reason(changes: list[ReadingChange], numbers: dict[int, str], source: str) -> str:
    """e.g. "meter reading corrected for ICP 0000012345UNABC (estimate -> actual) by mqtt"."""
    changes = sorted(changes, key=lambda c: numbers.get(c.icp_id, ""))
    named = ", ".join(
        f"ICP {numbers.get(c.icp_id, c.icp_id)} ({_change(c)})" for c in changes[:REASON_ICPS]
    )
    more = f" and {len(changes) - REASON_ICPS} more" if len(changes) > REASON_ICPS else ""
    plural = "s" if len(changes) > 1 else ""
    return f"meter reading{plural} corrected for {named}{more} by {source}"


def resettle_corrected_periods(
    sender: type,  # noqa: ARG001  (signature fixed by Django)
    changes: tuple[ReadingChange, ...],
    source: str,
    **kwargs: Any,
) -> None:
    """Queue a re-settlement of each period these half hours belong to, if it may be settled.

    A metered period is queued too: its settlement may be under way with the old readings right
    now (uncommitted, so it still looks metered); the re-settlement waits for the period's lock
    and then finds it settled, or finds it still metered and leaves it to settle on the new
    readings. Queued robustly after any enclosing commit: a broker hiccup never fails the
    readings' write, and a period can be settled again from its admin page.
    """
    by_start: dict[dt.datetime, list[ReadingChange]] = defaultdict(list)
    for change in changes:
        by_start[change.interval_start].append(change)
    periods = list(
        TradingPeriod.objects.filter(
            start__in=list(by_start), state__in=[State.METERED, State.SETTLED, State.COMMITTED]
        ).values_list("pk", "start")
    )
    if not periods:
        return
    icp_ids = {c.icp_id for pk, start in periods for c in by_start[start]}
    numbers = dict(ICP.objects.filter(pk__in=icp_ids).values_list("pk", "identifier"))
    for pk, start in periods:
        reason = correction_reason(by_start[start], numbers, source)
        transaction.on_commit(_queue(pk, reason), robust=True)


def _queue(period_id: int, reason: str) -> Callable[[], None]:
    # A plain function, not a partial: robust on_commit names the callback by its __qualname__.
    def queue_resettle() -> None:
        period_resettle.delay(period_id, reason)

    return queue_resettle

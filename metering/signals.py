"""Signals metering sends to the apps above it (the market), after the commit.

Metering never imports the market: it only says which stored readings changed, and the market
(trading.receivers) decides what that means for periods it has already settled.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# Sent with `changes` (a tuple of ReadingChange) and `source` once the transaction that changed
# stored readings has committed: a correction, or an estimate (or an estimate's value) replaced.
# Not for new half hours, repeats that change nothing, or a resident's upload replaced by the
# co-op's data (an upload is never settled on, so for the market that is a new reading).
readings_corrected = Signal()


@dataclass(frozen=True)
class ReadingChange:
    """One stored reading that changed: its ICP and half hour, and its quality before and after."""

    icp_id: int
    interval_start: dt.datetime
    was: str
    now: str


def readings_corrected_send(*, changes: list[ReadingChange], source: str) -> None:
    """Send `readings_corrected` once the current transaction commits (never if it rolls back).

    Robust: a failing receiver must not fail the write that sent it, which has committed and is
    the truth; the failure is logged (and the market can re-settle a period from its admin).
    """
    if not changes:
        return
    sent = tuple(changes)

    def send() -> None:
        for receiver, result in readings_corrected.send_robust(
            sender=ReadingChange, changes=sent, source=source
        ):
            if isinstance(result, Exception):
                log.error("readings_corrected: %r failed", receiver, exc_info=result)

    transaction.on_commit(send)

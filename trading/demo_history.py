"""The demo's past: a fortnight of the community trading, run through the market's own life
(periods, standing orders, simulated meters, clearing, settlement; the chain app commits each
settled period as it always does), so a first visit has trades and statements to show.

Run once by beat shortly after `make run` starts (a one-off periodic task the demo seed
creates), in the worker, while the site is already up: the oldest days appear first.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from coop import nz
from metering.models import Meter
from metering.services.polling import meters_poll
from trading.models import TradingPeriod
from trading.services import periods, standing

log = logging.getLogger(__name__)
DAYS = 14


def history_seed(*, days: int = DAYS, now: dt.datetime | None = None) -> int:
    """Trade the demo community through the `days` before `now`; the periods settled. Does
    nothing if any period has settled already (it has run, or the site has a history)."""
    now = now or timezone.now()
    if TradingPeriod.objects.filter(state__in=["settled", "committed"]).exists():
        return 0
    meter_ids = list(Meter.objects.values_list("pk", flat=True))
    day, _ = nz.trading_period_of(now - dt.timedelta(days=days))
    at = nz.trading_day_start(day)
    # Stop where the live market takes over: the periods that have not reached their
    # metering deadline are left to the beat's own ticks.
    stop = now - periods.METERING_DEADLINE - nz.TRADING_PERIOD
    while at <= stop:
        periods.periods_ensure(now=at, hours=2)
        if at.minute == 0:
            meters_poll(meter_ids=meter_ids, now=at)
        standing.standing_orders_place(now=at)
        periods.periods_advance(now=at)
        at += nz.TRADING_PERIOD
    meters_poll(meter_ids=meter_ids, now=now)
    periods.periods_advance(now=now)
    settled = TradingPeriod.objects.filter(state__in=["settled", "committed"]).count()
    log.info("demo history: %d trading periods settled over %d days", settled, days)
    return settled

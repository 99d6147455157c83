"""Polling meters in batches: one Celery task per batch, a failing meter never holds the rest."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from coop import nz
from metering.models import Meter, MeterEvent, Reading
from metering.services import readings_upsert

log = logging.getLogger(__name__)
BATCH_SIZE = 200
OFFLINE_AFTER_MISSES = 5
CATCH_UP = dt.timedelta(days=2)


def batches(meter_ids: list[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [meter_ids[i : i + size] for i in range(0, len(meter_ids), size)]


def last_complete_period_end(now: dt.datetime) -> dt.datetime:
    day, number = nz.trading_period_of(now)
    return nz.trading_period_start(day, number)


def _poll_simulated(meter: Meter, now: dt.datetime) -> int:
    from metering.adapters.simulated import interval_energy

    end = last_complete_period_end(now)
    last = (
        Reading.objects.filter(icp_id=meter.icp_id, source="simulated")
        .order_by("-interval_start")
        .values_list("interval_start", flat=True)
        .first()
    )
    start = max(last + nz.TRADING_PERIOD if last else end - CATCH_UP, end - CATCH_UP)
    if start >= end:
        return 0
    rows = interval_energy(meter.icp, start, end)
    readings_upsert(rows=rows, source="simulated")
    return len(rows)


POLLERS = {Meter.Adapter.SIMULATED: _poll_simulated}


def meters_poll(*, meter_ids: Iterable[int], now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    report = {"polled": 0, "readings": 0, "failed": 0}
    meters = (
        Meter.objects.filter(pk__in=list(meter_ids))
        .select_related("icp")
        .prefetch_related("icp__pv_systems", "icp__batteries", "icp__evs")
    )
    for meter in meters:
        poller = POLLERS.get(meter.adapter)
        if poller is None:
            continue
        try:
            with transaction.atomic():
                report["readings"] += poller(meter, now)
        except Exception as exc:  # one meter's failure is recorded, the batch goes on
            log.warning("meter %s failed: %s", meter, exc)
            report["failed"] += 1
            _record_miss(meter, str(exc))
            continue
        report["polled"] += 1
        if meter.status != Meter.Status.ONLINE:
            MeterEvent.objects.create(meter=meter, kind=MeterEvent.Kind.ONLINE, message="answering")
        Meter.objects.filter(pk=meter.pk).update(
            status=Meter.Status.ONLINE, consecutive_misses=0, last_sample_at=now, last_error=""
        )
    return report


def _record_miss(meter: Meter, error: str) -> None:
    misses = meter.consecutive_misses + 1
    status = Meter.Status.OFFLINE if misses >= OFFLINE_AFTER_MISSES else meter.status
    Meter.objects.filter(pk=meter.pk).update(
        consecutive_misses=misses, last_error=error[:2000], status=status
    )
    MeterEvent.objects.create(meter=meter, kind=MeterEvent.Kind.MISSED, message=error[:2000])
    if status == Meter.Status.OFFLINE and meter.status != Meter.Status.OFFLINE:
        MeterEvent.objects.create(
            meter=meter, kind=MeterEvent.Kind.OFFLINE, message=f"{misses} polls in a row failed"
        )

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
BACKOFF_FIRST = dt.timedelta(minutes=1)
BACKOFF_LONGEST = dt.timedelta(minutes=30)


class SampleRefused(Exception):
    """A sample the registers cannot explain; the meter is re-baselined on it."""

    def __init__(self, message: str, sample) -> None:
        super().__init__(message)
        self.sample = sample


def backoff(misses: int) -> dt.timedelta:
    """1, 2, 4, 8 ... minutes after each miss in a row, at most half an hour: a dead meter is
    not asked every minute, and one that comes back is heard from soon."""
    return min(BACKOFF_FIRST * 2 ** max(misses - 1, 0), BACKOFF_LONGEST)


def due_meter_ids(now: dt.datetime) -> list[int]:
    from django.db.models import Q

    return list(
        Meter.objects.filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


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


def _poll_device(meter: Meter, now: dt.datetime) -> int:
    """Read a real meter's registers and turn the span since its last sample into energy."""
    from decimal import Decimal

    from metering.adapters import devices
    from metering.models import IntervalDraft
    from metering.registers import RegisterError, Sample, slices

    read = {
        Meter.Adapter.MODBUS: devices.read_modbus,
        Meter.Adapter.MQTT: devices.read_mqtt,
        Meter.Adapter.HTTP: devices.read_http,
    }[meter.adapter]
    sample = read(meter.settings)
    previous = None
    if meter.last_sample_at and meter.import_register_kwh is not None:
        previous = Sample(
            meter.last_sample_at, meter.import_register_kwh, meter.export_register_kwh
        )
    written = 0
    if previous is not None:
        modulus = meter.settings.get("register_modulus")
        try:
            parts = slices(
                previous,
                sample,
                max_kw=meter.icp.max_import_kw,
                modulus=Decimal(str(modulus)) if modulus else None,
            )
        except RegisterError as exc:
            # Recorded by the caller outside this rolled-back block. The span is dropped (its
            # half hours are estimated at the deadline) and counting restarts from this sample,
            # so a refused jump is never bridged later, when enough time has passed to make it
            # look possible.
            raise SampleRefused(str(exc), sample) from exc
        for part in parts:
            draft, _ = IntervalDraft.objects.get_or_create(
                meter=meter, interval_start=part.interval_start
            )
            draft.import_kwh += part.import_kwh
            draft.export_kwh += part.export_kwh
            draft.seconds += part.seconds
            draft.estimated |= part.estimated
            draft.save()
        written = _finish_drafts(meter, sample.at)
    Meter.objects.filter(pk=meter.pk).update(
        import_register_kwh=sample.import_kwh.quantize(Decimal("0.001")),
        export_register_kwh=sample.export_kwh.quantize(Decimal("0.001")),
    )
    meter.last_sample_at = sample.at
    return written


def _finish_drafts(meter: Meter, latest: dt.datetime) -> int:
    """Half hours that ended by the latest sample become readings."""
    from decimal import Decimal

    from metering.models import IntervalDraft
    from metering.services import IntervalEnergy

    done = list(
        IntervalDraft.objects.filter(meter=meter, interval_start__lte=latest - nz.TRADING_PERIOD)
    )
    rows = [
        IntervalEnergy(
            meter.icp_id,
            d.interval_start,
            d.import_kwh.quantize(Decimal("0.001")),
            d.export_kwh.quantize(Decimal("0.001")),
            # A half hour the samples did not fully cover (the meter's first) is an estimate.
            "estimated" if d.estimated or d.seconds < 1799 else "actual",
        )
        for d in done
    ]
    readings_upsert(rows=rows, source=meter.adapter)
    IntervalDraft.objects.filter(pk__in=[d.pk for d in done]).delete()
    return len(rows)


POLLERS = {
    Meter.Adapter.SIMULATED: _poll_simulated,
    Meter.Adapter.MODBUS: _poll_device,
    Meter.Adapter.MQTT: _poll_device,
    Meter.Adapter.HTTP: _poll_device,
}


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
            from metering.adapters.devices import BadPayload

            refused = isinstance(exc, SampleRefused | BadPayload)
            _record_miss(meter, str(exc), now=now, refused=refused)
            if isinstance(exc, SampleRefused):
                _rebaseline(meter, exc.sample)
            continue
        report["polled"] += 1
        if meter.status != Meter.Status.ONLINE:
            MeterEvent.objects.create(meter=meter, kind=MeterEvent.Kind.ONLINE, message="answering")
        Meter.objects.filter(pk=meter.pk).update(
            status=Meter.Status.ONLINE,
            consecutive_misses=0,
            next_poll_at=None,
            last_sample_at=meter.last_sample_at
            if meter.adapter != Meter.Adapter.SIMULATED
            else now,
            last_error="",
        )
    return report


def _rebaseline(meter: Meter, sample) -> None:
    from decimal import Decimal

    from metering.models import IntervalDraft

    with transaction.atomic():
        Meter.objects.filter(pk=meter.pk).update(
            last_sample_at=sample.at,
            import_register_kwh=sample.import_kwh.quantize(Decimal("0.001")),
            export_register_kwh=sample.export_kwh.quantize(Decimal("0.001")),
        )
        # What was gathered of the current half hour stays; it is finished as an estimate
        # because the samples no longer cover it.
        IntervalDraft.objects.filter(meter=meter, interval_start__lt=sample.at).update(
            estimated=True
        )


def _record_miss(meter: Meter, error: str, *, now: dt.datetime, refused: bool = False) -> None:
    misses = meter.consecutive_misses + 1
    status = Meter.Status.OFFLINE if misses >= OFFLINE_AFTER_MISSES else meter.status
    Meter.objects.filter(pk=meter.pk).update(
        consecutive_misses=misses,
        last_error=error[:2000],
        status=status,
        next_poll_at=now + backoff(misses),
    )
    kind = MeterEvent.Kind.REFUSED if refused else MeterEvent.Kind.MISSED
    MeterEvent.objects.create(meter=meter, kind=kind, message=error[:2000])
    if status == Meter.Status.OFFLINE and meter.status != Meter.Status.OFFLINE:
        MeterEvent.objects.create(
            meter=meter, kind=MeterEvent.Kind.OFFLINE, message=f"{misses} polls in a row failed"
        )

"""Polling meters in batches: one Celery task per batch, a failing meter never holds the rest.

Which meters are due is a read (`metering.selectors.due_meter_ids`); this module writes what
they answer: register samples, the half hours they make (readings.readings_upsert), and each
meter's health (misses, backoff, offline)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from coop import nz
from metering.adapters import devices
from metering.models import Meter, MeterEvent, Reading, RegisterSample
from metering.registers import (
    HALF_HOUR,
    PowerReading,
    RegisterError,
    Sample,
    energy_by_half_hour,
    integrate,
    interval_start,
    slices,
)
from metering.services.readings import readings_upsert
from metering.values import WH, IntervalEnergy

log = logging.getLogger(__name__)
BATCH_SIZE = 200
OFFLINE_AFTER_MISSES = 5
CATCH_UP = dt.timedelta(days=2)
BACKOFF_FIRST = dt.timedelta(minutes=1)
BACKOFF_LONGEST = dt.timedelta(minutes=30)
KEEP_SAMPLES = dt.timedelta(days=2)
CLOCK_AHEAD = dt.timedelta(minutes=2)
READ_THREADS = 16  # devices read at once per batch: network waits, not CPU
FULL_HALF_HOUR_S = 1799  # a second's slack for sample times rounded by the device


class Limits(TypedDict):
    """What `registers.slices` and `energy_by_half_hour` need to know of a meter."""

    max_kw: Decimal
    modulus: Decimal | None


class SampleRefused(Exception):
    """A sample the registers cannot explain. If it is the newest, counting restarts from it
    (`sample`); a late one is dropped (`sample` is None)."""

    def __init__(self, message: str, sample: Sample | None) -> None:
        super().__init__(message)
        self.sample = sample


def backoff(misses: int) -> dt.timedelta:
    """1, 2, 4, 8 ... minutes after each miss in a row, at most half an hour: a dead meter is
    not asked every minute, and one that comes back is heard from soon."""
    return min(BACKOFF_FIRST * 2 ** max(misses - 1, 0), BACKOFF_LONGEST)


def batches(meter_ids: list[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [meter_ids[i : i + size] for i in range(0, len(meter_ids), size)]


def last_complete_period_end(now: dt.datetime) -> dt.datetime:
    day, number = nz.trading_period_of(now)
    return nz.trading_period_start(day, number)


def _poll_simulated(meter: Meter, now: dt.datetime) -> int:
    # Start-up cost: the simulated meter loads the household model (pvlib and pandas, about
    # half a second), which a worker polling only real meters never needs.
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


def _poll_device(meter: Meter, now: dt.datetime, sample: Sample | PowerReading) -> int:
    """Place a real meter's reading among the samples kept, recompute the half hours the spans
    on either side of it touch, and write those that have ended."""
    if sample.at > now + CLOCK_AHEAD:
        raise devices.BadPayload(
            f"the meter's clock is ahead: its reading is stamped {_nz(sample.at)}"
        )
    if sample.at < now - KEEP_SAMPLES:
        raise devices.BadPayload(
            f"the reading is stamped {_nz(sample.at)}, older than the two days of samples kept; "
            "import an EIEP file for that time instead"
        )
    kept = RegisterSample.objects.filter(meter=meter)
    latest = kept.order_by("-at").first()
    if latest is not None and sample.at <= latest.at and kept.filter(at=sample.at).exists():
        # The device has nothing new (a retained MQTT message, a slow publisher). Only when
        # that has gone on too long is it a miss: a dead device's last message is not a reading.
        stale_after = dt.timedelta(seconds=int(meter.settings.get("stale_after_seconds", 600)))
        if sample.at < now - stale_after:
            raise devices.DeviceError(f"no new reading since {_nz(sample.at)}")
        return 0
    if isinstance(sample, PowerReading):
        sample = _power_to_registers(meter, latest, sample)
    newest: Sample | RegisterSample = sample
    if latest is None or sample.at > latest.at:
        before, after = latest, None  # the usual case: the newest sample yet
    else:
        before = kept.filter(at__lt=sample.at).order_by("-at").first()
        after = kept.filter(at__gt=sample.at).order_by("at").first()
        if after is not None:
            newest = latest  # a late sample: the newest kept stays the newest
    if before and after and not after.restart:
        for name in ("import_kwh", "export_kwh"):
            low, value, high = getattr(before, name), getattr(sample, name), getattr(after, name)
            if low <= high and not low <= value <= high:
                raise SampleRefused(
                    f"the late reading at {_nz(sample.at)} ({name} {value}) does not lie between "
                    f"its neighbours ({low} and {high})",
                    None,
                )
    for earlier, later in ((before, sample), (sample, after)):
        if earlier is None or later is None or (later is after and after.restart):
            continue
        try:
            slices(_as_sample(earlier), _as_sample(later), **_limits(meter))
        except RegisterError as exc:
            # The newest sample starts counting again from itself (a swapped meter, a reset
            # the registers cannot explain), so the jump is never bridged later, when enough
            # time has passed to make it look possible. A late one that contradicts its
            # neighbours is dropped.
            raise SampleRefused(str(exc), sample if after is None else None) from exc
    _keep(meter, sample, restart=before is None, newest=newest)
    return _write_half_hours(meter, before or sample, after or sample, newest.at)


def _power_to_registers(
    meter: Meter, latest: RegisterSample | None, reading: PowerReading
) -> Sample:
    """A power meter's reading as the registers it would show, counted from the latest sample
    (the first reading starts the count at zero)."""
    if latest is None:
        return Sample(reading.at, Decimal(0), Decimal(0))
    try:
        return integrate(_as_sample(latest), reading, max_kw=meter.icp.max_import_kw)
    except RegisterError as exc:
        raise SampleRefused(str(exc), None) from exc


def _nz(at: dt.datetime) -> str:
    return f"{at.astimezone(nz.NZ):%d/%m/%Y %H:%M:%S} NZ time"


def _as_sample(row: Sample | RegisterSample) -> Sample:
    if isinstance(row, Sample):
        return row
    return Sample(row.at, row.import_kwh, row.export_kwh, row.restart)


def _limits(meter: Meter) -> Limits:
    modulus = meter.settings.get("register_modulus")
    return {
        "max_kw": meter.icp.max_import_kw,
        "modulus": Decimal(str(modulus)) if modulus else None,
    }


def _keep(
    meter: Meter,
    sample: Sample,
    *,
    restart: bool,
    newest: Sample | RegisterSample | None = None,
) -> None:
    """Store the sample; the meter shows the newest sample's registers (this one unless it
    arrived late)."""
    newest = newest or sample
    RegisterSample.objects.create(
        meter=meter,
        at=sample.at,
        import_kwh=sample.import_kwh.quantize(Decimal("0.000001")),
        export_kwh=sample.export_kwh.quantize(Decimal("0.000001")),
        restart=restart,
    )
    Meter.objects.filter(pk=meter.pk).update(
        last_sample_at=newest.at,
        import_register_kwh=newest.import_kwh.quantize(Decimal("0.001")),
        export_register_kwh=newest.export_kwh.quantize(Decimal("0.001")),
    )
    meter.last_sample_at = newest.at
    # The newest sample stays whatever its age: the next one is counted from it.
    RegisterSample.objects.filter(
        meter=meter, at__lt=min(timezone.now() - KEEP_SAMPLES, newest.at)
    ).delete()


def _write_half_hours(
    meter: Meter,
    first: Sample | RegisterSample,
    last: Sample | RegisterSample,
    newest: dt.datetime,
) -> int:
    """Recompute every half hour from `first`'s to `last`'s, from all samples around them, and
    store those that have ended by the newest sample: actual where samples covered all of it
    with no gap, a linear estimate otherwise (replaced when the missing samples arrive)."""
    lo = interval_start(first.at)
    hi = interval_start(last.at) + HALF_HOUR
    kept = RegisterSample.objects.filter(meter=meter)
    series = [
        *kept.filter(at__lt=lo).order_by("-at")[:1],
        *kept.filter(at__gte=lo, at__lte=hi).order_by("at"),
        *kept.filter(at__gt=hi).order_by("at")[:1],
    ]
    series.sort(key=lambda row: row.at)
    energy = energy_by_half_hour([_as_sample(r) for r in series], **_limits(meter))
    rows = [
        IntervalEnergy(
            meter.icp_id,
            start,
            part.import_kwh.quantize(WH),
            part.export_kwh.quantize(WH),
            Reading.Quality.ACTUAL
            if part.seconds >= FULL_HALF_HOUR_S and not part.estimated
            else Reading.Quality.ESTIMATED,
        )
        for start, part in sorted(energy.items())
        if lo <= start < hi and start + HALF_HOUR <= newest
    ]
    readings_upsert(rows=rows, source=meter.adapter)
    return len(rows)


def meters_poll(*, meter_ids: Iterable[int], now: dt.datetime | None = None) -> dict[str, int]:
    """Poll a batch: every device is read at once, in threads (a dead one costs its timeout
    to nobody else), then each meter's sample is stored in its own transaction."""
    now = now or timezone.now()
    report = {"polled": 0, "readings": 0, "failed": 0}
    meters = list(
        Meter.objects.filter(pk__in=list(meter_ids))
        .select_related("icp")
        .prefetch_related("icp__pv_systems", "icp__batteries", "icp__evs")
    )
    readers = _readers()
    device_meters = [m for m in meters if m.adapter in readers]
    with ThreadPoolExecutor(max_workers=max(1, min(READ_THREADS, len(device_meters)))) as pool:
        reads = {m.pk: pool.submit(readers[m.adapter], m.settings) for m in device_meters}
        for meter in meters:
            if meter.pk not in reads and meter.adapter != Meter.Adapter.SIMULATED:
                continue  # file-only meters are not polled
            try:
                with transaction.atomic():
                    if meter.pk in reads:
                        report["readings"] += _poll_device(meter, now, reads[meter.pk].result())
                    else:
                        report["readings"] += _poll_simulated(meter, now)
            except Exception as exc:  # one meter's failure is recorded, the batch goes on
                log.warning("meter %s failed: %s", meter, exc)
                report["failed"] += 1
                refused = isinstance(exc, SampleRefused | devices.BadPayload)
                _record_miss(meter, str(exc), now=now, refused=refused)
                if isinstance(exc, SampleRefused) and exc.sample is not None:
                    with transaction.atomic():
                        _keep(meter, exc.sample, restart=True)
                continue
            report["polled"] += 1
            _record_answer(meter, now)
    return report


def _readers() -> dict[str, Callable[[dict[str, Any]], Sample | PowerReading]]:
    return {
        Meter.Adapter.MODBUS: devices.read_modbus,
        Meter.Adapter.MQTT: devices.read_mqtt,
        Meter.Adapter.HTTP: devices.read_http,
    }


def _record_answer(meter: Meter, now: dt.datetime) -> None:
    if meter.status != Meter.Status.ONLINE:
        MeterEvent.objects.create(meter=meter, kind=MeterEvent.Kind.ONLINE, message="answering")
    Meter.objects.filter(pk=meter.pk).update(
        status=Meter.Status.ONLINE,
        consecutive_misses=0,
        next_poll_at=None,
        last_sample_at=now if meter.adapter == Meter.Adapter.SIMULATED else meter.last_sample_at,
        last_error="",
    )


@transaction.atomic
def _record_miss(meter: Meter, error: str, *, now: dt.datetime, refused: bool = False) -> None:
    """Count the miss in the database (F(): a concurrent poll's miss is never lost), then back
    the meter off by the count it now has; the row stays locked until this commits."""
    rows = Meter.objects.filter(pk=meter.pk)
    rows.update(consecutive_misses=F("consecutive_misses") + 1, last_error=error[:2000])
    misses, was = rows.values_list("consecutive_misses", "status").get()
    status = Meter.Status.OFFLINE if misses >= OFFLINE_AFTER_MISSES else was
    rows.update(status=status, next_poll_at=now + backoff(misses))
    kind = MeterEvent.Kind.REFUSED if refused else MeterEvent.Kind.MISSED
    MeterEvent.objects.create(meter=meter, kind=kind, message=error[:2000])
    if status == Meter.Status.OFFLINE and was != Meter.Status.OFFLINE:
        MeterEvent.objects.create(
            meter=meter, kind=MeterEvent.Kind.OFFLINE, message=f"{misses} polls in a row failed"
        )

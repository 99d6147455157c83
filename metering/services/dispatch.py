"""A home's planned battery and EV energy per half hour (`Dispatch`), and sending it on.

The home energy manager (trading) plans; it hands metering plain values. `dispatch_set`
replaces the plan for half hours not yet started, `dispatch_clear` drops it (the home goes back
to self-consumption), and `dispatch_send` gives each real battery controller the setpoint of the
half hour in progress. A simulated home reads its plan itself (metering.adapters.simulated).

A device that refuses its setpoint, does not answer, or cannot be reached is recorded on its
meter (`last_dispatch_error`, `dispatch_failed_at`) and its plan is dropped from the half hour in
progress on, so what the market is told matches what the home does: self-consumption. One bad
device never holds up another: they are all sent to at once, in threads.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum

from coop.models import ICP
from metering.adapters import devices
from metering.models import Dispatch, Meter
from metering.registers import interval_start
from metering.values import WH

log = logging.getLogger(__name__)
SLACK = Decimal("1.01")  # a plan at the battery's full power, rounded up to the watt-hour
SEND_THREADS = 16  # devices sent to at once: network waits, not CPU
WRITABLE = (Meter.Adapter.MODBUS, Meter.Adapter.MQTT)


def _kwh(value: object, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what} is not a number ({value!r})") from None
    if not number.is_finite():
        raise ValueError(f"{what} is not a finite number ({value!r})")
    return number.quantize(WH)


@transaction.atomic
def dispatch_set(
    *, icp_id: int, rows: Sequence[tuple[dt.datetime, Decimal, Decimal]], now: dt.datetime
) -> int:
    """Replace the ICP's plan for every half hour starting at or after `now` with `rows`
    ((interval_start, battery kWh + charge / - discharge at the battery's terminals, EV kWh)).
    Validated whole, refused whole (ValueError naming the row): a start that is not a UTC
    half-hour boundary, the same half hour twice, a battery energy beyond the ICP's battery
    power for half an hour (1% slack), an EV energy below zero or beyond its chargers. Rows
    for half hours already started are checked but never written: a started half hour keeps
    the plan it started with. Returns the number of rows written."""
    icp = ICP.objects.select_for_update(no_key=True).filter(pk=icp_id).first()
    if icp is None:
        raise ValueError(f"there is no ICP {icp_id}")
    battery_kw = icp.batteries.aggregate(kw=Sum("power_kw"))["kw"] or Decimal(0)
    charger_kw = icp.evs.aggregate(kw=Sum("charger_kw"))["kw"] or Decimal(0)
    battery_most = (battery_kw * Decimal("0.5") * SLACK).quantize(WH)
    ev_most = (charger_kw * Decimal("0.5")).quantize(WH)
    seen: set[dt.datetime] = set()
    new = []
    for n, (start, battery, ev) in enumerate(rows, 1):
        shown = start.isoformat() if isinstance(start, dt.datetime) else repr(start)
        name = f"row {n} ({shown})"
        if not isinstance(start, dt.datetime) or start.tzinfo is None:
            raise ValueError(f"{name}: the start must be a timezone-aware datetime")
        if interval_start(start) != start:
            raise ValueError(f"{name}: {start.isoformat()} is not the start of a half hour")
        if start in seen:
            raise ValueError(f"{name}: the half hour {start.isoformat()} is given twice")
        seen.add(start)
        battery_kwh = _kwh(battery, f"{name}: battery energy")
        ev_kwh = _kwh(ev, f"{name}: EV energy")
        if abs(battery_kwh) > battery_most:
            raise ValueError(
                f"{name}: battery {battery_kwh} kWh is more than the ICP's {battery_kw} kW of "
                f"batteries can do in half an hour ({battery_most} kWh)"
            )
        if ev_kwh < 0:
            raise ValueError(f"{name}: EV energy {ev_kwh} kWh is negative")
        if ev_kwh > ev_most:
            raise ValueError(
                f"{name}: EV {ev_kwh} kWh is more than the ICP's {charger_kw} kW of chargers "
                f"can take in half an hour ({ev_most} kWh)"
            )
        if start >= now:
            new.append(
                Dispatch(icp=icp, interval_start=start, battery_kwh=battery_kwh, ev_kwh=ev_kwh)
            )
    Dispatch.objects.filter(icp=icp, interval_start__gte=now).delete()
    Dispatch.objects.bulk_create(new)
    return len(new)


def dispatch_clear(*, icp_id: int, now: dt.datetime) -> int:
    """Drop the ICP's plan for every half hour starting at or after `now`: the home goes back
    to self-consumption. Returns the number of half hours dropped."""
    deleted, _ = Dispatch.objects.filter(icp_id=icp_id, interval_start__gte=now).delete()
    return deleted


def _setpoint(row: Dispatch) -> devices.Setpoint:
    # kWh in a half hour is twice that in kW; to the watt.
    return devices.Setpoint(
        interval_start=row.interval_start,
        battery_w=int((row.battery_kwh * 2000).to_integral_value()),
        ev_w=int((row.ev_kwh * 2000).to_integral_value()),
    )


def _writer(meter: Meter, setpoint: devices.Setpoint) -> Callable[[], object]:
    if meter.adapter == Meter.Adapter.MODBUS:
        return lambda: devices.write_modbus(meter.settings, setpoint)
    return lambda: devices.write_mqtt(meter.settings, meter.command_topic, setpoint)


def dispatch_send(*, meter_ids: Sequence[int], now: dt.datetime) -> dict[str, int]:
    """Send each real battery controller (Modbus or MQTT meter) among `meter_ids` the setpoint
    of the half hour containing `now`, if its ICP has a plan for it. Meters with nothing to
    send (simulated and file-only meters, no plan for this half hour) are skipped; so is an
    MQTT meter without a command topic, which is recorded on it like a failure and its plan
    dropped. Returns {"sent", "failed", "skipped"}."""
    report = {"sent": 0, "failed": 0, "skipped": 0}
    current = interval_start(now)
    meters = list(Meter.objects.filter(pk__in=list(meter_ids)).order_by("pk"))
    plans = {
        row.icp_id: row
        for row in Dispatch.objects.filter(
            icp_id__in=[m.icp_id for m in meters if m.adapter in WRITABLE],
            interval_start=current,
        )
    }
    due: list[tuple[Meter, devices.Setpoint]] = []
    for meter in meters:
        plan = plans.get(meter.icp_id) if meter.adapter in WRITABLE else None
        if plan is None:
            report["skipped"] += 1
        elif meter.adapter == Meter.Adapter.MQTT and not meter.command_topic:
            report["skipped"] += 1
            _failed(meter, "the meter has no MQTT command topic for setpoints", current, now)
        else:
            due.append((meter, _setpoint(plan)))
    if not due:
        return report
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(due))) as pool:
        sends: list[tuple[Meter, Future[object]]] = [
            (meter, pool.submit(_writer(meter, setpoint))) for meter, setpoint in due
        ]
        for meter, send in sends:
            try:
                send.result()
            except Exception as exc:  # one device's failure is recorded, the rest go on
                report["failed"] += 1
                _failed(meter, str(exc) or type(exc).__name__, current, now)
                continue
            report["sent"] += 1
            if meter.last_dispatch_error or meter.dispatch_failed_at:
                Meter.objects.filter(pk=meter.pk).update(
                    last_dispatch_error="", dispatch_failed_at=None
                )
    return report


@transaction.atomic
def _failed(meter: Meter, reason: str, current: dt.datetime, now: dt.datetime) -> None:
    """Record why the setpoint did not reach the device, and drop the home's plan from the
    half hour in progress on: it is on self-consumption until the next plan."""
    log.warning("dispatch to %s failed: %s", meter, reason)
    Meter.objects.filter(pk=meter.pk).update(
        last_dispatch_error=reason[:2000], dispatch_failed_at=now
    )
    dispatch_clear(icp_id=meter.icp_id, now=current)

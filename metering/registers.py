"""Cumulative meter registers to half-hour energy. Pure: no Django.

A polled meter reports its import and export registers (kWh, ever increasing) at some instant.
Between two samples the energy is the register difference, spread evenly in time over the
half hours the span touches. A register that went backwards either rolled over (it wrapped at
its modulus, e.g. 99,999.999 kWh) or was reset (a new meter, a firmware reset): a rollover is
counted across the wrap, a reset starts counting again from the new value. A difference more
than the connection could carry in the elapsed time is refused as impossible. Spans longer than
a couple of minutes are gaps bridged by a linear estimate and flagged as estimated.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

HALF_HOUR = dt.timedelta(minutes=30)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
GAP = dt.timedelta(minutes=5)
KWH = Decimal("0.000001")


class RegisterError(ValueError):
    """A sample that cannot be turned into energy (impossible jump, time going backwards)."""


@dataclass(frozen=True)
class Sample:
    at: dt.datetime
    import_kwh: Decimal
    export_kwh: Decimal
    restart: bool = False  # counting starts again here: no energy from the span before it


@dataclass(frozen=True)
class Slice:
    """Energy that fell in one half hour, and how many seconds of it the span covered."""

    interval_start: dt.datetime
    import_kwh: Decimal
    export_kwh: Decimal
    seconds: Decimal
    estimated: bool


def interval_start(at: dt.datetime) -> dt.datetime:
    return EPOCH + ((at - EPOCH) // HALF_HOUR) * HALF_HOUR


def register_delta(before: Decimal, after: Decimal, modulus: Decimal | None) -> tuple[Decimal, str]:
    """(energy, how): 'normal', 'rollover' across the modulus, or 'reset' to a new count."""
    if after >= before:
        return after - before, "normal"
    if (
        modulus is not None
        and before > modulus * Decimal("0.9")
        and after < modulus * Decimal("0.1")
    ):
        return modulus - before + after, "rollover"
    return after, "reset"


def slices(
    previous: Sample, current: Sample, *, max_kw: Decimal, modulus: Decimal | None = None
) -> list[Slice]:
    if current.at <= previous.at:
        raise RegisterError(
            f"sample at {current.at.isoformat()} is not after {previous.at.isoformat()}"
        )
    seconds = Decimal((current.at - previous.at).total_seconds())
    hours = seconds / 3600
    deltas = []
    for name, before, after in (
        ("import", previous.import_kwh, current.import_kwh),
        ("export", previous.export_kwh, current.export_kwh),
    ):
        energy, how = register_delta(before, after, modulus)
        # Slack of a few Wh for register resolution on very short spans.
        if energy > max_kw * hours + Decimal("0.01"):
            raise RegisterError(
                f"{name} register jumped {energy} kWh in {hours:.3f} h: more than a "
                f"{max_kw} kW connection can carry ({how})"
            )
        deltas.append(energy)
    estimated = current.at - previous.at > GAP
    result = []
    cursor = previous.at
    while cursor < current.at:
        start = interval_start(cursor)
        end = min(start + HALF_HOUR, current.at)
        share = Decimal((end - cursor).total_seconds()) / seconds
        result.append(
            Slice(
                start,
                (deltas[0] * share).quantize(KWH),
                (deltas[1] * share).quantize(KWH),
                Decimal((end - cursor).total_seconds()),
                estimated,
            )
        )
        cursor = end
    return result


def energy_by_half_hour(
    samples: list[Sample], *, max_kw: Decimal, modulus: Decimal | None = None
) -> dict[dt.datetime, Slice]:
    """Half-hour energy from a meter's samples in time order, whatever order they arrived in:
    each span between neighbours is spread over the half hours it touches, and the parts of a
    half hour are summed (seconds covered; estimated if any part was)."""
    totals: dict[dt.datetime, Slice] = {}
    for before, after in itertools.pairwise(samples):
        if after.restart:
            continue
        for part in slices(before, after, max_kw=max_kw, modulus=modulus):
            seen = totals.get(part.interval_start)
            totals[part.interval_start] = (
                part
                if seen is None
                else Slice(
                    part.interval_start,
                    seen.import_kwh + part.import_kwh,
                    seen.export_kwh + part.export_kwh,
                    seen.seconds + part.seconds,
                    seen.estimated or part.estimated,
                )
            )
    return totals


@dataclass(frozen=True)
class PowerReading:
    """A meter that reports power, not registers: the average since its previous reading, in
    watts, positive importing from the grid and negative exporting to it."""

    at: dt.datetime
    watts: Decimal


def integrate(previous: Sample, reading: PowerReading, *, max_kw: Decimal) -> Sample:
    """The registers the meter would show: the previous ones plus the power held since. Power
    cannot be placed between samples already counted, so a late reading is refused."""
    if reading.at <= previous.at:
        raise RegisterError(
            f"power reading at {reading.at.isoformat()} is not after {previous.at.isoformat()}: "
            "power readings must arrive in order"
        )
    if abs(reading.watts) > max_kw * 1000 * Decimal("1.2"):
        raise RegisterError(f"{reading.watts} W is more than a {max_kw} kW connection carries")
    kwh = abs(reading.watts) * Decimal((reading.at - previous.at).total_seconds()) / 3_600_000
    return Sample(
        reading.at,
        previous.import_kwh + (kwh if reading.watts > 0 else 0),
        previous.export_kwh + (kwh if reading.watts < 0 else 0),
    )

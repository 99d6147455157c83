"""Reads of metered energy, for the market, the pages and the displays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Max, Q, Sum

from coop import nz
from coop.models import ICP, ICPHolding
from coop.selectors import held_filter, held_spans
from metering.models import Reading


def coop_readings():
    """The readings the market may settle on or show as measured: the co-op's meters, admin
    files and estimates. A resident's own upload is never one of them."""
    return Reading.objects.exclude(quality=Reading.Quality.UPLOADED)


def period_energy(
    interval_start: dt.datetime, icp_ids: Iterable[int] | None = None
) -> dict[int, tuple[Decimal, Decimal, str]]:
    """{icp_id: (import kWh, export kWh, quality)} for one trading period; an ICP with only a
    resident's uploaded reading is not in it."""
    readings = coop_readings().filter(interval_start=interval_start)
    if icp_ids is not None:
        readings = readings.filter(icp_id__in=set(icp_ids))
    return {
        icp_id: (imp, exp, quality)
        for icp_id, imp, exp, quality in readings.values_list(
            "icp_id", "import_kwh", "export_kwh", "quality"
        )
    }


def icps_missing(interval_start: dt.datetime, icp_ids: Iterable[int]) -> set[int]:
    """The ICPs still without data the market can settle on for this half hour (a resident's
    uploaded reading does not count)."""
    wanted = set(icp_ids)
    have = set(
        coop_readings()
        .filter(interval_start=interval_start, icp_id__in=wanted)
        .values_list("icp_id", flat=True)
    )
    return wanted - have


def latest_metered(
    now: dt.datetime, *, member_id: int | None = None
) -> tuple[dt.datetime, Decimal, Decimal] | None:
    """The newest half hour over by `now` with the co-op's own data, and its import and export
    kWh summed over every ICP (or the ICPs `member_id` holds now): the "latest power" of the
    live pages and the wall display. Never a resident's upload, nor a half hour not over."""
    readings = coop_readings().filter(interval_start__lte=now - nz.TRADING_PERIOD)
    if member_id is not None:
        readings = readings.filter(icp__member_id=member_id)
    latest = readings.aggregate(at=Max("interval_start"))["at"]
    if latest is None:
        return None
    totals = readings.filter(interval_start=latest).aggregate(
        imp=Sum("import_kwh"), exp=Sum("export_kwh")
    )
    return latest, totals["imp"] or Decimal(0), totals["exp"] or Decimal(0)


def energy_series(member, start, end, *, by_day: bool) -> list[dict]:
    """The member's import, export, generation and consumption by half hour (or day), summed
    over their ICPs, from local date `start` to `end` inclusive.

    Generation and consumption come from the simulated or measured PV where the meter reports
    it; from a grid meter alone only import and export are known, so generation is what the
    household model estimates for the ICP's PV and consumption is import - export + generation.
    """
    readings = (
        Reading.objects.filter(
            held_filter(member),
            interval_start__gte=nz.trading_day_start(start),
            interval_start__lt=nz.trading_day_start(end + dt.timedelta(days=1)),
        )
        .order_by("interval_start")
        .values_list("interval_start", "import_kwh", "export_kwh", "quality", "icp_id")
    )
    generation = estimated_generation(
        ICP.objects.filter(member=member),
        nz.trading_day_start(start),
        nz.trading_day_start(end + dt.timedelta(days=1)),
    )
    rows: dict = {}
    for when, imp, exp, quality, icp_id in readings:
        key = nz.trading_period_of(when)[0] if by_day else when
        row = rows.setdefault(
            key,
            {
                "start": key,
                "import": Decimal(0),
                "export": Decimal(0),
                "generation": Decimal(0),
                "consumption": Decimal(0),
                "estimated": False,
            },
        )
        gen = generation.get((icp_id, when), Decimal(0))
        row["import"] += imp
        row["export"] += exp
        row["generation"] += gen
        row["consumption"] += imp - exp + gen
        row["estimated"] |= quality != Reading.Quality.ACTUAL
    return list(rows.values())


def estimated_generation(icps, start_utc: dt.datetime, end_utc: dt.datetime) -> dict:
    """{(icp_id, interval_start): kWh} of PV per half hour from the household model, for ICPs
    whose meters see only the grid connection."""
    from metering.adapters.simulated import spec_for
    from metering.household_model import half_hours, pv_kwh

    result = {}
    starts = half_hours(start_utc, end_utc)
    for icp in icps.prefetch_related("pv_systems", "batteries", "evs"):
        spec = spec_for(icp)
        if spec.pv_kwp <= 0:
            continue
        for when, kwh in zip(starts, pv_kwh(spec, starts), strict=True):
            result[(icp.pk, when.to_pydatetime())] = Decimal(repr(float(kwh))).quantize(
                Decimal("0.001")
            )
    return result


def quality_by_period(end: dt.datetime, periods: int = 48) -> list[dict]:
    """The `periods` trading periods that ended by `end`, newest first: how many ICPs were held
    then (ICPHolding), and how many of those have an actual reading, an estimated or substituted
    one, or none yet (a resident's upload is none: the period still waits for the co-op's)."""
    day, number = nz.trading_period_of(end)
    last_end = nz.trading_period_start(day, number)
    starts = [last_end - nz.TRADING_PERIOD * k for k in range(1, periods + 1)]
    first = starts[-1]
    spans = held_spans(
        ICPHolding.objects.filter(
            Q(ended_on__isnull=True) | Q(ended_on__gt=nz.trading_period_of(first)[0]),
            started_on__lte=nz.trading_period_of(last_end)[0],
        )
    )
    quality = {
        (when, icp_id): q
        for when, icp_id, q in coop_readings()
        .filter(interval_start__gte=first, interval_start__lt=last_end)
        .values_list("interval_start", "icp_id", "quality")
    }
    rows = []
    for start in starts:
        held = {span.icp_id for span in spans if span.covers(start)}
        found = [quality.get((start, i)) for i in held]
        date, tp = nz.trading_period_of(start)
        rows.append(
            {
                "start": start,
                "date": date,
                "period": tp,
                "held": len(held),
                "actual": found.count(Reading.Quality.ACTUAL),
                "estimated": sum(1 for q in found if q is not None and q != Reading.Quality.ACTUAL),
                "missing": found.count(None),
            }
        )
    return rows

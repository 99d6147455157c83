"""Reads of metered energy, for the market, the pages and the displays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, Sum

from coop import nz
from coop.models import ICP, ICPHolding, Member
from coop.selectors import held_filter, held_spans
from metering.formats import eiep3
from metering.models import Meter, Reading, StorageState


def coop_readings() -> QuerySet[Reading]:
    """The readings the market may settle on or show as measured: the co-op's meters, admin
    files and estimates. A resident's own upload is never one of them."""
    return Reading.objects.exclude(quality=Reading.Quality.UPLOADED)


def period_energy(
    interval_start: dt.datetime, icp_ids: Iterable[int] | None = None
) -> dict[int, tuple[Decimal, Decimal, str]]:
    """{icp_id: (import kWh, export kWh, quality)} for one trading period; an ICP with only a
    resident's uploaded reading is not in it."""
    # No order: a dict comes back, and Reading's default (by ICP number) joins every ICP.
    readings = coop_readings().filter(interval_start=interval_start).order_by()
    if icp_ids is not None:
        readings = readings.filter(icp_id__any_of=set(icp_ids))
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
        .filter(interval_start=interval_start, icp_id__any_of=wanted)
        .order_by()
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


LIVE_WINDOW = dt.timedelta(days=1)  # how far back members_latest_metered looks


def members_latest_metered(
    now: dt.datetime, member_ids: Iterable[int]
) -> dict[int, tuple[dt.datetime, Decimal, Decimal]]:
    """latest_metered for many members at once, {member id: (half hour, import, export)}, in
    two statements: those with the co-op's own data in the last day (LIVE_WINDOW). A member
    whose newest reading is older is left out: nothing of theirs moves from one minute to
    the next, and their page shows latest_metered's figures from when it opened. Two
    statements a member took the minute's live push 45 s for a 5,000-member co-op."""
    recent = coop_readings().filter(
        interval_start__lte=now - nz.TRADING_PERIOD,
        interval_start__gt=now - LIVE_WINDOW,
        icp__member_id__in=list(member_ids),
    )
    latest = dict(
        recent.order_by()
        .values_list("icp__member_id")
        .annotate(at=Max("interval_start"))
        .values_list("icp__member_id", "at")
    )
    if not latest:
        return {}
    totals = (
        recent.filter(interval_start__in=set(latest.values()))
        .order_by()
        .values_list("icp__member_id", "interval_start")
        .annotate(imp=Sum("import_kwh"), exp=Sum("export_kwh"))
    )
    return {
        member_id: (at, imp, exp) for member_id, at, imp, exp in totals if latest[member_id] == at
    }


def held_readings(
    member: Member, start_utc: dt.datetime, end_utc: dt.datetime
) -> QuerySet[Reading, tuple[dt.datetime, Decimal, Decimal, str, int]]:
    """(interval_start, import kWh, export kWh, quality, icp_id) of every reading of the ICPs
    the member held at the time (ICPHolding), from `start_utc` to before `end_utc`, oldest
    first."""
    return (
        Reading.objects.filter(
            held_filter(member), interval_start__gte=start_utc, interval_start__lt=end_utc
        )
        .order_by("interval_start")
        .values_list("interval_start", "import_kwh", "export_kwh", "quality", "icp_id")
    )


def icps_with_assets(member: Member) -> QuerySet[ICP]:
    """The ICPs the member holds now, with their PV, batteries and EVs loaded (for the
    household model, metering.houses)."""
    return ICP.objects.filter(member=member).prefetch_related("pv_systems", "batteries", "evs")


def due_meter_ids(now: dt.datetime) -> list[int]:
    """Meters to poll now: those not backing off after misses (services.polling.backoff)."""
    return list(
        Meter.objects.filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def eiep3_export(*, icps: Iterable[ICP], start: dt.date, end: dt.date, **header: Any) -> str:
    """EIEP3 for these ICPs and NZ trading dates start..end inclusive: one X and one I stream.
    The co-op's own data only: a resident's uploaded readings are not sent on. A read: it
    writes nothing."""
    icps = list(icps)
    readings = (
        coop_readings()
        .filter(
            icp__in=icps,
            interval_start__gte=nz.trading_day_start(start),
            interval_start__lt=nz.trading_day_start(end + dt.timedelta(days=1)),
        )
        .select_related("icp")
        .order_by("icp__identifier", "interval_start")
    )
    records = []
    for r in readings:
        day, period = nz.trading_period_of(r.interval_start)
        kind = "E" if r.quality == Reading.Quality.ESTIMATED else "F"
        records.append((r.icp.identifier, "X1", kind, day, period, r.import_kwh, "X", ""))
        records.append((r.icp.identifier, "I1", kind, day, period, r.export_kwh, "I", ""))
    return eiep3.write(records, **header)


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


def battery_soc(icp_ids: Iterable[int], at: dt.datetime) -> dict[int, Decimal]:
    """{icp_id: kWh}: each ICP's latest stored battery state of charge at or before `at`
    (`StorageState`, the start of a half hour). ICPs with none are left out: the caller
    assumes its own default."""
    latest = (
        StorageState.objects.filter(icp_id=OuterRef("icp_id"), interval_start__lte=at)
        .order_by("-interval_start")
        .values("interval_start")[:1]
    )
    return dict(
        StorageState.objects.filter(
            icp_id__in=set(icp_ids), interval_start=Subquery(latest)
        ).values_list("icp_id", "soc_kwh")
    )

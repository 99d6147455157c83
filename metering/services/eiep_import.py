"""EIEP files into the readings table, whole file or nothing (the export is a read:
`metering.selectors.eiep3_export`).

Files are parsed into columns (metering.formats), summed per ICP and half hour, and written in
one transaction: on PostgreSQL through metering.services.bulk (binary COPY and set-based
statements), elsewhere, and for small files, through readings.readings_upsert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from coop import nz
from coop.models import ICP, Battery, Member, PVSystem
from coop.selectors import HeldSpan, holding_windows
from coop.units import wh_to_kwh
from metering.formats import eiep3, eiep13a
from metering.formats.eiep3 import EIEPError
from metering.formats.streams import HalfHours, Streams
from metering.models import MeterEvent, Reading
from metering.services.bulk import readings_copy
from metering.services.partitions import reading_partitions_ensure
from metering.services.readings import UpsertReport, readings_upsert
from metering.stopwatch import lap
from metering.values import IntervalEnergy

logger = logging.getLogger(__name__)
BULK_MIN_HALF_HOURS = 1000
CONNECTION_SLACK = 1.2
MAX_LISTED = 200
UPLOAD_MAX_BYTES = 5 * 1024 * 1024  # a resident's own file: a year of one ICP is about 3 MB
REFUSALS_RECORDED = 10  # a member's refused uploads kept in meter health per hour; more are not
REFUSALS_WINDOW = dt.timedelta(hours=1)


@dataclass
class ImportResult:
    readings: int
    icps: int
    warnings: list[str] = field(default_factory=list)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    created: int = 0
    changed: int = 0  # corrections and estimates replaced; the old values are kept


def eiep3_import(*, text: str, source: str, member: Member | None = None) -> ImportResult:
    """Import an EIEP3 file (v10 or v11). Raises EIEPError, with nothing written, on any error.

    With `member`, the file is a resident's own upload: see `_resident_rows`."""
    with _refusals_logged(source, member), _no_gc_pauses():
        parsed = eiep3.parse(text)
        lap("parse")
        return _import(parsed.streams, parsed.warnings, source, member)


def eiep13a_import(*, text: str, source: str, member: Member | None = None) -> ImportResult:
    """Import a consumer's EIEP13A file; same all-or-nothing rule."""
    with _refusals_logged(source, member):
        return _import(Streams.from_records(eiep13a.parse(text)), [], source, member)


def file_import(*, text: str, source: str, member: Member | None = None) -> ImportResult:
    """EIEP3 or EIEP13A, told apart by the header."""
    head = text.lstrip("\ufeff")[:12]
    if head.startswith("HDR,ICPCONS"):
        return eiep13a_import(text=text, source=source, member=member)
    if head.startswith("HDR,ICPHH"):
        return eiep3_import(text=text, source=source, member=member)
    with _refusals_logged(source, member):
        raise EIEPError(["line 1: not an EIEP3 (HDR,ICPHH) or EIEP13A (HDR,ICPCONS) file"])


@contextlib.contextmanager
def _refusals_logged(source: str, member: Member | None) -> Iterator[None]:
    """A refused file is logged and shown in meter health; the refusal itself writes nothing
    else (the import's own transaction has rolled back by the time this records it).

    A member's refusals are recorded at most REFUSALS_RECORDED times an hour, so that a
    script uploading bad files cannot flood meter health; the member is still told each time."""
    try:
        yield
    except EIEPError as exc:
        shown = "\n".join(exc.errors[:20])
        more = f"\n... {len(exc.errors) - 20} more" if len(exc.errors) > 20 else ""
        message = f"{source}: file refused, nothing imported\n{shown}{more}"
        if member is None:
            logger.warning("EIEP file %s refused: %s", source, exc)
            MeterEvent.objects.create(kind=MeterEvent.Kind.REFUSED, message=message)
        elif _member_refusal_record(member, message):
            logger.warning("EIEP file %s refused: %s", source, exc)
        else:
            logger.info("EIEP file %s refused (not recorded: over the hourly limit)", source)
        raise


def _member_refusal_record(member: Member, message: str) -> bool:
    """Record a member's refused upload unless they have had REFUSALS_RECORDED in the last
    hour. The member's row is locked while counting, so two uploads at once cannot both take
    the last place."""
    with transaction.atomic():
        list(
            Member.objects.select_for_update(no_key=True)
            .filter(pk=member.pk)
            .values_list("pk", flat=True)
        )
        recent = MeterEvent.objects.filter(
            member=member,
            kind=MeterEvent.Kind.REFUSED,
            at__gte=timezone.now() - REFUSALS_WINDOW,
        ).count()
        if recent >= REFUSALS_RECORDED:
            return False
        MeterEvent.objects.create(kind=MeterEvent.Kind.REFUSED, member=member, message=message)
        return True


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """A large file makes many objects that live until the import ends; the cyclic collector
    would walk them again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _known_icps(
    streams: Streams, windows: dict[int, list[HeldSpan]] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, connection capacities in kW), indexed by the streams' ICP codes; every ICP must be
    the co-op's or, for a resident's upload (`windows`: their holding windows), one they have
    held. A resident is told the same for an ICP the co-op does not have and for somebody
    else's, so that a refusal does not say which ICPs the co-op has."""
    first_line = streams.first_lines()
    found = ICP.objects.filter(identifier__in=first_line).values_list(
        "identifier", "pk", "max_import_kw"
    )
    known = {identifier: (pk, kw) for identifier, pk, kw in found}
    if windows is None:
        errors = [
            (line, f"line {line}: ICP {icp} is not one of the co-op's ICPs")
            for icp, line in first_line.items()
            if icp not in known
        ]
    else:
        errors = [
            (line, f"line {line}: ICP {icp} is not one of your ICPs")
            for icp, line in first_line.items()
            if icp not in known or not windows.get(known[icp][0])
        ]
    if errors:
        raise EIEPError([message for _, message in sorted(errors)])
    pks = np.array([known[icp][0] for icp in streams.icps], np.int64)
    capacity_kw = np.array([float(known[icp][1]) for icp in streams.icps])
    return pks, capacity_kw


def _within_connection(streams: Streams, half_hours: HalfHours, capacity_kw: np.ndarray) -> None:
    """No half hour carries more than the ICP's connection could in 30 minutes (with a fifth
    for a fuse that holds a while over its rating): more is a unit or data error upstream."""
    limit_wh = capacity_kw[half_hours.icp] * 1000 * 0.5 * CONNECTION_SLACK
    over = np.flatnonzero((half_hours.import_wh > limit_wh) | (half_hours.export_wh > limit_wh))
    errors = []
    for k in over[:MAX_LISTED].tolist():
        icp, slot = half_hours.icp[k], half_hours.slot[k]
        line = int(streams.line[(streams.icp == icp) & (streams.slot == slot)].min())
        energy = max(half_hours.import_wh[k], half_hours.export_wh[k])
        errors.append(
            (
                line,
                f"line {line}: {wh_to_kwh(energy)} kWh in the half hour from "
                f"{half_hours.starts[slot].astimezone(nz.NZ):%d/%m/%Y %H:%M} is more than ICP "
                f"{half_hours.icps[icp]}'s {capacity_kw[icp]:g} kW connection can carry",
            )
        )
    if errors:
        raise EIEPError([message for _, message in sorted(errors)])


def _resident_rows(
    streams: Streams, icp_pks: np.ndarray, windows: dict[int, list[HeldSpan]]
) -> None:
    """A resident's own file may hold only half hours that are over, of their ICPs, for the
    time they held them.

    It is stored as `uploaded` and only fills half hours with no reading at all
    (`fill_only`): it never replaces the co-op's meter data, admin files or estimates, and the
    market never settles on it (metering.selectors), so an upload cannot change anyone's
    settlement, the uploader's included."""
    now = timezone.now()
    over = np.array([start + nz.TRADING_PERIOD <= now for start in streams.starts], bool)
    errors: dict[int, str] = {}
    for i in np.flatnonzero(~over[streams.slot])[:MAX_LISTED].tolist():
        start = streams.starts[streams.slot[i]]
        errors.setdefault(
            int(streams.line[i]),
            f"line {streams.line[i]}: the half hour from {start.astimezone(nz.NZ):%d/%m/%Y %H:%M} "
            "has not ended yet; an upload can only hold half hours that are over",
        )
    for icp_code, icp_pk in enumerate(icp_pks.tolist()):
        spans = windows[icp_pk]
        for i in np.flatnonzero(streams.icp == icp_code).tolist():
            start = streams.starts[streams.slot[i]]
            if not any(span.covers(start) for span in spans):
                errors.setdefault(
                    int(streams.line[i]),
                    f"line {streams.line[i]}: {start.astimezone(nz.NZ):%d/%m/%Y %H:%M} is "
                    f"outside the time you held ICP {streams.icps[icp_code]}",
                )
    if errors:
        raise EIEPError([errors[n] for n in sorted(errors)][:MAX_LISTED])


def _within_assets(streams: Streams, half_hours: HalfHours, icp_pks: np.ndarray) -> None:
    """A resident's file exports no more in a half hour than the ICP's PV (kWp) and battery
    (discharge kW) could in 30 minutes, with the connection's fifth of slack: an ICP with
    neither on record exports nothing."""
    pks = icp_pks.tolist()
    pv = _kw_by_icp(PVSystem, "capacity_kwp", pks)
    battery = _kw_by_icp(Battery, "power_kw", pks)
    slack = Decimal(str(CONNECTION_SLACK))
    limit_wh = np.array(
        [int((pv.get(pk, 0) + battery.get(pk, 0)) * 1000 * Decimal("0.5") * slack) for pk in pks],
        np.int64,
    )
    over = np.flatnonzero(half_hours.export_wh > limit_wh[half_hours.icp])
    errors = []
    for k in over[:MAX_LISTED].tolist():
        icp, slot = half_hours.icp[k], half_hours.slot[k]
        rows = (streams.icp == icp) & (streams.slot == slot) & streams.export
        line = int(streams.line[rows].min())
        pk, code = pks[icp], half_hours.icps[icp]
        assets = [
            f"{_plain(kw)} {unit}"
            for kw, unit in ((pv.get(pk), "kWp PV"), (battery.get(pk), "kW battery"))
            if kw
        ]
        what = (
            f"ICP {code}'s {' and '.join(assets)} can export"
            if assets
            else f"ICP {code} can export: it has no PV or battery on record"
        )
        errors.append(
            (
                line,
                f"line {line}: {wh_to_kwh(half_hours.export_wh[k])} kWh exported in the half "
                f"hour from {half_hours.starts[slot].astimezone(nz.NZ):%d/%m/%Y %H:%M} is more "
                f"than {what}",
            )
        )
    if errors:
        raise EIEPError([message for _, message in sorted(errors)])


def _kw_by_icp(
    model: type[PVSystem | Battery], field_name: str, icp_pks: list[int]
) -> dict[int, Decimal]:
    rows = (
        model.objects.filter(icp_id__in=icp_pks)
        .values("icp_id")
        .annotate(kw=Sum(field_name))
        .values_list("icp_id", "kw")
    )
    return {icp_id: kw for icp_id, kw in rows if kw}


def _plain(number: Decimal) -> str:
    return f"{number.normalize():f}"


def _import(
    streams: Streams, warnings: list[str], source: str, member: Member | None
) -> ImportResult:
    windows = None if member is None else holding_windows(member)
    icp_pks, capacity_kw = _known_icps(streams, windows)
    if windows is not None:
        _resident_rows(streams, icp_pks, windows)
    lap("validate")
    half_hours = streams.half_hours()
    lap("aggregate")
    _within_connection(streams, half_hours, capacity_kw)
    if member is not None:
        _within_assets(streams, half_hours, icp_pks)
    lap("validate")
    first, last = half_hours.span
    if first is not None and last is not None:
        # In a transaction of its own: making a month locks the default partition till commit.
        reading_partitions_ensure(first=first, last=last)
    lap("partitions")
    with transaction.atomic():
        report = half_hours_write(
            half_hours=half_hours, icp_pks=icp_pks, source=source, fill_only=member is not None
        )
        icps = len(np.unique(half_hours.icp))
        changed = report.corrected + report.replaced_estimates + report.replaced_uploads
        MeterEvent.objects.create(
            kind=MeterEvent.Kind.IMPORT,
            member=member,
            message=f"{source}: {len(half_hours)} half hours for {icps} ICPs "
            f"({report.created} new, {changed} changed, "
            f"{report.unchanged} unchanged), {len(warnings)} warnings",
        )
        lap("write")
    lap("commit")
    return ImportResult(len(half_hours), icps, warnings, *half_hours.span, report.created, changed)


def half_hours_write(
    *, half_hours: HalfHours, icp_pks: np.ndarray, source: str, fill_only: bool = False
) -> UpsertReport:
    """Store summed half hours. `fill_only` is a resident's upload: every half hour is stored
    as `uploaded`, and only where there is no reading yet."""
    bulk = connection.vendor == "postgresql" and len(half_hours) >= BULK_MIN_HALF_HOURS
    if bulk and not fill_only:
        return readings_copy(half_hours=half_hours, icp_pks=icp_pks, source=source)
    if fill_only:
        quality = dict.fromkeys((True, False), Reading.Quality.UPLOADED)
    else:
        quality = {True: Reading.Quality.ESTIMATED, False: Reading.Quality.ACTUAL}
    rows = [
        IntervalEnergy(
            int(icp_pks[icp]),
            half_hours.starts[slot],
            wh_to_kwh(imp),
            wh_to_kwh(exp),
            quality[bool(est)],
        )
        for icp, slot, imp, exp, est in zip(
            half_hours.icp.tolist(),
            half_hours.slot.tolist(),
            half_hours.import_wh.tolist(),
            half_hours.export_wh.tolist(),
            half_hours.estimated.tolist(),
            strict=True,
        )
    ]
    return readings_upsert(rows=rows, source=source, fill_only=fill_only)

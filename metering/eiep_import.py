"""EIEP files in and out of the readings table, whole file or nothing.

Files are parsed into columns (metering.formats), summed per ICP and half hour, and written in
one transaction: on PostgreSQL through metering.bulk (binary COPY and set-based statements),
elsewhere, and for small files, through services.readings_upsert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from coop import nz
from coop.models import ICP, Member
from coop.selectors import holding_windows
from metering.bulk import readings_copy
from metering.formats import eiep3, eiep13a
from metering.formats.eiep3 import EIEPError
from metering.formats.streams import HalfHours, Streams, wh_to_kwh
from metering.models import MeterEvent, Reading
from metering.services import IntervalEnergy, UpsertReport, readings_upsert

logger = logging.getLogger(__name__)
BULK_MIN_HALF_HOURS = 1000
CONNECTION_SLACK = 1.2
MAX_LISTED = 200


@dataclass
class ImportResult:
    readings: int
    icps: int
    warnings: list[str] = field(default_factory=list)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    created: int = 0
    changed: int = 0  # corrections and estimates replaced; the old values are kept


def import_eiep3(text: str, *, source: str, member: Member | None = None) -> ImportResult:
    """Import an EIEP3 file (v10 or v11). Raises EIEPError, with nothing written, on any error.

    With `member`, the file is a resident's own upload: see `_resident_rows`."""
    with _refusals_logged(source), _no_gc_pauses():
        parsed = eiep3.parse(text)
        return _import(parsed.streams, parsed.warnings, source, member)


def import_eiep13a(text: str, *, source: str, member: Member | None = None) -> ImportResult:
    """Import a consumer's EIEP13A file; same all-or-nothing rule."""
    with _refusals_logged(source):
        return _import(Streams.from_records(eiep13a.parse(text)), [], source, member)


def import_file(text: str, *, source: str, member: Member | None = None) -> ImportResult:
    """EIEP3 or EIEP13A, told apart by the header."""
    head = text.lstrip("\ufeff")[:12]
    if head.startswith("HDR,ICPCONS"):
        return import_eiep13a(text, source=source, member=member)
    if head.startswith("HDR,ICPHH"):
        return import_eiep3(text, source=source, member=member)
    with _refusals_logged(source):
        raise EIEPError(["line 1: not an EIEP3 (HDR,ICPHH) or EIEP13A (HDR,ICPCONS) file"])


@contextlib.contextmanager
def _refusals_logged(source: str) -> Iterator[None]:
    """A refused file is logged and shown in meter health; the refusal itself writes nothing
    else (the import's own transaction has rolled back by the time this records it)."""
    try:
        yield
    except EIEPError as exc:
        logger.warning("EIEP file %s refused: %s", source, exc)
        shown = "\n".join(exc.errors[:20])
        more = f"\n... {len(exc.errors) - 20} more" if len(exc.errors) > 20 else ""
        MeterEvent.objects.create(
            kind=MeterEvent.Kind.REFUSED,
            message=f"{source}: file refused, nothing imported\n{shown}{more}",
        )
        raise


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


def _known_icps(streams: Streams) -> tuple[np.ndarray, np.ndarray]:
    """(ids, connection capacities in kW), indexed by the streams' ICP codes; every ICP must be
    the co-op's."""
    first_line = streams.first_lines()
    found = ICP.objects.filter(identifier__in=first_line).values_list(
        "identifier", "pk", "max_import_kw"
    )
    known = {identifier: (pk, kw) for identifier, pk, kw in found}
    errors = [
        (line, f"line {line}: ICP {icp} is not one of the co-op's ICPs")
        for icp, line in first_line.items()
        if icp not in known
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


def _resident_rows(streams: Streams, icp_pks: np.ndarray, member: Member) -> None:
    """A resident's own file may hold only their ICPs, for the time they held them.

    Their retailer's data fills half hours the co-op has no reading for (or only an estimate);
    it never replaces what the co-op's meters or the admin's files say (`fill_only`), so an
    upload cannot change anyone's settlement, the uploader's included."""
    windows = holding_windows(member)
    errors: dict[int, str] = {}
    for icp_code, icp_pk in enumerate(icp_pks.tolist()):
        rows = np.flatnonzero(streams.icp == icp_code)
        spans = windows.get(icp_pk)
        if not spans:
            line = int(streams.line[rows].min())
            errors[line] = (
                f"line {line}: ICP {streams.icps[icp_code]} is not yours; "
                "upload files for your own ICPs only"
            )
            continue
        for i in rows.tolist():
            start = streams.starts[streams.slot[i]]
            if not any(span.covers(start) for span in spans):
                errors.setdefault(
                    int(streams.line[i]),
                    f"line {streams.line[i]}: {start.astimezone(nz.NZ):%d/%m/%Y %H:%M} is "
                    f"outside the time you held ICP {streams.icps[icp_code]}",
                )
    if errors:
        raise EIEPError([errors[n] for n in sorted(errors)][:MAX_LISTED])


def _import(streams: Streams, warnings: list[str], source: str, member) -> ImportResult:
    icp_pks, capacity_kw = _known_icps(streams)
    if member is not None:
        _resident_rows(streams, icp_pks, member)
    half_hours = streams.half_hours()
    _within_connection(streams, half_hours, capacity_kw)
    with transaction.atomic():
        report = write_half_hours(
            half_hours, icp_pks=icp_pks, source=source, fill_only=member is not None
        )
        icps = len(np.unique(half_hours.icp))
        MeterEvent.objects.create(
            kind=MeterEvent.Kind.IMPORT,
            message=f"{source}: {len(half_hours)} half hours for {icps} ICPs "
            f"({report.created} new, {report.corrected + report.replaced_estimates} changed, "
            f"{report.unchanged} unchanged), {len(warnings)} warnings",
        )
    return ImportResult(
        len(half_hours),
        icps,
        warnings,
        *half_hours.span,
        report.created,
        report.corrected + report.replaced_estimates,
    )


def write_half_hours(
    half_hours: HalfHours, *, icp_pks: np.ndarray, source: str, fill_only: bool = False
) -> UpsertReport:
    bulk = connection.vendor == "postgresql" and len(half_hours) >= BULK_MIN_HALF_HOURS
    if bulk and not fill_only:
        return readings_copy(half_hours=half_hours, icp_pks=icp_pks, source=source)
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


def export_eiep3(icps: Iterable[ICP], start: dt.date, end: dt.date, **header) -> str:
    """EIEP3 for these ICPs and NZ trading dates start..end inclusive: one X and one I stream."""
    icps = list(icps)
    readings = (
        Reading.objects.filter(
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

"""EIEP files in and out of the readings table, whole file or nothing.

On PostgreSQL the readings go in through COPY into a temporary table and one set-based upsert
(corrections keep the value they replace as a revision); elsewhere through the ORM service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction

from coop.models import ICP
from metering.formats import eiep3, eiep13a
from metering.formats.eiep3 import EIEPError
from metering.models import MeterEvent, Reading
from metering.services import IntervalEnergy, readings_upsert

ZERO = Decimal(0)


@dataclass
class ImportResult:
    readings: int
    icps: int
    warnings: list[str] = field(default_factory=list)
    first: dt.datetime | None = None
    last: dt.datetime | None = None


def _intervals(records: Iterable[eiep3.Record], icp_ids: dict[str, int]) -> list[IntervalEnergy]:
    """Streams summed per ICP and half hour: X streams are import, I streams export."""
    totals: dict[tuple[str, dt.datetime], list] = {}
    for icp, start, kwh, flow, reading_type in (
        (r.icp, r.interval_start, r.kwh, r.flow, r.reading_type) for r in records
    ):
        slot = totals.get((icp, start))
        if slot is None:
            slot = totals[(icp, start)] = [ZERO, ZERO, "actual"]
        slot[0 if flow == "X" else 1] += kwh
        if reading_type == "E":
            slot[2] = "estimated"
    return [
        IntervalEnergy(icp_ids[icp], start, imp, exp, quality)
        for (icp, start), (imp, exp, quality) in totals.items()
    ]


def _known_icps(records: list[eiep3.Record], allowed: set[str] | None) -> dict[str, int]:
    first_line: dict[str, int] = {}
    for r in records:
        first_line.setdefault(r.icp, r.line)
    known = dict(ICP.objects.filter(identifier__in=first_line).values_list("identifier", "pk"))
    errors = [
        f"line {line}: ICP {icp} is not one of the co-op's ICPs"
        for icp, line in first_line.items()
        if icp not in known
    ]
    if allowed is not None:
        errors += [
            f"line {line}: ICP {icp} is not yours; upload files for your own ICPs only"
            for icp, line in first_line.items()
            if icp in known and icp not in allowed
        ]
    if errors:
        raise EIEPError(sorted(errors, key=lambda e: int(e.split(":")[0].split()[1])))
    return known


def import_eiep3(text: str, *, source: str, allowed_icps: set[str] | None = None) -> ImportResult:
    """Import an EIEP3 file (v10 or v11). Raises EIEPError, with nothing written, on any error."""
    parsed = eiep3.parse(text)
    return _import(parsed.records, parsed.warnings, source, allowed_icps)


def import_eiep13a(text: str, *, source: str, allowed_icps: set[str] | None = None) -> ImportResult:
    """Import a consumer's EIEP13A file; same all-or-nothing rule."""
    return _import(eiep13a.parse(text), [], source, allowed_icps)


def import_file(text: str, *, source: str, allowed_icps: set[str] | None = None) -> ImportResult:
    """EIEP3 or EIEP13A, told apart by the header."""
    head = text.lstrip("\ufeff")[:12]
    if head.startswith("HDR,ICPCONS"):
        return import_eiep13a(text, source=source, allowed_icps=allowed_icps)
    if head.startswith("HDR,ICPHH"):
        return import_eiep3(text, source=source, allowed_icps=allowed_icps)
    raise EIEPError(["line 1: not an EIEP3 (HDR,ICPHH) or EIEP13A (HDR,ICPCONS) file"])


def _import(records, warnings, source, allowed_icps) -> ImportResult:
    icp_ids = _known_icps(records, allowed_icps)
    rows = _intervals(records, icp_ids)
    with transaction.atomic():
        write_readings(rows, source=source)
        MeterEvent.objects.create(
            kind=MeterEvent.Kind.IMPORT,
            message=f"{source}: {len(rows)} half hours for {len(icp_ids)} ICPs, "
            f"{len(warnings)} warnings",
        )
    starts = [r.interval_start for r in rows]
    return ImportResult(
        len(rows), len(icp_ids), warnings, min(starts, default=None), max(starts, default=None)
    )


def write_readings(rows: list[IntervalEnergy], *, source: str) -> None:
    if connection.vendor == "postgresql" and len(rows) > 1000:
        _copy_upsert(rows, source)
    else:
        readings_upsert(rows=rows, source=source)


def _copy_upsert(rows: list[IntervalEnergy], source: str) -> None:
    """COPY into a temporary table, then keep history and upsert in two statements."""
    reading = Reading._meta.db_table
    revision = "metering_readingrevision"
    stamps: dict[dt.datetime, str] = {}
    for r in rows:
        if r.interval_start not in stamps:
            stamps[r.interval_start] = r.interval_start.isoformat()
    data = "".join(
        f"{r.icp_id}\t{stamps[r.interval_start]}\t{r.import_kwh}\t{r.export_kwh}\t{r.quality}\n"
        for r in rows
    )
    with connection.cursor() as cursor:
        # Dropped at commit; an enclosing transaction may import twice before it commits.
        cursor.execute("DROP TABLE IF EXISTS incoming")
        cursor.execute(
            "CREATE TEMP TABLE incoming (icp_id bigint, interval_start timestamptz, "
            "import_kwh numeric(12,3), export_kwh numeric(12,3), quality varchar(11)) ON COMMIT DROP"
        )
        with cursor.connection.cursor().copy(
            "COPY incoming (icp_id, interval_start, import_kwh, export_kwh, quality) FROM STDIN"
        ) as copy:
            copy.write(data)
        # An estimate never replaces real data; anything else that differs is a correction
        # whose old value is kept.
        changed = (
            "(r.import_kwh, r.export_kwh, r.quality) IS DISTINCT FROM "
            "(i.import_kwh, i.export_kwh, i.quality) "
            "AND NOT (i.quality = 'estimated' AND r.quality <> 'estimated')"
        )
        cursor.execute(
            f"INSERT INTO {revision} (reading_id, import_kwh, export_kwh, quality, source, "  # noqa: S608
            f"replaced_at, replaced_by_source) "
            f"SELECT r.id, r.import_kwh, r.export_kwh, r.quality, r.source, now(), %s "
            f"FROM {reading} r JOIN incoming i USING (icp_id, interval_start) WHERE {changed}",
            [source],
        )
        cursor.execute(
            f"INSERT INTO {reading} AS r (icp_id, interval_start, import_kwh, export_kwh, quality, "  # noqa: S608
            f"source, received_at) "
            f"SELECT icp_id, interval_start, import_kwh, export_kwh, quality, %s, now() FROM incoming i "
            f"ON CONFLICT (icp_id, interval_start) DO UPDATE SET import_kwh = EXCLUDED.import_kwh, "
            f"export_kwh = EXCLUDED.export_kwh, quality = EXCLUDED.quality, source = EXCLUDED.source, "
            f"received_at = EXCLUDED.received_at "
            f"WHERE (r.import_kwh, r.export_kwh, r.quality) IS DISTINCT FROM "
            f"(EXCLUDED.import_kwh, EXCLUDED.export_kwh, EXCLUDED.quality) "
            f"AND NOT (EXCLUDED.quality = 'estimated' AND r.quality <> 'estimated')",
            [source],
        )


def export_eiep3(icps: Iterable[ICP], start: dt.date, end: dt.date, **header) -> str:
    """EIEP3 for these ICPs and NZ trading dates start..end inclusive: one X and one I stream."""
    from coop import nz

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

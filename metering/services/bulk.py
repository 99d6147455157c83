"""The PostgreSQL path for large batches of readings (a retailer's month of EIEP3).

The half hours go over in one binary COPY into a temporary table, built straight from the numpy
columns. Then set-based statements apply the same rules as `readings.readings_upsert`: a
repeat changes nothing, an estimate never replaces real data, a correction keeps the value it
replaces as a revision, and the half hours that changed are sent to the market after the
commit (`metering.signals.readings_corrected`). Readings that are not there yet (the usual
case for a new month) go in with a plain INSERT, which costs a third less than INSERT ... ON
CONFLICT.

Readings have no database foreign key to their ICP: PostgreSQL would check it with a trigger
per row, a third of a million-row import. Instead every writer locks the ICP rows it writes
for, once per batch (`readings.icps_lock`), the same lock that keeps the ICP from being deleted
or a concurrent writer from racing this one; Django's PROTECT refuses to delete an ICP that has
readings.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.db import connection

from metering.formats.streams import HalfHours
from metering.models import Reading, ReadingRevision
from metering.services.readings import UpsertReport, icps_lock
from metering.signals import ReadingChange, readings_corrected_send

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_UPLOADED = Reading.Quality.UPLOADED.value
# One COPY tuple: field count, then each field's length and big-endian value.
_TUPLE = np.dtype(
    [
        ("fields", ">i2"),
        ("icp_len", ">i4"),
        ("icp_id", ">i8"),
        ("start_len", ">i4"),
        ("start", ">i8"),  # timestamptz: microseconds since 2000-01-01 UTC
        ("import_len", ">i4"),
        ("import_wh", ">i8"),
        ("export_len", ">i4"),
        ("export_wh", ">i8"),
        ("estimated_len", ">i4"),
        ("estimated", "?"),
    ]
)


def _copy_payload(half_hours: HalfHours, icp_pks: np.ndarray) -> bytes:
    """COPY ... (FORMAT BINARY) data for these half hours; icp_pks[code] is an ICP's id."""
    starts_us = np.array(
        [(s - PG_EPOCH) // dt.timedelta(microseconds=1) for s in half_hours.starts], np.int64
    )
    rows = np.empty(len(half_hours), _TUPLE)
    rows["fields"] = 5
    rows["icp_len"] = rows["start_len"] = rows["import_len"] = rows["export_len"] = 8
    rows["estimated_len"] = 1
    rows["icp_id"] = icp_pks[half_hours.icp]
    rows["start"] = starts_us[half_hours.slot] if len(starts_us) else 0
    rows["import_wh"] = half_hours.import_wh
    rows["export_wh"] = half_hours.export_wh
    rows["estimated"] = half_hours.estimated
    return _SIGNATURE + rows.tobytes() + _TRAILER


def readings_copy(*, half_hours: HalfHours, icp_pks: np.ndarray, source: str) -> UpsertReport:
    """Store these half hours (inside the caller's transaction)."""
    report = UpsertReport()
    if not len(half_hours):
        return report
    icps = sorted({int(icp_pks[c]) for c in np.unique(half_hours.icp)})
    icps_lock(icp_ids=icps)
    reading = Reading._meta.db_table
    revision = ReadingRevision._meta.db_table
    incoming = (
        "(SELECT icp_id, interval_start, (import_wh * 0.001)::numeric(12, 3) AS import_kwh, "
        "(export_wh * 0.001)::numeric(12, 3) AS export_kwh, "
        "CASE WHEN estimated THEN 'estimated' ELSE 'actual' END AS quality FROM incoming)"
    )
    # An estimate never replaces real data (but does replace an estimate or a resident's
    # upload); anything else that differs is a correction.
    changed = (
        "(p.import_kwh, p.export_kwh, p.quality) IS DISTINCT FROM "
        "(i.import_kwh, i.export_kwh, i.quality) "
        "AND NOT (i.quality = 'estimated' AND p.quality NOT IN ('estimated', 'uploaded'))"
    )
    columns = "icp_id, interval_start, import_kwh, export_kwh, quality, source, received_at"
    with connection.cursor() as cursor:
        # ON COMMIT DROP; an enclosing transaction may import twice before it commits.
        cursor.execute("DROP TABLE IF EXISTS incoming, present")
        cursor.execute(
            "CREATE TEMP TABLE incoming (icp_id bigint, interval_start timestamptz, "
            "import_wh bigint, export_wh bigint, estimated boolean) ON COMMIT DROP"
        )
        with cursor.connection.cursor().copy("COPY incoming FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_copy_payload(half_hours, icp_pks))
        # The readings already stored for these ICPs over the batch's span (none, for a new
        # month): the only rows the batch can repeat or correct.
        cursor.execute(
            f"CREATE TEMP TABLE present ON COMMIT DROP AS SELECT id, icp_id, interval_start, "  # noqa: S608
            f"import_kwh, export_kwh, quality, source FROM {reading} "
            f"WHERE icp_id = ANY(%s) AND interval_start BETWEEN %s AND %s",
            [icps, *half_hours.span],
        )
        present = cursor.rowcount
        if present:
            cursor.execute("ANALYZE present")
            cursor.execute(
                f"INSERT INTO {revision} (reading_id, import_kwh, export_kwh, quality, source, "  # noqa: S608
                f"replaced_at, replaced_by_source) "
                f"SELECT p.id, p.import_kwh, p.export_kwh, p.quality, p.source, now(), %s "
                f"FROM present p JOIN {incoming} i USING (icp_id, interval_start) WHERE {changed}",
                [source],
            )
            # RETURNING hands back the half hours this very statement changed (no query of its
            # own, nothing for the new half hours that are the usual case): the market is told
            # after the commit, since their periods may be settled already.
            cursor.execute(
                f"UPDATE {reading} r SET import_kwh = i.import_kwh, export_kwh = i.export_kwh, "  # noqa: S608
                f"quality = i.quality, source = %s, received_at = now() "
                f"FROM present p JOIN {incoming} i USING (icp_id, interval_start) "
                f"WHERE r.id = p.id AND {changed} "
                f"RETURNING r.icp_id, r.interval_start, p.quality, i.quality",
                [source],
            )
            updated = cursor.fetchall()
            corrected = len(updated)
            # A resident's upload replaced is, for the market, a new reading (never settled on).
            changes = [ReadingChange(*row) for row in updated if row[2] != _UPLOADED]
            cursor.execute(
                f"INSERT INTO {reading} ({columns}) "  # noqa: S608
                f"SELECT i.*, %s, now() FROM {incoming} i WHERE NOT EXISTS "
                f"(SELECT FROM present p WHERE p.icp_id = i.icp_id "
                f"AND p.interval_start = i.interval_start)",
                [source],
            )
        else:
            corrected, changes = 0, []
            cursor.execute(
                f"INSERT INTO {reading} ({columns}) SELECT i.*, %s, now() FROM {incoming} i",  # noqa: S608
                [source],
            )
        report.created = cursor.rowcount
    report.corrected = corrected
    report.unchanged = len(half_hours) - report.created - corrected
    readings_corrected_send(changes=changes, source=source)
    return report

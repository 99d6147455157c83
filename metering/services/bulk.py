"""The PostgreSQL path for large batches of readings (a retailer's month of EIEP3).

The same rules as `readings.readings_upsert`: a repeat changes nothing, an estimate never
replaces real data, a correction keeps the value it replaces as a revision, and the half hours
that changed are sent to the market after the commit (`metering.signals.readings_corrected`).

How, for speed (a million half hours in a few seconds):
- the readings already stored for the batch's ICPs and span come over in one binary COPY and
  are compared with the batch in numpy, so a repeat costs one read and writes nothing;
- the new half hours go in with one binary COPY built straight from the numpy columns, into
  the partitioned table, with no staging table and no INSERT ... SELECT; a large batch for a
  month that has no readings at all is loaded into a table of its own and swapped in for the
  empty partition, its indexes built once rather than row by row (metering.services.month_load);
- only the changed half hours (a correction's few) go through a temporary table, for the
  revision and the UPDATE, in one statement.

Readings have no database foreign key to their ICP: PostgreSQL would check it with a trigger
per row, a third of a million-row import. Instead every writer locks the ICP rows it writes
for, once per batch (`readings.icps_lock`), the same lock that keeps the ICP from being deleted
or a concurrent writer from racing this one (so the stored rows read here stay what they are
until the commit); Django's PROTECT refuses to delete an ICP that has readings. Revisions have
no foreign key to their reading either (a partitioned table has no unique `id` to point at):
they are written here only for readings the same statement reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper

from metering.formats.streams import HalfHours
from metering.models import Reading, ReadingRevision
from metering.services import month_load
from metering.services.partitions import (
    month_bounds,
    months_between,
    months_write_lock,
    reading_partitions_ensure,
)
from metering.services.readings import UpsertReport, icps_lock
from metering.signals import ReadingChange, readings_corrected_send
from metering.stopwatch import lap

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
Quality = Reading.Quality
# Stored qualities as small numbers for the comparison (array_position: 1-based).
_QUALITIES = [q.value for q in Quality]
_CODE = {q: k + 1 for k, q in enumerate(_QUALITIES)}
_COLUMNS = "icp_id, interval_start, import_kwh, export_kwh, quality, source, received_at"
# Rows per piece of a COPY (about 2 MB): small enough that PostgreSQL is still reading one
# when the next is ready.
_PIECE_ROWS = 1 << 15

# numeric(12, 3) in COPY's binary form, always as four base-10000 digits with weight 2
# (10^8 .. 10^-4): PostgreSQL strips the leading and trailing zero digits as it reads it.
_NUMERIC = np.dtype(
    [
        ("length", ">i4"),
        ("ndigits", ">i2"),
        ("weight", ">i2"),
        ("sign", ">u2"),
        ("dscale", ">i2"),
        ("digits", ">i2", (4,)),
    ]
)
_TIMESTAMP = np.dtype([("length", ">i4"), ("us", ">i8")])  # microseconds since 2000-01-01 UTC
_BIGINT = np.dtype([("length", ">i4"), ("value", ">i8")])

# The stored readings a batch is compared with, one row each.
_STORED = np.dtype(
    [
        ("id", np.int64),
        ("icp_id", np.int64),
        ("start", np.int64),  # microseconds since 2000-01-01 UTC
        ("import_wh", np.int64),
        ("export_wh", np.int64),
        ("quality", np.int16),  # 1 + its place in _QUALITIES
    ]
)
_ARRAY_HEADER = 20  # array_send of a one-dimensional array: ndim, flags, type, size, lower bound


def _reading_row(quality: bytes, source: bytes) -> np.dtype:
    """One COPY tuple of _COLUMNS: the text fields' lengths are fixed per batch of rows."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("icp", _BIGINT),
            ("start", _TIMESTAMP),
            ("import_kwh", _NUMERIC),
            ("export_kwh", _NUMERIC),
            ("quality_length", ">i4"),
            ("quality", f"S{len(quality)}"),
            ("source_length", ">i4"),
            ("source", f"S{len(source)}"),
            ("received_at", _TIMESTAMP),
        ]
    )


# One COPY tuple of _ENERGY only, for a table whose defaults supply the rest (_load_copy).
_ENERGY = "icp_id, interval_start, import_kwh, export_kwh"
_ENERGY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("icp", _BIGINT),
        ("start", _TIMESTAMP),
        ("import_kwh", _NUMERIC),
        ("export_kwh", _NUMERIC),
    ]
)


def _numeric(wh: np.ndarray) -> np.ndarray:
    out = np.empty(len(wh), _NUMERIC)
    out["length"] = _NUMERIC.itemsize - 4
    out["ndigits"], out["weight"], out["sign"], out["dscale"] = 4, 2, 0, 3
    whole, milli = np.divmod(wh, 1000)
    out["digits"][:, 0] = whole // 100_000_000
    out["digits"][:, 1] = whole // 10_000 % 10_000
    out["digits"][:, 2] = whole % 10_000
    out["digits"][:, 3] = milli * 10
    return out


def _us(instant: dt.datetime) -> int:
    return (instant - PG_EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class _Rows:
    """Half hours to write: ICP ids, starts (us since 2000), Wh, estimate flags."""

    icp_id: np.ndarray
    start: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    estimated: np.ndarray

    def take(self, mask: np.ndarray) -> _Rows:
        if mask.all():
            return self
        return _Rows(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def pieces(self) -> Iterator[_Rows]:
        for at in range(0, len(self), _PIECE_ROWS):
            yield _Rows(
                *(getattr(self, f)[at : at + _PIECE_ROWS] for f in self.__dataclass_fields__)
            )

    def __len__(self) -> int:
        return len(self.icp_id)


def _energy_columns(tuples: np.ndarray, rows: _Rows, fields: int) -> None:
    tuples["fields"] = fields
    tuples["icp"]["length"] = tuples["start"]["length"] = 8
    tuples["icp"]["value"] = rows.icp_id
    tuples["start"]["us"] = rows.start
    tuples["import_kwh"] = _numeric(rows.import_wh)
    tuples["export_kwh"] = _numeric(rows.export_wh)


def _copy_payload(rows: _Rows, source: str, received_at: dt.datetime) -> Iterator[bytes]:
    """COPY ... (FORMAT BINARY) data of _COLUMNS for these rows, in pieces."""
    yield _SIGNATURE
    encoded_source = source.encode()
    for estimated, quality in ((False, Quality.ACTUAL), (True, Quality.ESTIMATED)):
        label = quality.value.encode()
        row = _reading_row(label, encoded_source)
        for part in rows.take(rows.estimated == estimated).pieces():
            tuples = np.empty(len(part), row)
            _energy_columns(tuples, part, 7)
            tuples["quality_length"], tuples["quality"] = len(label), label
            tuples["source_length"], tuples["source"] = len(encoded_source), encoded_source
            tuples["received_at"]["length"], tuples["received_at"]["us"] = 8, _us(received_at)
            yield tuples.tobytes()
    yield _TRAILER


def _copy_in(
    cursor: CursorWrapper, table: str, payload: Iterable[bytes], columns: str = _COLUMNS
) -> None:
    """Each piece is sent as it is made: PostgreSQL reads one while the next is built."""
    with cursor.connection.cursor().copy(
        f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        for piece in payload:
            copy.write(piece)


def _energy_payload(rows: _Rows) -> Iterator[bytes]:
    yield _SIGNATURE
    for part in rows.pieces():
        tuples = np.empty(len(part), _ENERGY_ROW)
        _energy_columns(tuples, part, 4)
        yield tuples.tobytes()
    yield _TRAILER


def _load_copy(
    cursor: CursorWrapper, table: str, rows: _Rows, source: str, received_at: dt.datetime
) -> None:
    """Into a month's new table (month_load): only the energy columns go over; quality, source
    and received_at, the same for each group of rows, are the table's defaults meanwhile
    (PostgreSQL reads a third less)."""
    for estimated, quality in ((False, Quality.ACTUAL), (True, Quality.ESTIMATED)):
        some = rows.take(rows.estimated == estimated)
        if not len(some):
            continue
        cursor.execute(
            f"ALTER TABLE {table} ALTER quality SET DEFAULT %s, ALTER source SET DEFAULT %s, "
            "ALTER received_at SET DEFAULT %s",
            [quality.value, source, received_at],
        )
        _copy_in(cursor, table, _energy_payload(some), _ENERGY)
    cursor.execute(
        f"ALTER TABLE {table} ALTER quality DROP DEFAULT, ALTER source DROP DEFAULT, "
        "ALTER received_at DROP DEFAULT"
    )


def _stored(
    cursor: CursorWrapper, icp_ids: list[int], first: dt.datetime, last: dt.datetime
) -> np.ndarray:
    """The readings stored for these ICPs from first to last, as _STORED rows.

    Each column comes over as one binary array (array_send), read straight into numpy: a row at
    a time, in Python, would cost more than PostgreSQL's whole part (a million rows: 1 s of
    CPU against 0.1 s). One column stays under PostgreSQL's 1 GB a value up to 89 million
    readings, many times what one file holds."""
    reading = Reading._meta.db_table
    columns = [
        "id",
        "icp_id",
        "interval_start",
        "(import_kwh * 1000)::bigint",
        "(export_kwh * 1000)::bigint",
        "array_position(%s::text[], quality::text)::smallint",
    ]
    query = (
        f"SELECT {', '.join(f'array_send(array_agg({c}))' for c in columns)} "  # noqa: S608
        f"FROM {reading} WHERE icp_id = ANY(%s) AND interval_start BETWEEN %s AND %s"
    )
    # Django's cursors bind parameters client-side, which psycopg does only for text results.
    with psycopg.Cursor(cursor.connection) as raw:
        raw.execute(query, [_QUALITIES, icp_ids, first, last], binary=True)
        arrays = raw.fetchone()
    if arrays is None or arrays[0] is None:
        return np.zeros(0, _STORED)
    stored = np.empty((len(arrays[0]) - _ARRAY_HEADER) // 12, _STORED)
    for name, data in zip(_STORED.names or (), arrays, strict=True):
        width = stored.dtype[name].itemsize
        if int.from_bytes(data[4:8], "big"):  # the array holds a NULL: an unknown quality
            raise RuntimeError(f"{reading}: a stored reading has a quality outside {_QUALITIES}")
        elements = np.frombuffer(
            data, [("length", ">i4"), ("value", f">i{width}")], offset=_ARRAY_HEADER
        )
        stored[name] = elements["value"]
    return stored


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of `wanted` is in `keys` (unique values), or -1."""
    if not len(keys):
        return np.full(len(wanted), -1, np.int64)
    order = np.argsort(keys, kind="stable")
    at = order[np.searchsorted(keys, wanted, sorter=order).clip(max=len(keys) - 1)]
    return np.where(keys[at] == wanted, at, -1)


def readings_copy(*, half_hours: HalfHours, icp_pks: np.ndarray, source: str) -> UpsertReport:
    """Store these half hours (inside the caller's transaction)."""
    report = UpsertReport()
    if not len(half_hours):
        return report
    starts_us = np.array([_us(s) for s in half_hours.starts], np.int64)
    used = starts_us[half_hours.slot]
    first, last = (PG_EPOCH + dt.timedelta(microseconds=int(us)) for us in (used.min(), used.max()))
    reading_partitions_ensure(first=first, last=last)  # made before the caller's transaction
    icps = sorted({int(pk) for pk in icp_pks[np.unique(half_hours.icp)]})
    icps_lock(icp_ids=icps)
    months_write_lock(first=first, last=last)
    lap("lock")
    months = months_between(first, last)
    month_starts = np.array([_us(month_bounds(m)[0]) for m in months], np.int64)
    incoming = _Rows(
        icp_pks[half_hours.icp].astype(np.int64),
        starts_us[half_hours.slot],
        half_hours.import_wh,
        half_hours.export_wh,
        half_hours.estimated.astype(bool),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()
        stored = _stored(cursor, icps, first, last)
        lap("stored")
        # Each stored reading's place in the batch (-1: a half hour the batch does not have).
        n_slots = max(len(starts_us), 1)
        icp_code = _positions(icp_pks.astype(np.int64), stored["icp_id"].astype(np.int64))
        slot = _positions(starts_us, stored["start"].astype(np.int64))
        known = (icp_code >= 0) & (slot >= 0)
        batch_keys = half_hours.icp.astype(np.int64) * n_slots + half_hours.slot
        at = np.full(len(stored), -1, np.int64)
        at[known] = _positions(batch_keys, (icp_code * n_slots + slot)[known])
        # Column by column: indexing the structured rows themselves copies every field.
        mine = np.flatnonzero(at >= 0)
        at = at[mine]
        present = np.zeros(len(half_hours), bool)
        present[at] = True
        was = np.zeros(len(half_hours), np.int16)
        was[at] = stored["quality"][mine]
        reading_id = np.zeros(len(half_hours), np.int64)
        reading_id[at] = stored["id"][mine]
        same = np.zeros(len(half_hours), bool)
        same[at] = (
            (stored["import_wh"][mine] == incoming.import_wh[at])
            & (stored["export_wh"][mine] == incoming.export_wh[at])
            & (was[at] == np.where(incoming.estimated[at], _CODE["estimated"], _CODE["actual"]))
        )
        # An estimate never replaces real data (but does replace an estimate or a resident's
        # upload); anything else that differs is a correction.
        kept = incoming.estimated & ~np.isin(was, [_CODE["estimated"], _CODE["uploaded"]])
        changed = present & ~same & ~kept
        new = ~present
        lap("compare")
        # New rows by month: a big batch for an empty month is loaded whole (month_load), last,
        # since it locks the table till the commit; the rest go straight in now.
        month_of_row = np.searchsorted(month_starts, incoming.start, side="right") - 1
        whole = [
            k
            for k, count in enumerate(np.bincount(month_of_row[new], minlength=len(months)))
            if count >= month_load.MIN_ROWS
        ]
        later = new & np.isin(month_of_row, whole)
        if (new & ~later).any():
            _copy_in(
                cursor,
                Reading._meta.db_table,
                _copy_payload(incoming.take(new & ~later), source, now),
            )
        lap("copy")
        if changed.any():
            _replace(cursor, reading_id[changed], incoming.take(changed), source, now, first, last)
        lap("upsert")
        for k in whole:
            rows = incoming.take(new & (month_of_row == k))
            loaded = month_load.month_load(
                cursor,
                months[k],
                partial(_load_copy, cursor, rows=rows, source=source, received_at=now),
                len(rows),
            )
            # The stages inside are the load's COPY and index builds; this is the swap.
            lap("month swap" if loaded else "month load")
            if not loaded:
                _copy_in(cursor, Reading._meta.db_table, _copy_payload(rows, source, now))
                lap("copy")
    report.created = int(new.sum())
    report.replaced_uploads = int((changed & (was == _CODE["uploaded"])).sum())
    report.replaced_estimates = int((changed & (was == _CODE["estimated"])).sum())
    report.corrected = int(changed.sum()) - report.replaced_uploads - report.replaced_estimates
    report.unchanged = len(half_hours) - report.created - int(changed.sum())
    # A resident's upload replaced is, for the market, a new reading (never settled on): the
    # others are told after the commit, since their periods may be settled already.
    told = np.flatnonzero(changed & (was != _CODE["uploaded"]))
    changes = [
        ReadingChange(
            int(icp_pks[half_hours.icp[k]]),
            half_hours.starts[half_hours.slot[k]],
            _QUALITIES[was[k] - 1],
            (Quality.ESTIMATED if half_hours.estimated[k] else Quality.ACTUAL).value,
        )
        for k in told.tolist()
    ]
    readings_corrected_send(changes=changes, source=source)
    return report


def _replace(
    cursor: CursorWrapper,
    ids: np.ndarray,
    rows: _Rows,
    source: str,
    now: dt.datetime,
    first: dt.datetime,
    last: dt.datetime,
) -> None:
    """Write these half hours over the stored readings `ids`, keeping what each held as a
    revision: one statement, whose self-join reads the rows as they were before it."""
    reading = Reading._meta.db_table
    revision = ReadingRevision._meta.db_table
    # ON COMMIT DROP; an enclosing transaction may import twice before it commits.
    cursor.execute("DROP TABLE IF EXISTS changed_readings")
    cursor.execute(
        "CREATE TEMP TABLE changed_readings (id bigint, interval_start timestamptz, "
        "import_kwh numeric(12, 3), export_kwh numeric(12, 3), quality varchar(11), "
        "source varchar(40), received_at timestamptz) ON COMMIT DROP"
    )
    by_id = _Rows(ids, rows.start, rows.import_wh, rows.export_wh, rows.estimated)
    _copy_in(
        cursor,
        "changed_readings",
        _copy_payload(by_id, source, now),
        _COLUMNS.replace("icp_id", "id"),
    )
    cursor.execute("ANALYZE changed_readings")
    # The span again on both sides, so that the planner reads only the batch's partitions.
    cursor.execute(
        f"WITH replaced AS (UPDATE {reading} r SET import_kwh = c.import_kwh, "  # noqa: S608
        f"export_kwh = c.export_kwh, quality = c.quality, source = c.source, "
        f"received_at = c.received_at FROM changed_readings c JOIN {reading} was "
        f"ON was.id = c.id AND was.interval_start = c.interval_start "
        f"AND was.interval_start BETWEEN %s AND %s "
        f"WHERE r.id = c.id AND r.interval_start = c.interval_start "
        f"AND r.interval_start BETWEEN %s AND %s "
        f"RETURNING was.id, was.import_kwh, was.export_kwh, was.quality, was.source, "
        f"c.received_at, c.source AS replaced_by) "
        f"INSERT INTO {revision} (reading_id, import_kwh, export_kwh, quality, source, "
        f"replaced_at, replaced_by_source) SELECT * FROM replaced",
        [first, last, first, last],
    )
    if cursor.rowcount != len(rows):
        raise RuntimeError(f"{reading}: {len(rows)} readings to correct, {cursor.rowcount} found")

"""The readings table's month partitions on PostgreSQL (elsewhere the table is one plain table
and these are no-ops).

`metering_reading` is RANGE-partitioned on `interval_start` by NZ calendar month (migration
0008): a partition runs from NZ midnight on the 1st to NZ midnight on the next 1st, in UTC. NZ
months because everything that reads a month reads an NZ one (an EIEP file's report month, a
resident's month on the Energy page, a monthly statement), so each such read touches one
partition. Partitions are named `metering_reading_YYYY_MM`; a DEFAULT partition
(`metering_reading_default`) takes any row whose month has none, so no writer ever fails for
want of one.

Months are made ahead by beat (metering.tasks.reading_partitions_ahead) and, so that nothing
depends on beat, by every write path for the months it is about to write
(`reading_partitions_ensure`). When a month is made whose rows already sit in the default
partition, they are moved into it in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from coop import nz
from metering.models import Reading

PARENT = Reading._meta.db_table
DEFAULT = f"{PARENT}_default"
# pg_advisory_xact_lock key serialising partition changes (two workers making the same month).
LOCK_KEY = 0x4D65_7465_7250  # "MeterP"
# pg_advisory_xact_lock(MONTH_LOCK_CLASS, yyyymm): writers of a month hold it shared, and a load
# that swaps the month's partition (metering.services.month_load) holds it alone.
MONTH_LOCK_CLASS = 0x4D52  # "MR"


class PartitionDetached(RuntimeError):
    """A month's table exists but is not attached (archived): it is not silently replaced."""


def month_of(instant: dt.datetime) -> dt.date:
    """The first day of the NZ month an instant falls in."""
    return instant.astimezone(nz.NZ).date().replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """UTC [start, end) of an NZ month: its partition's bounds."""
    return nz.trading_day_start(month), nz.trading_day_start(next_month(month))


def partition_name(month: dt.date) -> str:
    return f"{PARENT}_{month:%Y_%m}"


def months_between(first: dt.datetime, last: dt.datetime) -> list[dt.date]:
    """The NZ months that instants first..last (inclusive) touch."""
    month, end = month_of(first), month_of(last)
    months = []
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def reading_partitions_ensure(*, first: dt.datetime, last: dt.datetime) -> list[str]:
    """Make sure every NZ month from `first` to `last` has its partition; returns the names of
    those made. Idempotent and safe when two workers race (an advisory lock, then a second
    look). A no-op outside PostgreSQL.

    Cheap when the months are there (one catalog query, no lock), as they are for every write
    but the first of a month: write paths call it for the months they touch. Making a month
    locks the default partition for the rest of the transaction (and reads that may need it
    wait), so callers make months before, not inside, a long write."""
    if connection.vendor != "postgresql":
        return []
    months = months_between(first, last)
    if not _missing(months):
        return []
    made = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        missing = _missing(months)  # another worker may have made them while we waited
        if missing:
            # ATTACH takes this lock anyway; taking it first means no row can arrive in the
            # default partition between moving a month's rows out and attaching the month.
            cursor.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
        for month in missing:
            made.append(_make(cursor, month))
    return made


def months_write_lock(*, first: dt.datetime, last: dt.datetime) -> None:
    """Hold the months first..last for writing until the transaction ends: a month load
    (metering.services.month_load) swaps a month's partition only when nobody writes to it.
    Every write path takes it before it writes (a no-op outside PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    keys = [month_key(m) for m in months_between(first, last)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, k) FROM unnest(%s::int[]) k",
            [MONTH_LOCK_CLASS, keys],
        )


def month_key(month: dt.date) -> int:
    return month.year * 100 + month.month


def _missing(months: list[dt.date]) -> list[dt.date]:
    names = {partition_name(m): m for m in months}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.inhparent IS NOT NULL FROM pg_class c "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = %s::regclass "
            "WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace",
            [PARENT, list(names)],
        )
        found = dict(cursor.fetchall())
    detached = sorted(name for name, attached in found.items() if not attached)
    if detached:
        raise PartitionDetached(
            f"{', '.join(detached)} exist but are not partitions of {PARENT} (archived?): "
            f"attach them again (ALTER TABLE {PARENT} ATTACH PARTITION ...) or rename them"
        )
    return [m for name, m in names.items() if name not in found]


def _make(cursor: CursorWrapper, month: dt.date) -> str:
    """Create one month's partition, moving its rows out of the default partition.

    CREATE TABLE ... PARTITION OF would lock the whole readings table (ACCESS EXCLUSIVE);
    a table of its own, filled and then attached, holds it only SHARE UPDATE EXCLUSIVE, which
    readers and writers do not wait for."""
    name = partition_name(month)
    start, end = (f"'{b.isoformat()}'" for b in month_bounds(month))
    execute = cursor.execute
    execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING STORAGE)")
    execute(f"ALTER TABLE {name} ALTER COLUMN id SET DEFAULT {id_default()}")
    execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE interval_start >= {start} "  # noqa: S608
        f"AND interval_start < {end} RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")
    return name


def id_default() -> str:
    """A partition's own default for `id`, the parent's sequence (PostgreSQL 15 gives a
    partition no identity of its own), so that rows can be written to a month directly."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [PARENT])
        (sequence,) = cursor.fetchone()
    return f"nextval('{sequence}'::regclass)"

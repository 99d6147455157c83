"""`manage.py bench_metering --rows N [--table-rows M]`: bulk EIEP3 imports into the configured
database, each timed stage by stage.

The file is generated first (not timed); the timed part is what an admin's upload does: parse,
validate, aggregate, write, commit (metering.services.eiep_import). Passes, each its own
import of N rows for new bench ICPs in one NZ month:
- `first`: the month has no readings (on PostgreSQL: loaded whole, metering.services.month_load);
- `repeat`: the same file again: every half hour unchanged, nothing written;
- `corrections`: the file with a share of its values changed: revisions kept, readings updated;
- `shared_month`: half the ICPs' readings deleted, then the file again: half new into a month
  that already holds readings (the ordinary COPY), the other half changed back from the
  corrections.
On SQLite only `first` runs by default (the ORM path: correct, not fast). Each pass reports wall
seconds, rows per second, seconds per stage and CPU seconds (this process and, when the server
runs on this machine, its PostgreSQL backend): on a shared machine the CPU is the steadier figure.

With `--table-rows M` (PostgreSQL), the readings table is first filled to M bench rows (ICPs x
the 24 NZ months of 2024-2025, set-based SQL, not timed, progress on stderr; reused when already
there), each month written ICP by ICP as an imported file is (`--fill-order icp`, the default)
or half hour by half hour as the meter poller writes (`--fill-order time`). The JSON then also
has the Energy page's ICP-month query time (`energy_query_ms`: the member's readings of one ICP
for one NZ month, metering.selectors.held_readings, median and max over `--queries` random ICPs
and months, and the partitions its plan reads). `--drop-table-rows` removes the fill again (given
alone, it only drops).

Prints one JSON line last. Leaves no bench ICP, reading or member behind (the fill's, unless
kept for the next run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from config.benchmarks import database_ready
from coop import nz
from coop.models import ICP, ICPHolding, Member
from metering.bench_data import icp_readings_delete
from metering.formats import eiep3
from metering.models import Reading
from metering.selectors import held_readings
from metering.services import month_load
from metering.services.eiep_import import ImportResult, eiep3_import
from metering.services.partitions import (
    month_bounds,
    partition_name,
    reading_partitions_ensure,
)
from metering.stopwatch import stages_timed

MONTH = dt.date(2026, 5, 1)  # the bench file's NZ month
FILL_MONTHS = [dt.date(2024 + k // 12, k % 12 + 1, 1) for k in range(24)]
PASSES = ("first", "repeat", "corrections", "shared_month")
BENCH_BASE = 8_800_000_000
FILL_BASE = 7_700_000_000
ENERGY_USER = "bench-energy"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _icps(count: int, base: int, letters: str, label: str) -> list[ICP]:
    identifiers = []
    for i in range(count):
        head = f"{base + i:010d}{letters}"
        identifiers.append(head + nz.icp_checksum(head))
    ICP.objects.bulk_create(
        [
            ICP(
                identifier=identifier,
                address=f"{label} {i}",
                grid_exit_point="PEN0331",
                latitude=Decimal("-36.9"),
                longitude=Decimal("174.8"),
            )
            for i, identifier in enumerate(identifiers)
        ],
        ignore_conflicts=True,
    )
    return list(ICP.objects.filter(identifier__in=identifiers).order_by("pk"))


def _vacuum() -> None:
    if connection.vendor == "postgresql":
        # No dead rows for the next pass (or the next run) to wade through.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {Reading._meta.db_table}")


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument(
            "--passes",
            default=None,
            help=f"comma-separated, of {', '.join(PASSES)} (default: all; SQLite: first)",
        )
        parser.add_argument(
            "--correct-share", type=float, default=0.1, help="of the rows the corrections change"
        )
        parser.add_argument("--table-rows", type=int, default=0)
        parser.add_argument(
            "--fill-order",
            choices=("icp", "time"),
            default="icp",
            help="the fill's rows as imported files write them (icp) or as the poller (time)",
        )
        parser.add_argument("--drop-table-rows", action="store_true")
        parser.add_argument("--queries", type=int, default=25)

    def handle(
        self,
        *args: Any,
        rows: int,
        passes: str | None,
        correct_share: float,
        table_rows: int,
        fill_order: str,
        drop_table_rows: bool,
        queries: int,
        **options: Any,
    ) -> None:
        database_ready()
        postgres = connection.vendor == "postgresql"
        if (table_rows or drop_table_rows) and not postgres:
            raise CommandError("--table-rows and --drop-table-rows need PostgreSQL")
        if drop_table_rows and not table_rows and passes is None:
            _fill_drop()
            self.stdout.write(json.dumps({"dropped": True, "database": connection.vendor}))
            return
        wanted = (passes or (",".join(PASSES) if postgres else "first")).split(",")
        if unknown := set(wanted) - set(PASSES):
            raise CommandError(f"unknown passes {sorted(unknown)}: choose from {PASSES}")
        # Loaded once per worker process in a server; not part of any one upload.
        import pyarrow.csv  # noqa: F401

        figures: dict[str, Any] = {"database": connection.vendor}
        fill_icps: list[ICP] = []
        if table_rows:
            fill_icps = _fill(table_rows, fill_order)
            figures["fill_order"] = fill_order
        icps = _icps(max(1, rows // (48 * 30)), BENCH_BASE, "BN", "Bench")
        icp_readings_delete([icp.pk for icp in icps])  # a run cut short leaves them
        _vacuum()
        try:
            figures.update(_imports(icps, rows, wanted, correct_share))
            if fill_icps:
                figures["table_rows"] = _count()
                figures["energy_query_ms"] = _energy_queries(fill_icps, queries)
        finally:
            ids = [icp.pk for icp in icps]
            icp_readings_delete(ids)
            ICP.objects.filter(pk__in=ids).delete()  # leave no trace
            _vacuum()
            if drop_table_rows:
                _fill_drop()
        self.stdout.write(json.dumps(figures))


def _records(icps: list[ICP], rows: int) -> list[tuple]:
    records = []
    for icp in icps:
        for day in range(30):
            date = MONTH + dt.timedelta(days=day)
            for period in range(1, 49):
                kwh = Decimal(100 + (period * 37 + day) % 900) / 1000
                records.append((icp.identifier, "X1", "F", date, period, kwh, "X", ""))
                if len(records) >= rows:
                    return records
    return records


def _database_cpu() -> float | None:
    """CPU seconds the database server process serving this connection has used, when it runs
    on this machine (Linux): on a shared machine, what an import cost is clearer in CPU time
    than in wall time."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # another machine's server
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(text: str, source: str) -> tuple[ImportResult, dict[str, Any]]:
    database = _database_cpu()
    own = time.process_time()
    start = time.perf_counter()
    with stages_timed() as stages:
        result = eiep3_import(text=text, source=source)
    seconds = time.perf_counter() - start
    cpu = {"python": round(time.process_time() - own, 3)}
    if database is not None:
        cpu["database"] = round((_database_cpu() or 0) - database, 3)
    return result, {
        "seconds": round(seconds, 3),
        "rows_per_second": round(result.readings / seconds),
        "stages": {k: round(v, 3) for k, v in stages.items()},
        "cpu_seconds": cpu,
    }


def _imports(icps: list[ICP], rows: int, passes: list[str], correct_share: float) -> dict[str, Any]:
    records = _records(icps, rows)
    text = eiep3.write(records)
    _stderr(f"bench_metering: {len(records)} rows for {len(icps)} ICPs, passes {passes}")
    out: dict[str, Any] = {"rows": len(records)}
    if "first" in passes or len(passes) > 1:
        # The later passes need the month stored; untimed unless asked for. The month's
        # partition made first, as beat would have.
        reading_partitions_ensure(first=month_bounds(MONTH)[0], last=month_bounds(MONTH)[0])
        before = _partition_oid(MONTH)
        result, figures = _timed(text, "bench")
        if "first" in passes:
            out.update(readings=result.readings, **figures)
            # Loaded whole: the month's partition is a new table.
            out["month_load"] = before is not None and _partition_oid(MONTH) != before
    if "repeat" in passes:
        result, figures = _timed(text, "bench")
        out["repeat"] = {"unchanged": result.readings - result.created - result.changed, **figures}
    if "corrections" in passes:
        step = max(1, round(1 / correct_share))
        fixed = [
            (*r[:5], r[5] + Decimal("0.001"), *r[6:]) if k % step == 0 else r
            for k, r in enumerate(records)
        ]
        result, figures = _timed(eiep3.write(fixed), "bench-fix")
        out["corrections"] = {"share": round(1 / step, 3), "changed": result.changed, **figures}
    if "shared_month" in passes:
        half = [icp.pk for icp in icps[: len(icps) // 2]]
        icp_readings_delete(half)
        _vacuum()
        result, figures = _timed(text, "bench")
        out["shared_month"] = {"new": result.created, "changed": result.changed, **figures}
    return out


def _partition_oid(month: dt.date) -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [partition_name(month)])
        return cursor.fetchone()[0]


def _count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Reading._meta.db_table}")  # noqa: S608
        return int(cursor.fetchone()[0])


def _fill_icps(table_rows: int) -> list[ICP]:
    half_hours = sum(
        (month_bounds(m)[1] - month_bounds(m)[0]) // nz.TRADING_PERIOD for m in FILL_MONTHS
    )
    return _icps(-(-table_rows // half_hours), FILL_BASE, "BF", "Bench fill")


def _fill(table_rows: int, order: str) -> list[ICP]:
    """The readings table holding `table_rows` bench readings (whole ICPs x months), each
    month's rows written ICP by ICP as an imported file's are (`order` "icp"), or half hour by
    half hour as the meter poller's are ("time")."""
    icps = _fill_icps(table_rows)
    ids = [icp.pk for icp in icps]
    source = f"bench-fill-{order}"
    reading = Reading._meta.db_table
    reading_partitions_ensure(
        first=month_bounds(FILL_MONTHS[0])[0], last=month_bounds(FILL_MONTHS[-1])[0]
    )
    started = time.perf_counter()
    for k, month in enumerate(FILL_MONTHS):
        start, end = month_bounds(month)
        expected = len(icps) * ((end - start) // nz.TRADING_PERIOD)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), count(*) FILTER (WHERE source = %s) FROM "  # noqa: S608
                f"{partition_name(month)} WHERE icp_id = ANY(%s)",
                [source, ids],
            )
            have, same = cursor.fetchone()
        if have == same == expected:
            continue
        if have:
            _fill_drop()  # an earlier fill cut short, or in the other order: again
            return _fill(table_rows, order)

        def generate(table: str, start: dt.datetime = start, end: dt.datetime = end) -> None:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (icp_id, interval_start, import_kwh, export_kwh, "  # noqa: S608
                    f"quality, source, received_at) "
                    f"SELECT i, t, ((i * 7919 + extract(epoch FROM t)::bigint / 1800) %% 1500) "
                    f"/ 1000.0, ((i + extract(epoch FROM t)::bigint / 1800) %% 7) / 10.0, "
                    f"'actual', %s, now() FROM unnest(%s::bigint[]) i, "
                    f"generate_series(%s::timestamptz, %s::timestamptz - interval '30 minutes', "
                    f"interval '30 minutes') t ORDER BY {'i, t' if order == 'icp' else 't, i'}",
                    [source, ids, start, end],
                )

        with transaction.atomic(), connection.cursor() as cursor:
            if not month_load.month_load(cursor, month, generate, expected):
                generate(reading)
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {partition_name(month)}")
        _stderr(
            f"bench_metering: filled {month:%Y-%m} ({k + 1}/{len(FILL_MONTHS)}): {expected} rows, "
            f"{time.perf_counter() - started:.0f} s"
        )
    return icps


def _fill_drop() -> None:
    """The fill's readings and ICPs gone; a month holding nothing else is dropped whole."""
    icps = list(ICP.objects.filter(address__startswith="Bench fill ").order_by("pk"))
    if not icps:
        return
    ids = [icp.pk for icp in icps]
    reading = Reading._meta.db_table
    for month in FILL_MONTHS:
        name = partition_name(month)
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is None:
                continue
            cursor.execute(
                f"SELECT EXISTS (SELECT FROM {name} WHERE source NOT LIKE %s)",  # noqa: S608
                ["bench-fill-%"],
            )
            if cursor.fetchone()[0]:
                continue  # other readings too: deleted row by row below
            cursor.execute(f"ALTER TABLE {reading} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
        _stderr(f"bench_metering: dropped {name}")
    icp_readings_delete(ids)
    ICP.objects.filter(pk__in=ids).delete()
    _vacuum()


def _energy_queries(icps: list[ICP], queries: int) -> dict[str, Any]:
    """The Energy page's read of one ICP's NZ month, for random ICPs and months."""
    user = get_user_model().objects.create_user(username=ENERGY_USER, password=None)
    member = Member.objects.create(user=user, display_name="Bench energy")
    picks = random.Random(7)
    times, counts = [], []
    plan = ""
    try:
        for k in range(queries):
            icp = picks.choice(icps)
            month = picks.choice(FILL_MONTHS)
            ICPHolding.objects.filter(member=member).delete()
            ICPHolding.objects.create(icp=icp, member=member, started_on=FILL_MONTHS[0])
            start, end = month_bounds(month)
            begun = time.perf_counter()
            rows = list(held_readings(member, start, end))
            times.append((time.perf_counter() - begun) * 1000)
            counts.append(len(rows))
            if k == 0:
                query = held_readings(member, start, end)
                plan = "\n".join(str(line) for line in [query.explain()])
    finally:
        ICPHolding.objects.filter(member=member).delete()
        member.delete()
        user.delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [Reading._meta.db_table],
        )
        months = {row[0] for row in cursor.fetchall()}
    scanned = sorted(months.intersection(plan.replace("(", " ").split()))
    return {
        "queries": queries,
        "median": round(statistics.median(times), 2),
        "max": round(max(times), 2),
        "rows_per_query": round(statistics.mean(counts)),
        "partitions_scanned": scanned,
    }

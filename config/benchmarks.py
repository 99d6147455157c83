"""What every bench needs: the configured database there and migrated, and the CPU its processes
used.

A bench runs on a fresh clone right after `make test`, with no manual step: on the embedded
defaults that is a SQLite file under var/ that nothing has created yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psutil
from django.conf import settings
from django.core.management import call_command
from django.db import connection, models


def database_ready() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)  # a no-op when up to date


def tables_vacuum(*tables: type[models.Model]) -> None:
    """VACUUM (ANALYZE) these models' tables on PostgreSQL, before a bench measures: what earlier
    runs wrote and deleted stays behind as dead rows until a vacuum, and where autovacuum is off
    (as on this project's test machines) or behind, each run would measure a table more bloated
    than the last run's. Nothing on SQLite."""
    if connection.vendor != "postgresql":
        return
    names = ", ".join(connection.ops.quote_name(t._meta.db_table) for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {names}")


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """{pid: user + system CPU seconds so far} of those of `pids` still running."""
    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[pid] = times.user + times.system
    return seconds

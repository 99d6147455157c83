"""What every bench needs first: the configured database there and migrated.

A bench runs on a fresh clone right after `make test`, with no manual step: on the embedded
defaults that is a SQLite file under var/ that nothing has created yet.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command


def database_ready() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)  # a no-op when up to date

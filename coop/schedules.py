"""The beat schedule: each app declares its periodic tasks in `<app>/schedules.py` (a BEAT
list), and `manage.py install_schedules` writes them as django-celery-beat rows, which beat
reads (and an admin can then retime in Admin -> Periodic tasks).

Installing is idempotent and never overwrites a row an admin has changed: an entry is found by
its name and only created when missing. `make run` installs them through seed_demo; a
production deployment runs `manage.py install_schedules` after `migrate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

# In layer order; each names its own tasks (a string import keeps the layers one-way).
APPS = ("metering", "trading", "blockchain")


@dataclass(frozen=True)
class Beat:
    name: str
    task: str
    every_seconds: int | None = None
    minutes: str | None = None  # a crontab's minute field, e.g. "0,30": every half hour
    hours: str = "*"

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.minutes is None):
            raise ValueError(f"{self.name}: give every_seconds or minutes, not both or neither")


def declared() -> list[Beat]:
    """Every app's entries."""
    return [beat for app in APPS for beat in import_module(f"{app}.schedules").BEAT]


@transaction.atomic
def install(beats: Iterable[Beat] | None = None) -> list[str]:
    """Create the entries that are missing; the names of those created."""
    created = []
    for beat in declared() if beats is None else beats:
        if beat.every_seconds is not None:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=beat.every_seconds, period=IntervalSchedule.SECONDS
            )
            when: dict = {"interval": interval}
        else:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=beat.minutes,
                hour=beat.hours,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
            )
            when = {"crontab": crontab}
        _, made = PeriodicTask.objects.get_or_create(
            name=beat.name, defaults={"task": beat.task, **when}
        )
        if made:
            created.append(beat.name)
    return created

"""The beat schedule every deployment gets from `manage.py install_schedules`."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from coop.schedules import Beat, declared, install

pytestmark = pytest.mark.django_db


def test_every_declared_task_exists_and_is_installed_once():
    from config.celery import app

    app.loader.import_default_modules()
    beats = declared()
    assert {b.task for b in beats} <= set(app.tasks), "a schedule names a task no app defines"
    assert {"trading.tasks.market_tick", "metering.tasks.poll_meters"} <= {b.task for b in beats}
    assert sorted(install()) == sorted(b.name for b in beats)
    assert install() == []
    assert PeriodicTask.objects.count() == len(beats)


def test_an_entry_an_admin_retimed_is_left_as_it_is(capsys):
    install()
    tick = PeriodicTask.objects.get(name="Market tick")
    tick.enabled = False
    tick.save()
    call_command("install_schedules")
    assert "present  Market tick" in capsys.readouterr().out
    assert not PeriodicTask.objects.get(name="Market tick").enabled


def test_a_half_hourly_entry_is_a_crontab():
    install([Beat("Every half hour", "trading.tasks.energy_plans_make", minutes="0,30")])
    task = PeriodicTask.objects.get(name="Every half hour")
    assert (task.crontab.minute, task.interval) == ("0,30", None)
    with pytest.raises(ValueError, match="not both"):
        Beat("Both", "x", every_seconds=60, minutes="0")

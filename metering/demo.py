"""Demo part of metering: a simulated meter on every demo ICP, and the polling schedule."""

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from coop.models import ICP
from metering.models import Meter


def every_minute() -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    return schedule


def seed() -> None:
    for icp in ICP.objects.filter(meter__isnull=True):
        Meter.objects.create(icp=icp, adapter=Meter.Adapter.SIMULATED)
    PeriodicTask.objects.get_or_create(
        name="Poll meters",
        defaults={"task": "metering.tasks.poll_meters", "interval": every_minute()},
    )

"""Demo part of the chain: the beat tasks that commit settled periods and follow the chain."""

from django_celery_beat.models import IntervalSchedule, PeriodicTask

BEAT_TASKS = [
    # (name, task, every seconds)
    ("Chain: commit settled periods in order", "blockchain.tasks.commit_pending", 60),
    ("Chain: follow blocks and contract events", "blockchain.tasks.index_chain", 30),
]


def seed() -> None:
    for name, task, seconds in BEAT_TASKS:
        schedule, _ = IntervalSchedule.objects.get_or_create(
            every=seconds, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": schedule})

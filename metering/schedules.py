"""Metering's periodic tasks (coop.schedules)."""

from coop.schedules import Beat

BEAT = [
    Beat("Poll meters", "metering.tasks.poll_meters", every_seconds=60),
    # This NZ month's partition of the readings table and the next three (PostgreSQL; every
    # write path also makes the months it writes, so nothing waits on this).
    Beat(
        "Make reading partitions ahead",
        "metering.tasks.reading_partitions_ahead",
        every_seconds=86_400,
    ),
]

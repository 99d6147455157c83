"""Metering's periodic tasks (coop.schedules)."""

from coop.schedules import Beat

BEAT = [
    Beat("Poll meters", "metering.tasks.poll_meters", every_seconds=60),
]

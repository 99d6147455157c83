"""Beat polls every meter each minute, in batches (one task per batch, not per meter), and makes
the readings table's month partitions ahead once a day."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from metering.selectors import due_meter_ids
from metering.services.partitions import (
    month_bounds,
    month_of,
    next_month,
    reading_partitions_ensure,
)
from metering.services.polling import batches, meters_poll

MONTHS_AHEAD = 3


@shared_task(ignore_result=True)
def poll_meters() -> int:
    """Meters backing off after misses wait for their next_poll_at (polling.backoff)."""
    ids = due_meter_ids(timezone.now())
    for batch in batches(ids):
        # Sent once whatever encloses this has committed (at once outside a transaction).
        transaction.on_commit(partial(poll_batch.delay, batch))
    return len(ids)


# No task retries: meters_poll records each meter's failure and its backoff itself.
@shared_task(ignore_result=True)
def poll_batch(meter_ids: list[int]) -> dict:
    return meters_poll(meter_ids=meter_ids)


@shared_task(ignore_result=True)
def reading_partitions_ahead() -> list[str]:
    """This NZ month's partition and the next MONTHS_AHEAD, so that the poller's first reading
    of a month never waits for one to be made (the write paths make any month they need
    themselves, so a missed day changes nothing). Safe to run twice."""
    now = timezone.now()
    month = month_of(now)
    for _ in range(MONTHS_AHEAD):
        month = next_month(month)
    return reading_partitions_ensure(first=now, last=month_bounds(month)[0])

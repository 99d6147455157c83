"""Beat polls every meter each minute, in batches (one task per batch, not per meter)."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from metering.selectors import due_meter_ids
from metering.services.polling import batches, meters_poll


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

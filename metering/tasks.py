"""Beat polls every meter each minute, in batches (one task per batch, not per meter)."""

from celery import shared_task
from django.utils import timezone

from metering.polling import batches, due_meter_ids, meters_poll


@shared_task(ignore_result=True)
def poll_meters() -> int:
    """Meters backing off after misses wait for their next_poll_at (polling.backoff)."""
    ids = due_meter_ids(timezone.now())
    for batch in batches(ids):
        poll_batch.delay(batch)
    return len(ids)


# No task retries: meters_poll records each meter's failure and its backoff itself.
@shared_task(ignore_result=True)
def poll_batch(meter_ids: list[int]) -> dict:
    return meters_poll(meter_ids=meter_ids)

"""Beat polls every meter each minute, in batches (one task per batch, not per meter)."""

from celery import shared_task

from metering.models import Meter
from metering.polling import batches, meters_poll


@shared_task(ignore_result=True)
def poll_meters() -> int:
    ids = list(Meter.objects.order_by("pk").values_list("pk", flat=True))
    for batch in batches(ids):
        poll_batch.delay(batch)
    return len(ids)


@shared_task(
    ignore_result=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3
)
def poll_batch(meter_ids: list[int]) -> dict:
    return meters_poll(meter_ids=meter_ids)

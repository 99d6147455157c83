from celery import shared_task

from trading.live.services import prices_poll


@shared_task(ignore_result=True, soft_time_limit=60)
def poll_prices() -> dict:
    return prices_poll()

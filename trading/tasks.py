"""Beat-driven market tasks. Each calls one service and is safe to run twice."""

from celery import shared_task

from trading.services import periods, standing


@shared_task(ignore_result=True)
def market_tick() -> dict:
    """Every minute: periods ahead exist, standing orders are placed, due periods move on."""
    created = periods.periods_ensure()
    placed = standing.standing_orders_place()
    moved = periods.periods_advance()
    return {"created": created, "placed": placed, **moved}


@shared_task(bind=True, ignore_result=True, max_retries=5, default_retry_delay=10)
def rerun_period(self, period_id: int) -> None:
    periods.periods_advance()

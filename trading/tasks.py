"""Market tasks, from beat and from signals. Each calls one service and is safe to run twice."""

import logging

from celery import Task, shared_task
from django.utils import timezone

from coop.models import Member
from metering.models import Meter
from metering.services.dispatch import dispatch_send
from trading import demo_history
from trading.live import broadcast
from trading.live.power import push_member_power
from trading.live.snapshot import display_snapshot, period_cleared
from trading.models import TradingPeriod
from trading.services import energy_manager, network_prices, periods, standing
from trading.services.corrections import period_resettle as resettle

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def market_tick() -> dict:
    """Every minute: periods ahead exist, standing orders are placed, due periods move on."""
    created = periods.periods_ensure()
    if network_prices.prices_missing(now=timezone.now()):
        # Start-up or a new feeder: price now rather than wait for the hourly run.
        network_prices.feeder_prices_publish()
    placed = standing.standing_orders_place()
    moved = periods.periods_advance()
    queued = _gate_closures_queue()
    _push_live()
    return {"created": created, "placed": placed, **moved, "gate_closures_queued": queued}


def _gate_closures_queue() -> int:
    """Queue each gate closure due in the next few minutes to run at its instant. A broker
    that refuses loses nothing: the claimed period is still closed by a later tick."""
    queued = 0
    for period_id, at in periods.gate_closures_schedule():
        try:
            gate_closure.apply_async((period_id,), eta=at)
            queued += 1
        except Exception:
            log.exception(
                "trading period %s: gate closure not queued; the tick will close it", period_id
            )
    return queued


@shared_task(bind=True, ignore_result=True)
def gate_closure(self: Task, period_id: int) -> dict:
    """At a period's gate closure: close the gate, clear the book, and put the cleared price on
    every screen at once (the tick's full snapshot follows within the minute)."""
    at = TradingPeriod.objects.filter(pk=period_id).values_list("gate_closes_at", flat=True).first()
    if at is not None and at > timezone.now():
        # Delivered early (the clocks of two machines disagree): wait for the instant again. In
        # process (eager) there is no waiting: the tick closes it.
        if not self.request.is_eager:
            gate_closure.apply_async((period_id,), eta=at)
        return {"closed": False, "cleared": False, "early": True}
    closed = periods.period_close_gate(period_id=period_id)
    cleared = periods.period_clear(period_id=period_id)
    if cleared:
        broadcast.to_display("cleared", period_cleared(period_id))
    return {"closed": closed, "cleared": cleared, "early": False}


def _push_live() -> None:
    """Residents' dashboards and the wall display see the market move without reloading."""

    push_member_power(Member.objects.filter(status="active").values_list("pk", flat=True))
    broadcast.to_display("snapshot-refresh", display_snapshot())


@shared_task(ignore_result=True)
def period_resettle(period_id: int, reason: str) -> bool:
    """A period's readings were corrected: settle it again as an amendment (if it differs)."""

    return resettle(period_id=period_id, reason=reason) is not None


@shared_task(ignore_result=True)
def network_prices_publish() -> dict:
    """Every hour (and at start-up): time-value prices for every feeder, 48 h ahead."""
    published = network_prices.feeder_prices_publish()
    return {
        "periods": published.periods,
        "feeders": published.feeders,
        "fallbacks": published.fallbacks,
        "seconds": round(published.seconds, 2),
    }


@shared_task(ignore_result=True)
def energy_plans_make() -> dict:
    """At the start of every trading period: each opted-in home's battery and EV plan, its
    dispatch and the next periods' orders (receding horizon)."""
    planned = energy_manager.plans_make()
    # The half hour that has just begun: its setpoints to the real devices (a device that
    # refuses or does not answer leaves its home on self-consumption, recorded on the meter).
    sent = dispatch_send(
        meter_ids=list(
            Meter.objects.exclude(adapter=Meter.Adapter.SIMULATED).values_list("pk", flat=True)
        ),
        now=timezone.now(),
    )
    return {
        **sent,
        "homes": planned.homes,
        "fallbacks": planned.fallbacks,
        "orders": planned.orders,
        "seconds": round(planned.seconds, 2),
    }


@shared_task(ignore_result=True)
def demo_history_seed() -> int:
    """Once, after the demo starts: a fortnight of settled history (trading.demo_history)."""
    return demo_history.history_seed()

"""Market tasks, from beat and from signals. Each calls one service and is safe to run twice."""

from celery import shared_task
from django.utils import timezone

from coop.models import Member
from metering.models import Meter
from metering.services.dispatch import dispatch_send
from trading import demo_history
from trading.live import broadcast
from trading.live.power import push_member_power
from trading.live.snapshot import display_snapshot
from trading.services import energy_manager, network_prices, periods, standing
from trading.services.corrections import period_resettle as resettle


@shared_task(ignore_result=True)
def market_tick() -> dict:
    """Every minute: periods ahead exist, standing orders are placed, due periods move on."""
    created = periods.periods_ensure()
    if network_prices.prices_missing(now=timezone.now()):
        # Start-up or a new feeder: price now rather than wait for the hourly run.
        network_prices.feeder_prices_publish()
    placed = standing.standing_orders_place()
    moved = periods.periods_advance()
    _push_live()
    return {"created": created, "placed": placed, **moved}


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

"""The market's periodic tasks (coop.schedules)."""

from django.conf import settings

from coop.schedules import Beat

BEAT = [
    # Periods ahead, standing orders, due periods moved on, gate closures queued at their
    # instant (trading.tasks.gate_closure), the live snapshot.
    Beat("Market tick", "trading.tasks.market_tick", every_seconds=60),
    Beat(
        "Poll wholesale prices",
        "trading.live.tasks.poll_prices",
        every_seconds=settings.PRICE_POLL_SECONDS,
    ),
    Beat("Home energy manager", "trading.tasks.energy_plans_make", minutes="0,30"),
    Beat("Time-value network prices", "trading.tasks.network_prices_publish", every_seconds=3600),
]

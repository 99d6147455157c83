"""Demo part of the market: standing orders so the community trades every half hour by itself,
the distributor's time-value windows, and the market's beat schedule."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from coop.demo import households
from coop.models import ICP
from trading.live.selectors import DISPLAY_NODES
from trading.live.services import prices_store
from trading.models import EnergyManager, NetworkPriceWindow, StandingOrder, WholesalePrice
from trading.prices import synthetic

T = dt.time
TIME_VALUE = [
    ("Winter evening peak", "Mon-Fri", T(17), T(21), "Apr-Sep", Decimal("6.0")),
    ("Midday solar", "All", T(10), T(15), "All", Decimal("-1.0")),
]


def seed() -> None:
    _seed_price_history()
    if not NetworkPriceWindow.objects.exists():
        for label, days, start, end, months, price in TIME_VALUE:
            NetworkPriceWindow.objects.create(
                label=label, days=days, start_time=start, end_time=end, months=months, price_c=price
            )
    for n, home in enumerate(households()):
        icp = (
            ICP.objects.filter(member__user__username=home.username)
            .select_related("member")
            .first()
        )
        if icp is None or icp.member is None or StandingOrder.objects.filter(icp=icp).exists():
            continue
        if home.pv_kwp:
            StandingOrder.objects.create(
                member=icp.member,
                icp=icp,
                side=StandingOrder.Side.SELL_SURPLUS,
                limit_price_c=Decimal(14 + n % 4),
                max_kwh=Decimal("3.000"),
                start_time=T(7),
                end_time=T(19),
            )
        else:
            StandingOrder.objects.create(
                member=icp.member,
                icp=icp,
                side=StandingOrder.Side.BUY,
                limit_price_c=Decimal(22 + n % 5),
                max_kwh=Decimal("1.000"),
                start_time=T(6),
                end_time=T(22),
            )
        # The EVs have no standing rule: the energy manager schedules their charging (a
        # flexible buy beside the owner's sell-surplus rule would cross it).

    _seed_energy_managers()
    # A fortnight of history, traded by the worker once beat is up (first visits see trades).
    soon, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(
        name="Demo history (once)",
        defaults={"task": "trading.tasks.demo_history_seed", "interval": soon, "one_off": True},
    )


def _seed_energy_managers() -> None:
    """The demo's battery and EV owners have opted in, and the battery owners let their
    batteries sell to neighbours (a new resident's default is no export)."""
    for icp in ICP.objects.filter(member__isnull=False).prefetch_related("batteries", "evs"):
        has_battery, has_ev = icp.batteries.exists(), icp.evs.exists()
        if (has_battery or has_ev) and not EnergyManager.objects.filter(icp=icp).exists():
            EnergyManager.objects.create(
                icp=icp,
                battery_enabled=has_battery,
                battery_may_export=has_battery,
                ev_enabled=has_ev,
            )


def _seed_price_history() -> None:
    """A first day of prices for the display, from the synthetic feed and labelled so, until
    the first poll of the configured source adds real ones."""

    if WholesalePrice.objects.exists():
        return
    now = timezone.now()
    prices_store(points=synthetic.points(DISPLAY_NODES, now - dt.timedelta(hours=24), now))

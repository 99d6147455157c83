"""Standing orders become orders for each open trading period they cover.

An order's size comes from a forecast of the ICP's surplus (to sell) or need (to buy) in that
half hour: the mean of the same half hour over the past week of readings where there are any,
else the ICP's PV capacity on a clear-sky shape. Flexible battery or EV windows buy only in the
periods of their window with the lowest time-value network price (known ahead), which is where
charging helps the network most.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal
from statistics import median

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from coop.nz import NZ
from coop.tariffs import Window, covered_slots, slot_key
from metering.selectors import coop_readings
from trading.models import FeederPrice, Order, StandingOrder, TradingPeriod
from trading.services.orders import CrossesOwnOrder, max_buy_kwh, max_sell_kwh, order_place

MIN_KWH = Decimal("0.010")
log = logging.getLogger(__name__)


def rule_slots(standing: StandingOrder) -> frozenset[tuple[int, int, int]]:
    """The (month, weekday, half hour) slots on the NZ wall clock that the rule covers."""
    return covered_slots(
        Window("", standing.days, standing.start_time, standing.end_time, "All", Decimal(0))
    )


def clear_sky_pv_kwh(kwp: Decimal, start: dt.datetime) -> Decimal:
    """A half hour's PV energy on a clear day: a sine over the NZ daylight hours of the season."""
    local = start.astimezone(NZ)
    day_of_year = local.timetuple().tm_yday
    # Daylight ~ 9.6 h at midwinter to ~14.7 h at midsummer in Auckland.
    daylight = 12.15 + 2.55 * math.cos(2 * math.pi * (day_of_year - 355) / 365)
    solar_noon = 12.5 if local.dst() else 12.4
    hour = local.hour + local.minute / 60 + 0.25
    x = (hour - (solar_noon - daylight / 2)) / daylight
    if not 0 < x < 1:
        return Decimal(0)
    peak_fraction = 0.62 + 0.18 * math.cos(2 * math.pi * (day_of_year - 355) / 365)
    kwh = float(kwp) * peak_fraction * math.sin(math.pi * x) ** 1.5 * 0.5
    return Decimal(str(round(kwh, 3)))


def recent_readings(
    icp_ids: set[int], starts: list[dt.datetime]
) -> dict[tuple[int, dt.datetime], tuple[Decimal, Decimal]]:
    """{(icp_id, interval_start): (import kWh, export kWh)} for the same half hours over the
    past week."""

    # The co-op's own data only: a resident's upload must not size their own orders either.
    past = {start - dt.timedelta(days=d) for start in starts for d in range(1, 8)}
    if not icp_ids or not past:
        return {}
    rows = (
        coop_readings()
        .filter(icp_id__any_of=icp_ids, interval_start__in=past)
        .values_list("icp_id", "interval_start", "import_kwh", "export_kwh")
    )
    return {(icp_id, at): (imported, exported) for icp_id, at, imported, exported in rows}


def forecast_kwh(
    standing: StandingOrder,
    start: dt.datetime,
    history: dict[tuple[int, dt.datetime], tuple[Decimal, Decimal]],
) -> Decimal:
    past = (start - dt.timedelta(days=d) for d in range(1, 8))
    readings = [r for when in past if (r := history.get((standing.icp_id, when)))]
    if readings:
        sell = standing.side == StandingOrder.Side.SELL_SURPLUS
        total = sum((exported if sell else imported for imported, exported in readings), Decimal(0))
        return (total / len(readings)).quantize(Decimal("0.001"))
    if standing.side == StandingOrder.Side.SELL_SURPLUS:
        kwp = sum((pv.capacity_kwp for pv in standing.icp.pv_systems.all()), Decimal(0))
        # About 40% of a house's PV output goes to its own load around midday.
        return (clear_sky_pv_kwh(kwp, start) * Decimal("0.6")).quantize(Decimal("0.001"))
    return standing.max_kwh


def _cheaper_half(
    standing: StandingOrder,
    window: list[TradingPeriod],
    network: dict[tuple[int, int], Decimal],
) -> list[TradingPeriod]:
    """The periods of a flexible load's window where it buys: the cheaper half, by its own
    feeder's forecast time-value price (the static signal where the feeder has none)."""

    def price(p: TradingPeriod) -> Decimal:
        if standing.icp.feeder_id is None:
            return p.network_price_c
        return network.get((standing.icp.feeder_id, p.pk), p.network_price_c)

    if not window:
        return []
    middle = median(price(p) for p in window)
    return [p for p in window if price(p) <= middle]


def standing_orders_place(*, now: dt.datetime | None = None) -> int:
    """Place the orders every active standing order owes to the open periods. Idempotent."""
    now = now or timezone.now()
    periods = list(
        TradingPeriod.objects.filter(
            state=TradingPeriod.State.OPEN, gate_closes_at__gt=now
        ).order_by("start")
    )
    standing_orders = list(
        StandingOrder.objects.filter(active=True)
        .select_related("member", "icp")
        .prefetch_related("icp__pv_systems", "icp__batteries")
    )
    done = set(
        Order.objects.filter(period__in=periods, standing_order__isnull=False).values_list(
            "standing_order_id", "period_id"
        )
    )
    network = {
        (row.feeder_id, row.period_id): row.price_c
        for row in FeederPrice.objects.filter(period__in=periods).only(
            "feeder_id", "period_id", "price_c"
        )
    }
    # Each period's wall-clock slot once, each rule's slots once: a rule and a period each a
    # time (a 5,000-member co-op's rules against two days of periods, and every flexible
    # rule's window priced again for each of its periods) took seconds a tick.
    slots = {p.pk: slot_key(p.start) for p in periods}
    owed = []
    for standing in standing_orders:
        if not standing.member.can_trade or standing.icp.member_id != standing.member_id:
            continue
        covered = rule_slots(standing)
        window = [p for p in periods if slots[p.pk] in covered]
        if standing.flexible_load:
            window = _cheaper_half(standing, window, network)
        owed += [(standing, p) for p in window if (standing.pk, p.pk) not in done]
    if not owed:
        return 0  # the tick's usual case: every open period has its orders already
    # The past week's readings for the orders owed alone: those of every open period (two
    # days ahead) for every rule took a 5,000-member co-op's tick 35 s a minute, 1.7 M rows,
    # with nothing to place; once a half hour a new period owes one order a rule.
    history = recent_readings({s.icp_id for s, _ in owed}, sorted({p.start for _, p in owed}))
    caps: dict[int, Decimal] = {}
    placed = 0
    for standing, period in owed:
        if standing.pk not in caps:
            caps[standing.pk] = (
                max_sell_kwh(standing.icp)
                if standing.side == StandingOrder.Side.SELL_SURPLUS
                else max_buy_kwh(standing.icp)
            )
        kwh = min(
            forecast_kwh(standing, period.start, history), standing.max_kwh, caps[standing.pk]
        )
        if kwh < MIN_KWH:
            continue
        try:
            with transaction.atomic():
                order_place(
                    member=standing.member,
                    icp=standing.icp,
                    period=period,
                    side=Order.Side.SELL
                    if standing.side == StandingOrder.Side.SELL_SURPLUS
                    else Order.Side.BUY,
                    energy_kwh=kwh,
                    limit_price_c=standing.limit_price_c,
                    now=now,
                    standing_order=standing,
                )
            placed += 1
        except IntegrityError:
            continue  # another worker placed it first
        except CrossesOwnOrder as exc:
            # The member's own rules (say "sell surplus at 10 c" and "buy at 30 c" over the
            # same hours), or an order they placed by hand, already have the other side of
            # this period at a crossing price. The first placed stands; this one is skipped
            # for this period only, and the rule carries on in the others.
            log.info(
                "standing order %s (member %s) skipped in %s: %s",
                standing.pk,
                standing.member_id,
                period,
                " ".join(exc.messages),
            )
            continue
        except (ValidationError, PermissionDenied):
            continue  # e.g. price outside a changed floor/cap: the rule waits to be edited
    return placed

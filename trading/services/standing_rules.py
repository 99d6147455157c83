"""A resident's standing orders: created, changed and removed only by their owner."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from coop.models import CoopSettings, Member
from coop.tariffs import TariffError, Window
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services import orders as order_services

MIDNIGHT = dt.time(0, 0)


def _check(member: Member, standing: StandingOrder) -> None:
    if standing.icp.member_id != member.pk:
        raise PermissionDenied(f"ICP {standing.icp} is not yours.")
    if standing.start_time == standing.end_time != MIDNIGHT:
        # 00:00-00:00 is the whole day, as in a tariff; any other equal pair is a slip.
        raise ValidationError(
            {
                "end_time": f"The rule would start and stop at {standing.start_time:%H:%M}. "
                "Choose when it stops, or make it all day (00:00 to 00:00)."
            }
        )
    settings = CoopSettings.load()
    if not settings.price_floor_c <= standing.limit_price_c <= settings.price_cap_c:
        raise ValidationError(
            f"The price must be between the co-op's floor {settings.price_floor_c} and cap "
            f"{settings.price_cap_c} c/kWh."
        )
    try:
        slots = _slots(standing)
    except TariffError as exc:
        raise ValidationError(str(exc)) from exc
    if standing.active:
        _check_not_overlapping(member, standing, slots)
        _check_not_crossing_own(member, standing, slots)


def rule_words(standing: StandingOrder) -> str:
    """A rule as its owner would recognise it: "Buy up to 1.000 kWh at 22.0000 c, Mon-Fri
    06:00-09:00"."""
    hours = (
        "all day"
        if standing.start_time == standing.end_time
        else f"{standing.start_time:%H:%M}-{standing.end_time:%H:%M}"
    )
    return f"{standing}, {standing.days} {hours}"


def _check_not_overlapping(
    member: Member, standing: StandingOrder, slots: set[tuple[int, int, int]]
) -> None:
    """Two active rules for the same ICP and side would both place an order in every half hour
    they share (twice the energy the resident meant): refused, naming the other rule."""
    others = (
        StandingOrder.objects.filter(
            member=member, icp_id=standing.icp_id, side=standing.side, active=True
        )
        .exclude(pk=standing.pk)
        .order_by("pk")
    )
    for other in others:
        if slots & _slots(other):
            raise ValidationError(
                f"This rule overlaps your rule \u201c{rule_words(other)}\u201d for the same ICP "
                "and side: both would place an order in the half hours they share. Change the "
                "days or hours, or edit that rule instead."
            )


def _slots(standing: StandingOrder) -> set[tuple[int, int, int]]:
    window = Window("", standing.days, standing.start_time, standing.end_time, "All", Decimal(0))
    return set(window.slots())


def _check_not_crossing_own(
    member: Member, standing: StandingOrder, slots: set[tuple[int, int, int]]
) -> None:
    """A member never trades with themselves: a rule that would buy at or above a price their
    own active rule sells at, in any half hour both cover, is refused when saved (rather than
    skipped each period with only a log line, where the resident would never hear of it)."""
    buying = standing.side == StandingOrder.Side.BUY
    others = (
        StandingOrder.objects.filter(member=member, active=True)
        .exclude(side=standing.side)
        .exclude(pk=standing.pk)
    )
    for other in others:
        crosses = (
            standing.limit_price_c >= other.limit_price_c
            if buying
            else standing.limit_price_c <= other.limit_price_c
        )
        if crosses and slots & _slots(other):
            mine = "buy at or below" if buying else "sell at or above"
            theirs = "sells at or above" if buying else "buys at or below"
            raise ValidationError(
                f"This rule would {mine} {standing.limit_price_c} c/kWh in hours when your rule "
                f"({other.days} {other.start_time:%H:%M}-{other.end_time:%H:%M}) {theirs} "
                f"{other.limit_price_c} c/kWh: you would trade with yourself. Change a price "
                "or the hours."
            )


def standing_order_save(*, member: Member, standing: StandingOrder) -> StandingOrder:
    if standing.pk and StandingOrder.objects.filter(pk=standing.pk).exclude(member=member).exists():
        raise PermissionDenied("That standing order is not yours.")
    standing.member = member
    _check(member, standing)
    standing.full_clean()
    standing.save()
    return standing


def standing_order_delete(*, member: Member, standing: StandingOrder) -> None:
    if standing.member_id != member.pk:
        raise PermissionDenied("That standing order is not yours.")
    standing.delete()


@transaction.atomic
def standing_order_orders_cancel(
    *, member: Member, standing: StandingOrder, now: dt.datetime | None = None
) -> int:
    """Cancel the open orders a rule placed in periods still open for orders; how many.

    Only the member's own; the rule itself stays (it does not place them again: a rule places
    one order per period, whatever became of it)."""
    if standing.member_id != member.pk:
        raise PermissionDenied("That standing order is not yours.")
    now = now or timezone.now()
    pending = Order.objects.filter(
        member=member,
        standing_order=standing,
        status=Order.Status.OPEN,
        period__state=TradingPeriod.State.OPEN,
        period__gate_closes_at__gt=now,
    ).order_by("period__start")
    cancelled = 0
    for order in pending:
        order_services.order_cancel(member=member, order=order, now=now)
        cancelled += 1
    return cancelled

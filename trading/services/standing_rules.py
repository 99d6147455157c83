"""A resident's standing orders: created, changed and removed only by their owner."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError

from coop.models import CoopSettings, Member
from coop.tariffs import TariffError, Window
from trading.models import StandingOrder


def _check(member: Member, standing: StandingOrder) -> None:
    if standing.icp.member_id != member.pk:
        raise PermissionDenied(f"ICP {standing.icp} is not yours.")
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
        _check_not_crossing_own(member, standing, slots)


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

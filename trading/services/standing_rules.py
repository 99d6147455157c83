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
        list(
            Window(
                "", standing.days, standing.start_time, standing.end_time, "All", Decimal(0)
            ).slots()
        )
    except TariffError as exc:
        raise ValidationError(str(exc)) from exc


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

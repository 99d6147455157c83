"""Placing, amending and cancelling orders until gate closure. Refused whole or stored whole."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from coop.models import ICP, CoopSettings, Member
from trading.models import Order, StandingOrder, TradingPeriod

HALF_HOUR_H = Decimal("0.5")


class CrossesOwnOrder(ValidationError):
    """The order would cross the same member's own opposite order in the period."""


MAX_MAGNITUDE = 10**9  # far beyond any order's kWh or c/kWh
# kWh or c/kWh as a caller gives it (a form, the API, a standing rule, text): _decimal checks it.
Amount = Decimal | int | float | str


def _decimal(value: object, what: str, places: int) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({what: f"{value!r} is not a number."}) from None
    if not number.is_finite():
        raise ValidationError({what: f"{what} must be a finite number."})
    # Bounded before quantize, which cannot hold 1e309 to a thousandth (InvalidOperation).
    if abs(number) >= MAX_MAGNITUDE:
        raise ValidationError({what: f"{what} must be less than {MAX_MAGNITUDE:,}."})
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationError({what: f"{what} takes at most {places} decimal places."})
    return number


def max_sell_kwh(icp: ICP) -> Decimal:
    """What an ICP's inverters and batteries could export in half an hour."""
    inverter = sum((pv.inverter_kw for pv in icp.pv_systems.all()), Decimal(0))
    battery = sum((b.power_kw for b in icp.batteries.all()), Decimal(0))
    return (inverter + battery) * HALF_HOUR_H


def max_buy_kwh(icp: ICP) -> Decimal:
    return icp.max_import_kw * HALF_HOUR_H


def _check_open(period: TradingPeriod, now: dt.datetime) -> None:
    if period.state != TradingPeriod.State.OPEN or now >= period.gate_closes_at:
        closes = timezone.localtime(period.gate_closes_at).strftime("%H:%M")
        raise ValidationError(
            f"Trading period {period} is closed for orders (gate closed at {closes} NZ time)."
        )


def _validate(
    member: Member,
    icp: ICP,
    side: str,
    kwh: Amount,
    price: Amount,
    settings: CoopSettings,
) -> tuple[Decimal, Decimal]:
    if icp.member_id != member.pk:
        raise PermissionDenied(f"ICP {icp} is not yours to trade.")
    if not member.can_trade:
        raise PermissionDenied("Only active members can trade.")
    if side not in Order.Side.values:
        raise ValidationError({"side": "Side must be buy or sell."})
    kwh = _decimal(kwh, "energy_kwh", 3)
    price = _decimal(price, "limit_price_c", 4)
    if kwh <= 0:
        raise ValidationError({"energy_kwh": "An order must be for more than 0 kWh."})
    limit = max_buy_kwh(icp) if side == Order.Side.BUY else max_sell_kwh(icp)
    if kwh > limit:
        what = "import" if side == Order.Side.BUY else "export (its solar and battery)"
        raise ValidationError(
            {"energy_kwh": f"ICP {icp} can {what} at most {limit:.3f} kWh in half an hour."}
        )
    if not settings.price_floor_c <= price <= settings.price_cap_c:
        raise ValidationError(
            {
                "limit_price_c": "Prices must be between the co-op's floor "
                f"{settings.price_floor_c} and cap {settings.price_cap_c} c/kWh."
            }
        )
    return kwh, price


def _check_not_crossing_own(
    member: Member, period: TradingPeriod, side: str, price: Decimal, *, exclude: int | None = None
) -> None:
    """Refuse a bid at or above one of the member's own open offers in the period (or an offer
    at or below one of their own open bids), on any of their ICPs.

    A member's crossing pair would be matched with itself: energy bought from yourself, and a
    "clearing price" for the whole co-op set by one member's two limits. Refusing it here, where
    the member can be told and can choose which order to keep, is the root fix; the engine also
    leaves such pairs out if any reach it another way (trading.engine.clearing). Call with the
    period row locked (order_place, order_amend), so that two orders placed at once by the same
    member cannot both pass.
    """
    own = Order.objects.filter(member=member, period=period, status=Order.Status.OPEN)
    if exclude is not None:
        own = own.exclude(pk=exclude)
    if side == Order.Side.BUY:
        crossed = own.filter(side=Order.Side.SELL, limit_price_c__lte=price).order_by(
            "limit_price_c", "pk"
        )
        this, other = "bid", "offer"
    else:
        crossed = own.filter(side=Order.Side.BUY, limit_price_c__gte=price).order_by(
            "-limit_price_c", "pk"
        )
        this, other = "offer", "bid"
    if clash := crossed.first():
        raise CrossesOwnOrder(
            {
                "limit_price_c": f"This {this} at {price:.4f} c/kWh would cross your own "
                f"{other} at {clash.limit_price_c:.4f} c/kWh for the same period; cancel that "
                f"{other} first."
            }
        )


@transaction.atomic
def order_place(
    *,
    member: Member,
    icp: ICP,
    period: TradingPeriod,
    side: str,
    energy_kwh: Amount,
    limit_price_c: Amount,
    now: dt.datetime | None = None,
    standing_order: StandingOrder | None = None,
) -> Order:
    now = now or timezone.now()
    period = TradingPeriod.objects.select_for_update().get(pk=period.pk)
    _check_open(period, now)
    kwh, price = _validate(member, icp, side, energy_kwh, limit_price_c, CoopSettings.load())
    _check_not_crossing_own(member, period, side, price)
    return Order.objects.create(
        period=period,
        member=member,
        icp=icp,
        side=side,
        energy_kwh=kwh,
        limit_price_c=price,
        submitted_at=now,
        standing_order=standing_order,
    )


@transaction.atomic
def order_amend(
    *,
    member: Member,
    order: Order,
    energy_kwh: Amount | None = None,
    limit_price_c: Amount | None = None,
    now: dt.datetime | None = None,
) -> Order:
    now = now or timezone.now()
    # The period first, as order_place takes it: the crossing check below runs under its lock.
    TradingPeriod.objects.select_for_update().filter(pk=order.period_id).first()
    order = Order.objects.select_for_update().select_related("period", "icp").get(pk=order.pk)
    if order.member_id != member.pk:
        raise PermissionDenied("That order is not yours.")
    if order.status != Order.Status.OPEN:
        raise ValidationError("Only open orders can be changed.")
    _check_open(order.period, now)
    kwh, price = _validate(
        member,
        order.icp,
        order.side,
        order.energy_kwh if energy_kwh is None else energy_kwh,
        order.limit_price_c if limit_price_c is None else limit_price_c,
        CoopSettings.load(),
    )
    _check_not_crossing_own(member, order.period, order.side, price, exclude=order.pk)
    order.energy_kwh, order.limit_price_c = kwh, price
    # An amended order goes to the back of the queue at its price, as on any exchange.
    order.submitted_at = now
    order.save(update_fields=["energy_kwh", "limit_price_c", "submitted_at", "updated_at"])
    return order


@transaction.atomic
def order_cancel(*, member: Member, order: Order, now: dt.datetime | None = None) -> Order:
    now = now or timezone.now()
    order = Order.objects.select_for_update().select_related("period").get(pk=order.pk)
    if order.member_id != member.pk:
        raise PermissionDenied("That order is not yours.")
    if order.status != Order.Status.OPEN:
        raise ValidationError("Only open orders can be cancelled.")
    _check_open(order.period, now)
    order.status = Order.Status.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    return order

"""Placing, amending and cancelling orders until gate closure. Refused whole or stored whole.

Locks, taken in this order everywhere so that two of these never wait on each other in a circle:
the period row FOR SHARE (gate closure's state change waits for every placement in flight, and a
placement after it sees the period closed), then the member row FOR NO KEY UPDATE (one member's
placements and amendments run one at a time, so two at once cannot both pass the self-crossing
check), then the order row. Placements by different members never wait on each other, however
many go to one period. SQLite has no row locks: its write lock, taken at BEGIN (IMMEDIATE),
runs every placement one at a time instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import ParamSpec, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from coop.models import ICP, Battery, CoopSettings, Member, PVSystem
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services import one_row

HALF_HOUR_H = Decimal("0.5")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class CrossesOwnOrder(ValidationError):
    """The order would cross the same member's own opposite order in the period."""


class NoSuchPeriod(ValidationError):
    """The order names a trading period that does not exist."""


MAX_MAGNITUDE = 10**9  # far beyond any order's kWh or c/kWh
MAX_ID = 2**63 - 1  # a bigint key: a larger number names no period (and SQLite cannot bind it)
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


@dataclass(frozen=True)
class _Market:
    """What an order is checked against, read in the one statement that takes its locks."""

    period: TradingPeriod
    member_status: str
    floor_c: Decimal
    cap_c: Decimal
    icp: ICP | None  # id, identifier, member_id and max_import_kw; the rest loads if asked
    export_kw: Decimal  # its inverters' and batteries' power, as max_sell_kwh adds them up

    def limit_kwh(self, side: str) -> Decimal:
        assert self.icp is not None
        if side == Order.Side.BUY:
            return max_buy_kwh(self.icp)
        return self.export_kw * HALF_HOUR_H


_PERIOD_FIELDS = tuple(TradingPeriod._meta.concrete_fields)
_ICP_FIELDS = one_row.fields(ICP, "id", "identifier", "member", "max_import_kw")
_MARKET_COLUMNS = one_row.Columns(
    *_PERIOD_FIELDS,
    *one_row.fields(Member, "status"),
    *one_row.fields(CoopSettings, "price_floor_c", "price_cap_c"),
    *_ICP_FIELDS,
    *one_row.fields(PVSystem, "inverter_kw"),
    *one_row.fields(Battery, "power_kw"),
)


@functools.cache
def _market_sql(vendor: str, icp_by: str) -> str:
    """Plain SQL for one reason: the ORM has no FOR SHARE. One round trip reads the period, the
    member's status, the co-op's price limits and the ICP (by `icp_by`: "identifier" or "id")
    with its export capacity."""
    qn = connection.ops.quote_name
    icp = f"i.{qn('id')}"
    columns = [
        *(one_row.column(f, "p") for f in _PERIOD_FIELDS),
        f"m.{qn('status')}",
        f"s.{qn('price_floor_c')}",
        f"s.{qn('price_cap_c')}",
        *(one_row.column(f, "i") for f in _ICP_FIELDS),
        f"(SELECT SUM(v.{qn('inverter_kw')}) FROM {one_row.quoted(PVSystem, 'v')} "  # noqa: S608 (names only)
        f"WHERE v.{qn('icp_id')} = {icp})",
        f"(SELECT SUM(b.{qn('power_kw')}) FROM {one_row.quoted(Battery, 'b')} "  # noqa: S608 (names only)
        f"WHERE b.{qn('icp_id')} = {icp})",
    ]
    sql = (
        f"SELECT {', '.join(columns)} FROM {one_row.quoted(TradingPeriod, 'p')} "  # noqa: S608 (names only)
        f"JOIN {one_row.quoted(Member, 'm')} ON m.{qn('id')} = %s "
        # CoopSettings is one row, always pk 1 (CoopSettings.save).
        f"LEFT JOIN {one_row.quoted(CoopSettings, 's')} ON s.{qn('id')} = 1 "
        f"LEFT JOIN {one_row.quoted(ICP, 'i')} ON i.{qn(icp_by)} = %s "
        f"WHERE p.{qn('id')} = %s"
    )
    if vendor == "postgresql":
        sql += " FOR SHARE OF p FOR NO KEY UPDATE OF m"
    return sql


def _market(
    *, period_id: int, member: Member, icp_by: str = "id", icp: object = None
) -> _Market | None:
    """Lock the period (shared) and the member (theirs alone) and read what the order is
    checked against; None if there is no such period. Call inside atomic()."""
    if not 0 < period_id <= MAX_ID:
        return None
    sql = _market_sql(connection.vendor, icp_by)
    values = one_row.fetch_row(sql, [member.pk, icp, period_id], _MARKET_COLUMNS)
    if values is None:
        return None
    n = len(_PERIOD_FIELDS)
    status, floor, cap = values[n : n + 3]
    icp_values = values[n + 3 : n + 3 + len(_ICP_FIELDS)]
    pv_kw, battery_kw = values[-2:]
    if floor is None:  # no settings row yet: load() makes it, with the defaults
        settings = CoopSettings.load()
        floor, cap = settings.price_floor_c, settings.price_cap_c
    found = icp_values[0] is not None
    return _Market(
        period=one_row.instance(TradingPeriod, _PERIOD_FIELDS, values[:n]),
        member_status=status,
        floor_c=floor,
        cap_c=cap,
        icp=one_row.instance(ICP, _ICP_FIELDS, icp_values) if found else None,
        export_kw=(pv_kw or Decimal(0)) + (battery_kw or Decimal(0)),
    )


def _validate(
    market: _Market, member: Member, side: str, kwh: Amount, price: Amount
) -> tuple[Decimal, Decimal]:
    # The status read under the member's lock: a member suspended a moment ago cannot trade.
    member.status = market.member_status
    if not member.can_trade:
        raise PermissionDenied("Only active members can trade.")
    if side not in Order.Side.values:
        raise ValidationError({"side": "Side must be buy or sell."})
    kwh = _decimal(kwh, "energy_kwh", 3)
    price = _decimal(price, "limit_price_c", 4)
    if kwh <= 0:
        raise ValidationError({"energy_kwh": "An order must be for more than 0 kWh."})
    limit = market.limit_kwh(side)
    if kwh > limit:
        what = "import" if side == Order.Side.BUY else "export (its solar and battery)"
        raise ValidationError(
            {"energy_kwh": f"ICP {market.icp} can {what} at most {limit:.3f} kWh in half an hour."}
        )
    if not market.floor_c <= price <= market.cap_c:
        raise ValidationError(
            {
                "limit_price_c": "Prices must be between the co-op's floor "
                f"{market.floor_c} and cap {market.cap_c} c/kWh."
            }
        )
    return kwh, price


(_PRICE,) = one_row.fields(Order, "limit_price_c")
_PRICE_COLUMN = one_row.Columns(_PRICE)
_ORDER_WRITTEN = tuple(f for f in Order._meta.concrete_fields if not f.primary_key)


@functools.cache
def _crossing_sql(_vendor: str, side: str) -> str:  # cached per backend: quoting differs
    """The member's nearest open opposite order in the period that `side` at a price would
    cross: for a bid, their cheapest offer at or below it; for an offer, their dearest bid at
    or above it."""
    qn = connection.ops.quote_name
    price = one_row.column(_PRICE, "o")
    compare, nearest = ("<=", "ASC") if side == Order.Side.BUY else (">=", "DESC")
    return (
        f"SELECT {price} FROM {one_row.quoted(Order, 'o')} "  # noqa: S608 (names only)
        f"WHERE o.{qn('member_id')} = %s AND o.{qn('period_id')} = %s "
        f"AND o.{qn('status')} = %s AND o.{qn('side')} = %s AND {price} {compare} %s "
        f"AND o.{qn('id')} <> %s ORDER BY {price} {nearest} LIMIT 1"
    )


def _crossing_query(
    member: Member, period: TradingPeriod, side: str, price: Decimal, exclude: int | None
) -> tuple[str, list[object]]:
    """The query for the member's open opposite order in the period that this one would
    cross (_crossing_sql), and its parameters."""
    opposite = Order.Side.SELL if side == Order.Side.BUY else Order.Side.BUY
    params: list[object] = [
        member.pk,
        period.pk,
        Order.Status.OPEN,
        opposite,
        _PRICE.get_db_prep_value(price, connection),
        exclude or 0,  # ids start at 1: 0 excludes nothing
    ]
    return _crossing_sql(connection.vendor, side), params


def _check_not_crossing_own(
    member: Member, period: TradingPeriod, side: str, price: Decimal, *, exclude: int | None = None
) -> None:
    """Refuse a bid at or above one of the member's own open offers in the period (or an offer
    at or below one of their own open bids), on any of their ICPs.

    A member's crossing pair would be matched with itself: energy bought from yourself, and a
    "clearing price" for the whole co-op set by one member's two limits. Refusing it here, where
    the member can be told and can choose which order to keep, is the root fix; the engine also
    leaves such pairs out if any reach it another way (trading.engine.clearing). Call with the
    member row locked (_market), so that two orders placed at once by the same member cannot
    both pass; this query starts after the lock is held, so it sees what the other one stored.
    (order_place runs the same query inside its INSERT, and this only to say what crossed.)
    """
    sql, params = _crossing_query(member, period, side, price, exclude)
    row = one_row.fetch_row(sql, params, _PRICE_COLUMN)
    clash = row[0] if row else None
    if clash is not None:
        this, other = ("bid", "offer") if side == Order.Side.BUY else ("offer", "bid")
        raise CrossesOwnOrder(
            {
                "limit_price_c": f"This {this} at {price:.4f} c/kWh would cross your own "
                f"{other} at {clash:.4f} c/kWh for the same period; cancel that "
                f"{other} first."
            }
        )


def _in_own_transaction(service: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run the service in a transaction for its locks and its write, unless the caller has one.

    Inside the caller's, no savepoint (two round trips more for each API call with an
    Idempotency-Key): every refusal is raised before the service's one write, its last
    statement, so the caller's transaction goes on as it was. A caller that goes on after that
    write fails (a standing order's second order in a period, an IntegrityError) wraps the call
    in atomic() of its own, as the standing rules and the energy manager do."""

    @functools.wraps(service)
    def in_transaction(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        own = contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic()
        with own:
            return service(*args, **kwargs)

    return in_transaction


@_in_own_transaction
def order_place(
    *,
    member: Member,
    icp: ICP | str,
    period: TradingPeriod | int,
    side: str,
    energy_kwh: Amount,
    limit_price_c: Amount,
    now: dt.datetime | None = None,
    standing_order: StandingOrder | None = None,
) -> Order:
    """Place the member's order on their ICP in an open period, or refuse it whole.

    `icp` and `period` may be the rows or, as the API receives them, the ICP's identifier and
    the period's id: either way both are read afresh, with the member's status and the co-op's
    price limits, in the statement that takes the locks (see the module's docstring)."""
    now = now or timezone.now()
    identifier = icp.identifier if isinstance(icp, ICP) else icp
    period_id = period.pk if isinstance(period, TradingPeriod) else period
    market = _market(period_id=period_id, member=member, icp_by="identifier", icp=identifier)
    if market is None:
        raise NoSuchPeriod("No such trading period.")
    if market.icp is None or market.icp.member_id != member.pk:
        raise PermissionDenied(f"ICP {identifier} is not yours to trade.")
    _check_open(market.period, now)
    kwh, price = _validate(market, member, side, energy_kwh, limit_price_c)
    order = Order(
        period=market.period,
        member=member,
        icp=icp if isinstance(icp, ICP) else market.icp,
        side=side,
        energy_kwh=kwh,
        limit_price_c=price,
        submitted_at=now,
        standing_order=standing_order,
    )
    # One INSERT as save() would write it (a standing order's second order in a period is the
    # IntegrityError its caller expects), unless the member's own orders cross it: the check
    # and the write in one statement, run with the member's lock held (as the check's own
    # docstring says). The instance is the row, its updated_at the same now.
    order.updated_at = now
    order.pk = one_row.insert_row(
        Order,
        {f.attname: getattr(order, f.attname) for f in _ORDER_WRITTEN},
        unless=_crossing_query(member, market.period, side, price, exclude=None),
    )
    if order.pk is None:
        _check_not_crossing_own(member, market.period, side, price)  # raises, saying what
        raise CrossesOwnOrder({"limit_price_c": "This order would cross your own."})
    order._state.adding, order._state.db = False, connection.alias
    return order


@_in_own_transaction
def order_amend(
    *,
    member: Member,
    order: Order,
    energy_kwh: Amount | None = None,
    limit_price_c: Amount | None = None,
    now: dt.datetime | None = None,
) -> Order:
    now = now or timezone.now()
    # The period and the member first, as order_place takes them: the crossing check below
    # runs under the member's lock.
    market = _market(period_id=order.period_id, member=member, icp=order.icp_id)
    # of=("self",): the period is locked already (shared); FOR UPDATE on it would wait for
    # every placement in flight, and for another amendment holding it shared: a deadlock.
    order = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    if order.member_id != member.pk:
        raise PermissionDenied("That order is not yours.")
    if order.status != Order.Status.OPEN:
        raise ValidationError("Only open orders can be changed.")
    assert market is not None  # the order's period: PROTECT keeps it while the order exists
    order.period = market.period
    if market.icp is None or market.icp.member_id != member.pk:
        raise PermissionDenied(f"ICP {market.icp} is not yours to trade.")
    order.icp = market.icp
    _check_open(market.period, now)
    kwh, price = _validate(
        market,
        member,
        order.side,
        order.energy_kwh if energy_kwh is None else energy_kwh,
        order.limit_price_c if limit_price_c is None else limit_price_c,
    )
    _check_not_crossing_own(member, market.period, order.side, price, exclude=order.pk)
    order.energy_kwh, order.limit_price_c = kwh, price
    # An amended order goes to the back of the queue at its price, as on any exchange.
    order.submitted_at = now
    order.save(update_fields=["energy_kwh", "limit_price_c", "submitted_at", "updated_at"])
    return order


@_in_own_transaction
def order_cancel(*, member: Member, order: Order, now: dt.datetime | None = None) -> Order:
    now = now or timezone.now()
    # The period (shared) and the member first, as placing takes them: a gate closure under
    # way finishes first and this then sees the period closed; the order row after them.
    market = _market(period_id=order.period_id, member=member)
    order = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    if order.member_id != member.pk:
        raise PermissionDenied("That order is not yours.")
    if order.status != Order.Status.OPEN:
        raise ValidationError("Only open orders can be cancelled.")
    assert market is not None  # the order's period: PROTECT keeps it while the order exists
    order.period = market.period
    _check_open(market.period, now)
    order.status = Order.Status.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    return order

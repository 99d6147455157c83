"""The full price of a trade, as a resident sees it before placing an order.

For one ICP and trading period: the network charge a buyer pays on top of the energy price
(by the mechanism in force), the export credit a seller earns, the co-op fee, the floor and
cap, and what a limit comes to all in per kWh, excluding and including GST. It mirrors the
engine's `_network_charges` (trading.engine.clearing): the buyer pays the network charge and
the co-op fee; under the time-value mechanism the charge is the buyer's feeder's price, plus
the upstream part when the seller is under another transformer, and the seller's feeder
credits the export; otherwise it is the co-op's same-feeder or between-feeders charge.

Prices are c/kWh excluding GST (docs/architecture.md); the GST-inclusive figures are for
display only. Until gate closure a feeder's price is the distributor's latest forecast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from coop import nz
from coop.models import ICP, CoopSettings
from trading.models import FeederPrice, Order, TimeValueParameters, TradingPeriod
from trading.services.network_prices import path_prices

PLACES = Decimal("0.0001")
ZERO = Decimal(0)


def _q(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class TradePrice:
    """The parts of a trade's price for one ICP and period (c/kWh excl. GST)."""

    period_id: int
    icp_id: int
    time_value: bool
    network_near_c: Decimal  # the buyer's charge from a seller on the same feeder/transformer
    network_far_c: Decimal  # ... from a seller on another feeder (or under another transformer)
    export_credit_c: Decimal  # what a seller earns from the network (time-value only)
    coop_fee_c: Decimal
    floor_c: Decimal
    cap_c: Decimal
    firm: bool  # the feeder's price is firm (fixed at gate closure)
    published: bool  # the feeder has a price of its own for the period

    def buy_all_in_c(self, limit_c: Decimal) -> tuple[Decimal, Decimal]:
        """At most what a buyer pays per kWh: (near, far), excl. GST."""
        return (
            _q(limit_c + self.network_near_c + self.coop_fee_c),
            _q(limit_c + self.network_far_c + self.coop_fee_c),
        )

    def sell_all_in_c(self, limit_c: Decimal) -> Decimal:
        """At least what a seller receives per kWh, excl. GST."""
        return _q(limit_c + self.export_credit_c)

    @property
    def network_words(self) -> str:
        near, far = _two(self.network_near_c), _two(self.network_far_c)
        if self.time_value:
            if near == far:
                return f"{near} c on your feeder"
            return f"from {near} c on your feeder, {far} c from another transformer"
        if near == far:
            return f"{near} c"
        return f"{near} c on your feeder, {far} c between feeders"

    def breakdown(self, side: str, limit_c: Decimal) -> dict[str, str]:
        """The figures the market page shows for a side and limit, as text."""
        if side == Order.Side.BUY:
            near, far = self.buy_all_in_c(limit_c)
            low, high = near, far
        else:
            low = high = self.sell_all_in_c(limit_c)
        return {
            "limit": _two(limit_c),
            "network": self.network_words,
            "credit": _two(self.export_credit_c),
            "fee": _two(self.coop_fee_c),
            "all_in": _span(low, high),
            "all_in_gst": _span(_q(nz.add_gst(low)), _q(nz.add_gst(high))),
        }

    def as_json(self) -> dict[str, object]:
        """For order_form.js: decimals as strings, as the API sends them."""
        return {
            "time_value": self.time_value,
            "network_near_c": str(self.network_near_c),
            "network_far_c": str(self.network_far_c),
            "network_words": self.network_words,
            "export_credit_c": str(self.export_credit_c),
            "coop_fee_c": str(self.coop_fee_c),
            "floor_c": str(self.floor_c),
            "cap_c": str(self.cap_c),
            "firm": self.firm,
            "published": self.published,
        }


def _two(value: Decimal) -> str:
    """Two places, half up (as order_form.js rounds), for display only."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _span(low: Decimal, high: Decimal) -> str:
    return _two(low) if _two(low) == _two(high) else f"{_two(low)}-{_two(high)}"


def trade_prices(
    periods: Sequence[TradingPeriod], icps: Iterable[ICP], *, settings: CoopSettings | None = None
) -> dict[tuple[int, int], TradePrice]:
    """The price parts for every (period, ICP) pair, keyed by (period id, ICP id).

    One query for the feeders' prices; a feeder without one for a period (or an ICP off the
    network model) takes the static fallback the engine would use (network_prices.path_prices).
    """
    settings = settings or CoopSettings.load()
    icps = list(icps)
    feeder_ids = {icp.feeder_id for icp in icps if icp.feeder_id is not None}
    rows = {
        (row.period_id, row.feeder_id): row
        for row in FeederPrice.objects.filter(
            period__in=[p.pk for p in periods], feeder_id__in=feeder_ids
        ).only("period_id", "feeder_id", "price_c", "export_credit_c", "firm")
    }
    upstream: dict[dt.date, Decimal] = {}
    fallback: dict[int, tuple[Decimal, Decimal]] = {}
    result = {}
    for period in periods:
        time_value = (period.mechanism or settings.mechanism) == CoopSettings.Mechanism.TIME_VALUE
        for icp in icps:
            key = (period.pk, icp.pk)
            if not time_value:
                result[key] = TradePrice(
                    period_id=period.pk,
                    icp_id=icp.pk,
                    time_value=False,
                    network_near_c=settings.same_feeder_network_charge_c,
                    network_far_c=settings.network_charge_c,
                    export_credit_c=ZERO,
                    coop_fee_c=settings.coop_fee_c,
                    floor_c=settings.price_floor_c,
                    cap_c=settings.price_cap_c,
                    firm=True,
                    published=True,
                )
                continue
            if period.trading_date not in upstream:
                upstream[period.trading_date] = TimeValueParameters.in_force(
                    period.trading_date
                ).upstream_c
            row = rows.get((period.pk, icp.feeder_id)) if icp.feeder_id is not None else None
            if row is not None:
                price, credit, firm = row.price_c, row.export_credit_c, row.firm
            else:
                if period.pk not in fallback:
                    path = path_prices(period, [None])
                    fallback[period.pk] = (path.imports[0], path.credits[0])
                price, credit = fallback[period.pk]
                firm = False
            result[key] = TradePrice(
                period_id=period.pk,
                icp_id=icp.pk,
                time_value=True,
                network_near_c=price,
                network_far_c=price + upstream[period.trading_date],
                export_credit_c=credit,
                coop_fee_c=settings.coop_fee_c,
                floor_c=settings.price_floor_c,
                cap_c=settings.price_cap_c,
                firm=firm,
                published=row is not None,
            )
    return result


def trade_prices_json(
    periods: Sequence[TradingPeriod], icps: Iterable[ICP]
) -> dict[str, dict[str, object]]:
    """`trade_prices` for json_script: {period id: {ICP id: parts}}."""
    data: dict[str, dict[str, object]] = {}
    for (period_id, icp_id), price in trade_prices(periods, icps).items():
        data.setdefault(str(period_id), {})[str(icp_id)] = price.as_json()
    return data

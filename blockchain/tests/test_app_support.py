"""Builders for the chain app's tests: settled periods with trades as plain ORM rows.

No trading services are used, so these tests depend on the trade records only. Imported by the
other test_app_* modules; it holds no tests itself.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import make_period
from trading.models import Order, Trade, TradingPeriod

DAY = dt.date(2026, 7, 8)


def settled_period(
    number: int,
    buyer,
    seller,
    *,
    trades: int = 2,
    day: dt.date = DAY,
    state: str = TradingPeriod.State.SETTLED,
    kwh: Decimal = Decimal("1.250"),
    price_c: Decimal = Decimal("18.5000"),
) -> TradingPeriod:
    """A period of `day` in `state` with `trades` trades between the two members."""
    period = make_period(
        day, number, state=state, clearing_price_c=price_c, traded_kwh=kwh * trades
    )
    start = period.start
    buyer_icp, seller_icp = buyer.icps.get(), seller.icps.get()
    for seq in range(1, trades + 1):
        energy = kwh + Decimal(seq) / 1000
        buy = Order.objects.create(
            period=period,
            member=buyer,
            icp=buyer_icp,
            side=Order.Side.BUY,
            energy_kwh=energy,
            limit_price_c=price_c + 2,
            status=Order.Status.FILLED,
            matched_kwh=energy,
            submitted_at=start - dt.timedelta(hours=1),
        )
        sell = Order.objects.create(
            period=period,
            member=seller,
            icp=seller_icp,
            side=Order.Side.SELL,
            energy_kwh=energy,
            limit_price_c=price_c - 2,
            status=Order.Status.FILLED,
            matched_kwh=energy,
            submitted_at=start - dt.timedelta(hours=1),
        )
        network_c, fee_c = Decimal("2.0000"), Decimal("0.5000")
        Trade.objects.create(
            period=period,
            sequence=seq,
            buy_order=buy,
            sell_order=sell,
            buyer=buyer,
            seller=seller,
            buyer_icp=buyer_icp,
            seller_icp=seller_icp,
            energy_kwh=energy,
            price_c=price_c,
            network_c=network_c,
            fee_c=fee_c,
            energy_value_nzd=(energy * price_c / 100).quantize(Decimal("0.000001")),
            network_value_nzd=(energy * network_c / 100).quantize(Decimal("0.000001")),
            fee_value_nzd=(energy * fee_c / 100).quantize(Decimal("0.000001")),
        )
    return period

"""gate_closed -> cleared: run the engine on the period's book and record the trades."""

from __future__ import annotations

import logging
from decimal import Decimal

import numpy as np

from coop.models import CoopSettings
from coop.units import cents_to_units, kwh_to_wh, micro_to_nzd, units_to_cents, wh_to_kwh
from trading.engine import Book, Mechanism, Rules, clear
from trading.models import Order, Trade, TradingPeriod
from trading.services.pricing import icp_prices

log = logging.getLogger(__name__)


def rules_for(period: TradingPeriod, settings: CoopSettings, orders: list[Order]) -> Rules:
    mechanism = Mechanism(period.mechanism or settings.mechanism)
    retail = buyback = Decimal(0)
    if mechanism == Mechanism.MID_MARKET and orders:
        # The co-op's midpoint: the mean of its traders' own retail and buy-back prices. A
        # trader without a tariff in force is left out of the mean rather than stopping the
        # clearing for everyone (settlement holds their ICP aside; see settling).
        prices = list(icp_prices(period, {o.icp_id for o in orders}, strict=False).values())
        if prices:
            retail = sum((p.import_c for p in prices), Decimal(0)) / len(prices)
            buyback = sum((p.export_c for p in prices), Decimal(0)) / len(prices)
    return Rules(
        mechanism=mechanism,
        k=settings.k_factor,
        coop_fee_c=settings.coop_fee_c,
        network_c=settings.network_charge_c,
        same_feeder_network_c=settings.same_feeder_network_charge_c,
        time_value_c=period.network_price_c,
        retail_import_c=units_to_cents(cents_to_units(retail.quantize(Decimal("0.0001")))),
        buyback_c=units_to_cents(cents_to_units(buyback.quantize(Decimal("0.0001")))),
    )


def book_clear(*, period: TradingPeriod) -> None:
    """gate_closed -> cleared: the period's book cleared by the engine into trades."""
    settings = CoopSettings.load()
    orders = list(
        Order.objects.filter(period=period, status=Order.Status.OPEN).select_related("icp")
    )
    feeders = {name: i for i, name in enumerate(sorted({o.icp.lv_feeder for o in orders}))}
    book = Book(
        order_id=np.array([o.pk for o in orders], dtype=np.int64),
        is_buy=np.array([o.side == Order.Side.BUY for o in orders], dtype=bool),
        wh=np.array([kwh_to_wh(o.energy_kwh) for o in orders], dtype=np.int64),
        price=np.array([cents_to_units(o.limit_price_c) for o in orders], dtype=np.int64),
        submitted=np.array([int(o.submitted_at.timestamp() * 1e6) for o in orders], dtype=np.int64),
        feeder=np.array([feeders[o.icp.lv_feeder] for o in orders], dtype=np.int64),
        # Who owns each order, whichever of their ICPs it is on: the engine never matches a
        # member with themselves (see trading.engine.clearing).
        member=np.array([o.member_id for o in orders], dtype=np.int64),
        icp=np.array([o.icp_id for o in orders], dtype=np.int64),
    )
    rules = rules_for(period, settings, orders)
    result = clear(book, rules)
    if result.self_crossing.any():
        # Placement refuses these; reaching the engine means they came another way (the admin,
        # orders from before the rule). They match nothing and end as "not matched".
        log.warning(
            "trading period %s: orders %s cross their own member's opposite orders; left out",
            period,
            sorted(int(i) for i in book.order_id[result.self_crossing]),
        )
    by_id = {o.pk: o for o in orders}
    trades = []
    for seq, row in enumerate(
        zip(
            result.buy_id,
            result.sell_id,
            result.wh,
            result.price,
            result.network,
            result.fee,
            result.energy_value,
            result.network_value,
            result.fee_value,
            strict=True,
        )
    ):
        buy_id, sell_id, wh, price, network, fee, ev, nv, fv = (int(x) for x in row)
        buy, sell = by_id[buy_id], by_id[sell_id]
        trades.append(
            Trade(
                period=period,
                sequence=seq,
                buy_order=buy,
                sell_order=sell,
                buyer_id=buy.member_id,
                seller_id=sell.member_id,
                buyer_icp_id=buy.icp_id,
                seller_icp_id=sell.icp_id,
                energy_kwh=wh_to_kwh(wh),
                price_c=units_to_cents(price),
                network_c=units_to_cents(network),
                fee_c=units_to_cents(fee),
                energy_value_nzd=micro_to_nzd(ev),
                network_value_nzd=micro_to_nzd(nv),
                fee_value_nzd=micro_to_nzd(fv),
            )
        )
    Trade.objects.bulk_create(trades)
    for order, matched in zip(orders, result.matched_wh, strict=True):
        order.matched_kwh = wh_to_kwh(int(matched))
        if matched == 0:
            order.status = Order.Status.UNMATCHED
        elif order.matched_kwh == order.energy_kwh:
            order.status = Order.Status.FILLED
        else:
            order.status = Order.Status.PARTIAL
    Order.objects.bulk_update(orders, ["matched_kwh", "status"], batch_size=1000)
    period.clearing_price_c = (
        units_to_cents(result.clearing_price) if result.clearing_price is not None else None
    )
    period.mechanism = rules.mechanism.value
    period.traded_kwh = wh_to_kwh(int(result.wh.sum()))
    period.save(update_fields=["clearing_price_c", "mechanism", "traded_kwh"])

"""gate_closed -> cleared: run the engine on the period's book and record the trades."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from coop.models import ICP, CoopSettings
from coop.units import cents_to_units, kwh_to_wh, micro_to_nzd, units_to_cents, wh_to_kwh
from trading.engine import Book, Mechanism, Rules
from trading.engine.sharing import KINDS, clear_shared
from trading.models import Order, Trade, TradingPeriod
from trading.services.network_prices import path_prices
from trading.services.pricing import icp_prices
from trading.sharing_selectors import arrangements_for

log = logging.getLogger(__name__)


def rules_for(
    period: TradingPeriod,
    settings: CoopSettings,
    orders: list[Order],
    feeders: Sequence[int | None] = (),
) -> Rules:
    """The period's rules; `feeders` are the feeder ids behind the book's feeder numbers."""
    mechanism = Mechanism(period.mechanism or settings.mechanism)
    path = path_prices(period, feeders) if mechanism == Mechanism.TIME_VALUE and feeders else None
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
        feeder_import_c=path.imports if path else (),
        feeder_export_credit_c=path.credits if path else (),
        upstream_c=path.upstream_c if path else Decimal(0),
    )


def _feeder_key(icp: ICP) -> int:
    return icp.feeder_id if icp.feeder_id is not None else -icp.pk


def _transformer_key(icp: ICP) -> int:
    if icp.feeder is not None and icp.feeder.transformer_id is not None:
        return icp.feeder.transformer_id
    return -icp.pk


def book_clear(*, period: TradingPeriod) -> None:
    """gate_closed -> cleared: the period's book cleared by the engine into trades."""
    settings = CoopSettings.load()
    orders = list(
        Order.objects.filter(period=period, status=Order.Status.OPEN).select_related("icp__feeder")
    )
    # An ICP not placed on the network model is a feeder (and a transformer) of its own: it
    # never gets the same-feeder discount by accident.
    keys = sorted({_feeder_key(o.icp) for o in orders})
    feeders = {key: i for i, key in enumerate(keys)}
    book = Book(
        order_id=np.array([o.pk for o in orders], dtype=np.int64),
        is_buy=np.array([o.side == Order.Side.BUY for o in orders], dtype=bool),
        wh=np.array([kwh_to_wh(o.energy_kwh) for o in orders], dtype=np.int64),
        price=np.array([cents_to_units(o.limit_price_c) for o in orders], dtype=np.int64),
        submitted=np.array([int(o.submitted_at.timestamp() * 1e6) for o in orders], dtype=np.int64),
        feeder=np.array([feeders[_feeder_key(o.icp)] for o in orders], dtype=np.int64),
        transformer=np.array([_transformer_key(o.icp) for o in orders], dtype=np.int64),
        # Who owns each order, whichever of their ICPs it is on: the engine never matches a
        # member with themselves (see trading.engine.clearing).
        member=np.array([o.member_id for o in orders], dtype=np.int64),
        icp=np.array([o.icp_id for o in orders], dtype=np.int64),
    )
    rules = rules_for(period, settings, orders, [k if k > 0 else None for k in keys])
    # Partners first, then gifts to the hardship pool, then the open market.
    arrangements = arrangements_for(period=period, member_ids={o.member_id for o in orders})
    shared = clear_shared(book, rules, arrangements)
    result = shared.result
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
            result.export_credit,
            result.export_credit_value,
            shared.kind,
            strict=True,
        )
    ):
        buy_id, sell_id, wh, price, network, fee, ev, nv, fv, xc, xv, kind = (int(x) for x in row)
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
                export_credit_c=units_to_cents(xc),
                export_credit_value_nzd=micro_to_nzd(xv),
                kind=KINDS[kind],
                network_covered_by_coop=KINDS[kind] == Trade.Kind.GIFT
                and settings.cover_gift_network,
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
    period.traded_kwh = wh_to_kwh(int(result.wh.sum()))  # partners' and gifts' included
    period.save(update_fields=["clearing_price_c", "mechanism", "traded_kwh"])

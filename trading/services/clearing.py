"""gate_closed -> cleared: run the engine on the period's book and record the trades."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from decimal import Decimal

import numpy as np
from django.db.models import F

from coop.models import CoopSettings
from coop.units import cents_to_units, units_to_cents, wh_to_kwh
from trading.engine import Book, ClearingResult, Mechanism, Rules
from trading.engine.sharing import KINDS, clear_shared
from trading.models import Order, Trade, TradingPeriod
from trading.services.network_prices import path_prices
from trading.services.pricing import icp_prices
from trading.services.rows import from_units, in_units, plain_rows, rows_insert, with_ids
from trading.sharing_selectors import arrangements_for

log = logging.getLogger(__name__)


def rules_for(
    period: TradingPeriod,
    settings: CoopSettings,
    icp_ids: Collection[int],
    feeders: Sequence[int | None] = (),
) -> Rules:
    """The period's rules for a book on `icp_ids`; `feeders` are the feeder ids behind the
    book's feeder numbers."""
    mechanism = Mechanism(period.mechanism or settings.mechanism)
    path = path_prices(period, feeders) if mechanism == Mechanism.TIME_VALUE and feeders else None
    retail = buyback = Decimal(0)
    if mechanism == Mechanism.MID_MARKET and icp_ids:
        # The co-op's midpoint: the mean of its traders' own retail and buy-back prices. A
        # trader without a tariff in force is left out of the mean rather than stopping the
        # clearing for everyone (settlement holds their ICP aside; see settling).
        prices = list(icp_prices(period, icp_ids, strict=False).values())
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


# A period's open orders as the engine needs them: plain rows, not model instances (a large
# co-op's book is tens of thousands of orders).
_ORDER_COLUMNS = (
    "pk",
    "side",
    "wh",  # energy_kwh and limit_price_c in the engine's units (rows.in_units)
    "price",
    "member_id",
    "icp_id",
    "icp__feeder_id",
    "icp__feeder__transformer_id",
)
_TRADE_COLUMNS = (
    "period_id",
    "sequence",
    "buy_order_id",
    "sell_order_id",
    "buyer_id",
    "seller_id",
    "buyer_icp_id",
    "seller_icp_id",
    "energy_kwh",
    "price_c",
    "network_c",
    "fee_c",
    "energy_value_nzd",
    "network_value_nzd",
    "fee_value_nzd",
    "export_credit_c",
    "export_credit_value_nzd",
    "kind",
    "network_covered_by_coop",
)


def book_clear(*, period: TradingPeriod) -> None:
    """gate_closed -> cleared: the period's book cleared by the engine into trades."""
    settings = CoopSettings.load()
    rows = plain_rows(
        Order.objects.filter(period=period, status=Order.Status.OPEN)
        .order_by("submitted_at", "pk")
        .annotate(wh=in_units(Order, "energy_kwh"), price=in_units(Order, "limit_price_c"))
        .values_list(*_ORDER_COLUMNS)
    )
    columns = list(zip(*rows, strict=True)) or [()] * len(_ORDER_COLUMNS)
    ids, sides, wh, prices, members, icps, feeder_ids, transformer_ids = columns
    # An ICP not placed on the network model is a feeder (and a transformer) of its own: it
    # never gets the same-feeder discount by accident.
    feeder_keys = [f if f is not None else -i for f, i in zip(feeder_ids, icps, strict=True)]
    transformers = [
        t if f is not None and t is not None else -i
        for f, t, i in zip(feeder_ids, transformer_ids, icps, strict=True)
    ]
    keys = sorted(set(feeder_keys))
    feeders = {key: i for i, key in enumerate(keys)}
    book = Book(
        order_id=np.array(ids, dtype=np.int64),
        is_buy=np.array([side == Order.Side.BUY for side in sides], dtype=bool),
        wh=np.array(wh, dtype=np.int64),
        price=np.array(prices, dtype=np.int64),
        # Time priority is each order's place in (submitted_at, pk), the order the rows come
        # in: the same ranking as the times themselves, ties broken by id, without reading
        # 20,000 timestamps.
        submitted=np.arange(len(ids), dtype=np.int64),
        feeder=np.array([feeders[k] for k in feeder_keys], dtype=np.int64),
        transformer=np.array(transformers, dtype=np.int64),
        # Who owns each order, whichever of their ICPs it is on: the engine never matches a
        # member with themselves (see trading.engine.clearing).
        member=np.array(members, dtype=np.int64),
        icp=np.array(icps, dtype=np.int64),
    )
    rules = rules_for(period, settings, set(icps), [k if k > 0 else None for k in keys])
    # Partners first, then gifts to the hardship pool, then the open market.
    arrangements = arrangements_for(period=period, member_ids=set(members))
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
    _trades_write(period, book, result, shared.kind, settings.cover_gift_network)
    _orders_matched(period, ids, book.wh, result.matched_wh)
    period.clearing_price_c = (
        units_to_cents(result.clearing_price) if result.clearing_price is not None else None
    )
    period.mechanism = rules.mechanism.value
    period.traded_kwh = wh_to_kwh(int(result.wh.sum()))  # partners' and gifts' included
    period.save(update_fields=["clearing_price_c", "mechanism", "traded_kwh"])


def _trades_write(
    period: TradingPeriod, book: Book, result: ClearingResult, kinds: np.ndarray, covered: bool
) -> None:
    """The engine's trades as rows, built a column at a time: a 5,000-member period has 10,000
    trades of 19 columns, and a Python call per value was a third of the clearing's time."""
    # Each trade's buy and sell order, as their rows in the book (ids sorted for the search).
    by_id = np.argsort(book.order_id)
    buys = by_id[np.searchsorted(book.order_id, result.buy_id, sorter=by_id)]
    sells = by_id[np.searchsorted(book.order_id, result.sell_id, sorter=by_id)]
    kwh, c, nzd = (from_units(Trade, f) for f in ("energy_kwh", "price_c", "energy_value_nzd"))
    kind = [KINDS[k] for k in kinds.tolist()]
    rows_insert(
        Trade,
        _TRADE_COLUMNS,
        zip(
            [period.pk] * len(kind),
            range(len(kind)),  # sequence: the engine's trade order
            result.buy_id.tolist(),
            result.sell_id.tolist(),
            book.member[buys].tolist(),
            book.member[sells].tolist(),
            book.icp[buys].tolist(),
            book.icp[sells].tolist(),
            kwh(result.wh.tolist()),
            c(result.price.tolist()),
            c(result.network.tolist()),
            c(result.fee.tolist()),
            nzd(result.energy_value.tolist()),
            nzd(result.network_value.tolist()),
            nzd(result.fee_value.tolist()),
            c(result.export_credit.tolist()),
            nzd(result.export_credit_value.tolist()),
            kind,
            [k == Trade.Kind.GIFT and covered for k in kind],
            strict=True,
        ),
    )


def _orders_matched(
    period: TradingPeriod, ids: Sequence[int], wh: np.ndarray, matched: np.ndarray
) -> None:
    """Each order's outcome in a few set-based UPDATEs: filled and unmatched orders by status
    (all of an order, or none of it), and by row only the few filled in part (the marginal
    orders)."""
    order_ids = np.asarray(ids, dtype=np.int64)
    book = Order.objects.filter(period=period)
    filled = order_ids[(matched == wh) & (matched > 0)].tolist()
    unmatched = order_ids[matched == 0].tolist()
    for orders in with_ids(book, filled):
        orders.update(status=Order.Status.FILLED, matched_kwh=F("energy_kwh"))
    for orders in with_ids(book, unmatched):
        orders.update(status=Order.Status.UNMATCHED, matched_kwh=Decimal(0))
    partial = np.flatnonzero((matched > 0) & (matched < wh)).tolist()
    Order.objects.bulk_update(
        [
            Order(
                pk=int(order_ids[k]),
                status=Order.Status.PARTIAL,
                matched_kwh=wh_to_kwh(int(matched[k])),
            )
            for k in partial
        ],
        ["status", "matched_kwh"],
        batch_size=1000,
    )

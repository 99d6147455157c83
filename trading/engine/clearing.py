"""Clearing one period's book: vectorised with numpy, no Python loop over orders.

The supply and demand curves are step functions of cumulative Wh. Sorting bids by price
descending and offers ascending (ties: earlier submission, then lower id) and merging the two
sets of cumulative breakpoints cuts the traded volume into segments; each segment is one buy
order against one sell order. Bid prices fall and offer prices rise along the volume axis, so the
segments where the bid reaches the offer form a prefix: the largest such prefix is the
volume-maximising match.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from trading.engine.book import Book, Mechanism, Rules
from trading.engine.units import cents_to_units, divide_half_even, value_micro

K_SCALE = 1_000_000  # k is applied as an integer fraction of a million


@dataclass(frozen=True)
class ClearingResult:
    """Trades as columns (one row per match) and each order's matched volume."""

    buy_id: np.ndarray
    sell_id: np.ndarray
    wh: np.ndarray
    price: np.ndarray  # energy price, 1e-4 c/kWh
    network: np.ndarray  # network charge, 1e-4 c/kWh
    fee: np.ndarray  # co-op fee, 1e-4 c/kWh
    energy_value: np.ndarray  # micro-NZD, buyer to seller
    network_value: np.ndarray  # micro-NZD, buyer to the network
    fee_value: np.ndarray  # micro-NZD, buyer to the co-op
    clearing_price: int | None  # 1e-4 c/kWh, for mechanisms with one price
    order_id: np.ndarray
    matched_wh: np.ndarray  # per order, aligned with order_id (the book's order)

    @property
    def trade_count(self) -> int:
        return len(self.wh)

    @property
    def buyer_pays(self) -> np.ndarray:
        return self.energy_value + self.network_value + self.fee_value

    def unmatched_wh(self, book: Book) -> np.ndarray:
        return book.wh - self.matched_wh


def _priority(book: Book, idx: np.ndarray, descending_price: bool) -> np.ndarray:
    price = -book.price[idx] if descending_price else book.price[idx]
    # lexsort sorts by the last key first: price, then submitted time, then id.
    return idx[np.lexsort((book.order_id[idx], book.submitted[idx], price))]


def _k_price(bid: np.ndarray, offer: np.ndarray, k: Decimal) -> np.ndarray:
    k_int = int(k * K_SCALE)
    return offer + divide_half_even((bid - offer) * k_int, K_SCALE)


def _segments(b_wh: np.ndarray, s_wh: np.ndarray, volume: int | None = None):
    """Merge cumulative breakpoints: (segment start, length, bid position, offer position)."""
    cum_b, cum_s = np.cumsum(b_wh), np.cumsum(s_wh)
    total = min(int(cum_b[-1]), int(cum_s[-1])) if volume is None else volume
    # Both are sorted: a stable sort of their concatenation is a cheap merge of two runs.
    ends = np.concatenate((cum_b[cum_b <= total], cum_s[cum_s <= total]))
    ends.sort(kind="stable")
    ends = ends[np.concatenate(([True], ends[1:] != ends[:-1]))]
    if len(ends) == 0 or ends[-1] != total:
        ends = np.append(ends, total)
    ends = ends[ends > 0]
    starts = np.concatenate(([0], ends[:-1]))
    bi = np.searchsorted(cum_b, starts, side="right")
    si = np.searchsorted(cum_s, starts, side="right")
    return starts, ends - starts, bi, si


def clear(book: Book, rules: Rules) -> ClearingResult:
    if rules.mechanism == Mechanism.MID_MARKET:
        return _clear_mid_market(book, rules)
    return _clear_auction(book, rules)


def _empty(book: Book) -> ClearingResult:
    nothing = np.zeros(0, dtype=np.int64)
    return ClearingResult(
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        None,
        book.order_id,
        np.zeros(len(book), dtype=np.int64),
    )


def _clear_auction(book: Book, rules: Rules) -> ClearingResult:
    all_idx = np.arange(len(book))
    bids = _priority(book, all_idx[book.is_buy], descending_price=True)
    offers = _priority(book, all_idx[~book.is_buy], descending_price=False)
    if len(bids) == 0 or len(offers) == 0:
        return _empty(book)
    _, lengths, bi, si = _segments(book.wh[bids], book.wh[offers])
    crossing = book.price[bids[bi]] >= book.price[offers[si]]
    tradable = int(np.argmin(crossing)) if not crossing.all() else len(crossing)
    if tradable == 0:
        return _empty(book)
    lengths, bi, si = lengths[:tradable], bi[:tradable], si[:tradable]
    buy_rows, sell_rows = bids[bi], offers[si]
    bid_price, offer_price = book.price[buy_rows], book.price[sell_rows]
    clearing_price = None
    if rules.mechanism == Mechanism.PAY_AS_BID:
        price = _k_price(bid_price, offer_price, rules.k)
    else:
        # One price for the period from the marginal (last matched) bid and offer.
        clearing_price = int(_k_price(bid_price[-1:], offer_price[-1:], rules.k)[0])
        price = np.full(len(lengths), clearing_price, dtype=np.int64)
    return _result(book, rules, buy_rows, sell_rows, lengths, price, clearing_price)


def _largest_remainder(wh: np.ndarray, take: int, total: int, order: np.ndarray) -> np.ndarray:
    """Share `take` Wh among orders in proportion to `wh` (summing to `total`), whole Wh each.

    Each gets the floor of its share; the Wh left over go one each to the largest remainders,
    ties broken by the orders' priority (`order` is their rank).
    """
    numerators = wh * take
    share, remainder = np.divmod(numerators, total)
    left = take - int(share.sum())
    if left:
        ranked = np.lexsort((order, -remainder))
        share[ranked[:left]] += 1
    return share


def _clear_mid_market(book: Book, rules: Rules) -> ClearingResult:
    mid = divide_half_even(
        np.int64(cents_to_units(rules.retail_import_c) + cents_to_units(rules.buyback_c)), 2
    )
    mid = int(mid)
    all_idx = np.arange(len(book))
    bids = _priority(book, all_idx[book.is_buy & (book.price >= mid)], descending_price=True)
    offers = _priority(book, all_idx[~book.is_buy & (book.price <= mid)], descending_price=False)
    if len(bids) == 0 or len(offers) == 0:
        return _empty(book)
    demand, supply = int(book.wh[bids].sum()), int(book.wh[offers].sum())
    volume = min(demand, supply)
    rank_b, rank_s = np.arange(len(bids)), np.arange(len(offers))
    # The short side is filled in full; the long side shares the volume pro rata.
    b_wh = (
        book.wh[bids]
        if demand == volume
        else _largest_remainder(book.wh[bids], volume, demand, rank_b)
    )
    s_wh = (
        book.wh[offers]
        if supply == volume
        else _largest_remainder(book.wh[offers], volume, supply, rank_s)
    )
    keep_b, keep_s = b_wh > 0, s_wh > 0
    bids, b_wh, offers, s_wh = bids[keep_b], b_wh[keep_b], offers[keep_s], s_wh[keep_s]
    _, lengths, bi, si = _segments(b_wh, s_wh, volume)
    price = np.full(len(lengths), mid, dtype=np.int64)
    return _result(book, rules, bids[bi], offers[si], lengths, price, mid)


def _result(book, rules, buy_rows, sell_rows, wh, price, clearing_price) -> ClearingResult:
    same_feeder = book.feeder[buy_rows] == book.feeder[sell_rows]
    time_value = (
        cents_to_units(rules.time_value_c) if rules.mechanism == Mechanism.TIME_VALUE else 0
    )
    network = (
        np.where(
            same_feeder,
            cents_to_units(rules.same_feeder_network_c),
            cents_to_units(rules.network_c),
        )
        + time_value
    )
    fee = np.full(len(wh), cents_to_units(rules.coop_fee_c), dtype=np.int64)
    matched = np.zeros(len(book), dtype=np.int64)
    np.add.at(matched, buy_rows, wh)
    np.add.at(matched, sell_rows, wh)
    return ClearingResult(
        buy_id=book.order_id[buy_rows],
        sell_id=book.order_id[sell_rows],
        wh=wh.astype(np.int64),
        price=price,
        network=network.astype(np.int64),
        fee=fee,
        energy_value=value_micro(wh, price),
        network_value=value_micro(wh, network),
        fee_value=value_micro(wh, fee),
        clearing_price=clearing_price,
        order_id=book.order_id,
        matched_wh=matched,
    )

"""Clearing one period's book: vectorised with numpy, no Python loop over orders.

The supply and demand curves are step functions of cumulative Wh. Sorting bids by price
descending and offers ascending (ties: earlier submission, then lower id) and merging the two
sets of cumulative breakpoints cuts the traded volume into segments; each segment is one buy
order against one sell order. Bid prices fall and offer prices rise along the volume axis, so the
segments where the bid reaches the offer form a prefix: the largest such prefix is the
volume-maximising match.

A member never trades with themselves. Order placement already refuses an order that crosses
the same member's own opposite order in the period (trading.services.orders); the engine does
not rely on that (orders from before the rule, the admin, a bug) and drops, before it clears,
every order of a member that crosses one of their own opposite orders: a bid at or above one of
their offers, an offer at or below one of their bids. Both sides go: the two instructions
contradict each other, and keeping either would be the engine guessing which one the member
meant. Dropping before clearing (rather than matching and then striking self-matches out)
keeps every mechanism's promises intact: what remains clears exactly as a book without those
orders would, volume-maximising with an honest marginal price, and the dropped orders simply
match nothing. It is also enough: each matched segment of an auction pairs a bid at or above
its offer, and mid-market pairs bids at or above the midpoint with offers at or below it, so a
member whose remaining bids are all below their remaining offers cannot meet themselves. The
check is two counts and two scatter reductions over the book, a few per cent of a clearing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from coop.units import cents_to_units, divide_half_even, value_micro
from trading.engine.book import Book, Mechanism, Rules

K_SCALE = 1_000_000  # k is applied as an integer fraction of a million
_INT64 = np.iinfo(np.int64)


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
    export_credit: np.ndarray  # 1e-4 c/kWh, time-value credit the network pays the seller
    export_credit_value: np.ndarray  # micro-NZD, network to the seller
    clearing_price: int | None  # 1e-4 c/kWh, for mechanisms with one price
    order_id: np.ndarray
    matched_wh: np.ndarray  # per order, aligned with order_id (the book's order)
    self_crossing: np.ndarray  # per order: dropped for crossing its member's own other side

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


def _segments(
    b_wh: np.ndarray, s_wh: np.ndarray, volume: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def self_crossing(book: Book) -> np.ndarray:
    """Per order: does it cross an opposite order of the same (known) member? A bid at or above
    one of the member's own offers, or an offer at or below one of their own bids."""
    crossing = np.zeros(len(book), dtype=bool)
    if len(book) == 0:
        return crossing
    member = np.where(book.member > 0, book.member, 0)  # 0: not known, never one member's
    if int(member.max()) > 4 * len(book) + 1024:
        # Database ids are dense enough to index an array with; sparse ones are renumbered.
        member = np.unique(member, return_inverse=True)[1].reshape(-1)
        if int(book.member.min()) > 0:
            member = member + 1  # keep 0 for "not known"
    size = int(member.max()) + 1
    # Only members with orders on both sides can cross themselves: one count over the book
    # (member, side) finds them, then best bid and best offer are taken over their orders alone.
    sides = np.bincount(member * 2 + book.is_buy, minlength=2 * size).reshape(size, 2)
    both = (sides[:, 0] > 0) & (sides[:, 1] > 0)
    both[0] = False
    rows = np.flatnonzero(both[member])
    if len(rows) == 0:
        return crossing
    who, price, is_buy = member[rows], book.price[rows], book.is_buy[rows]
    best_bid = np.full(size, _INT64.min, dtype=np.int64)
    np.maximum.at(best_bid, who[is_buy], price[is_buy])
    best_offer = np.full(size, _INT64.max, dtype=np.int64)
    np.minimum.at(best_offer, who[~is_buy], price[~is_buy])
    crossing[rows] = np.where(is_buy, price >= best_offer[who], price <= best_bid[who])
    return crossing


def clear(book: Book, rules: Rules) -> ClearingResult:
    dropped = self_crossing(book)
    if rules.mechanism == Mechanism.MID_MARKET:
        return _clear_mid_market(book, rules, dropped)
    return _clear_auction(book, rules, dropped)


def _empty(book: Book, dropped: np.ndarray) -> ClearingResult:
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
        nothing,
        nothing,
        None,
        book.order_id,
        np.zeros(len(book), dtype=np.int64),
        dropped,
    )


def _clear_auction(book: Book, rules: Rules, dropped: np.ndarray) -> ClearingResult:
    all_idx = np.arange(len(book))
    bids = _priority(book, all_idx[book.is_buy & ~dropped], descending_price=True)
    offers = _priority(book, all_idx[~book.is_buy & ~dropped], descending_price=False)
    if len(bids) == 0 or len(offers) == 0:
        return _empty(book, dropped)
    _, lengths, bi, si = _segments(book.wh[bids], book.wh[offers])
    crossing = book.price[bids[bi]] >= book.price[offers[si]]
    tradable = int(np.argmin(crossing)) if not crossing.all() else len(crossing)
    if tradable == 0:
        return _empty(book, dropped)
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
    return _result(book, rules, buy_rows, sell_rows, lengths, price, clearing_price, dropped)


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


def _clear_mid_market(book: Book, rules: Rules, dropped: np.ndarray) -> ClearingResult:
    mid = int(
        divide_half_even(cents_to_units(rules.retail_import_c) + cents_to_units(rules.buyback_c), 2)
    )
    all_idx = np.arange(len(book))
    eligible = ~dropped
    bids = _priority(
        book, all_idx[book.is_buy & eligible & (book.price >= mid)], descending_price=True
    )
    offers = _priority(
        book, all_idx[~book.is_buy & eligible & (book.price <= mid)], descending_price=False
    )
    if len(bids) == 0 or len(offers) == 0:
        return _empty(book, dropped)
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
    return _result(book, rules, bids[bi], offers[si], lengths, price, mid, dropped)


def _network_charges(
    book: Book, rules: Rules, buy_rows: np.ndarray, sell_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per trade: the network charge the buyer pays and the export credit the seller earns
    (1e-4 c/kWh)."""
    if rules.mechanism == Mechanism.TIME_VALUE and rules.feeder_import_c:
        # The path's price: the buyer's feeder, plus the upstream part when the energy crosses
        # transformers; the seller's feeder credits the export that relieves it.
        imports = np.array([cents_to_units(c) for c in rules.feeder_import_c], dtype=np.int64)
        credits = np.array(
            [cents_to_units(c) for c in rules.feeder_export_credit_c], dtype=np.int64
        )
        crosses = book.transformer[buy_rows] != book.transformer[sell_rows]
        network = imports[book.feeder[buy_rows]] + np.where(
            crosses, cents_to_units(rules.upstream_c), 0
        )
        return network.astype(np.int64), credits[book.feeder[sell_rows]].astype(np.int64)
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
    return network.astype(np.int64), np.zeros(len(buy_rows), dtype=np.int64)


def _result(
    book: Book,
    rules: Rules,
    buy_rows: np.ndarray,
    sell_rows: np.ndarray,
    wh: np.ndarray,
    price: np.ndarray,
    clearing_price: int | None,
    dropped: np.ndarray,
) -> ClearingResult:
    network, credit = _network_charges(book, rules, buy_rows, sell_rows)
    fee = np.full(len(wh), cents_to_units(rules.coop_fee_c), dtype=np.int64)
    matched = np.zeros(len(book), dtype=np.int64)
    np.add.at(matched, buy_rows, wh)
    np.add.at(matched, sell_rows, wh)
    return ClearingResult(
        buy_id=book.order_id[buy_rows],
        sell_id=book.order_id[sell_rows],
        wh=wh.astype(np.int64),
        price=price,
        network=network,
        fee=fee,
        energy_value=value_micro(wh, price),
        network_value=value_micro(wh, network),
        fee_value=value_micro(wh, fee),
        export_credit=credit,
        export_credit_value=value_micro(wh, credit),
        clearing_price=clearing_price,
        order_id=book.order_id,
        matched_wh=matched,
        self_crossing=dropped,
    )

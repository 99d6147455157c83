"""Sharing before the market: partners first, then gifts to the hardship pool, then the open
market clears what is left. Pure, like the rest of the engine.

1. Partners: each seller's offered surplus goes to their partners' bids, partners in the order
   the seller chose, at the price the seller set for each (zero allowed), but never above the
   partner's own bid limit: a partner's bid is what they agreed to pay, and the arrangement
   does not override it. Sellers are served in the order of their offers (submitted, id).
2. Gifts: each donor gives a share of what they offered (by Wh, rounded down), at most what is
   left of their monthly cap and of their offer after partners. The pool goes to the bids of
   the co-op's hardship recipients, each up to what is left of their monthly allowance, in
   equal shares until each is satisfied (water-filling, whole Wh), at no energy price and no
   co-op fee; the network charge is the distributor's, paid by the recipient as on any trade.
3. The open market clears the rest with the co-op's mechanism, exactly as a book of what is
   left would clear.

Each is a trade like any other: the result is one ClearingResult (direct trades first) plus
each trade's kind, so settlement, statements and the chain treat them all alike. Orders that
cross their own member's opposite orders are left out of every step, as the clearing does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from coop.units import value_micro
from trading.engine.book import Book, Rules
from trading.engine.clearing import ClearingResult, _result, clear, self_crossing

MARKET, PARTNER, GIFT = 0, 1, 2
KINDS = {MARKET: "market", PARTNER: "partner", GIFT: "gift"}
PPM = 1_000_000


@dataclass(frozen=True)
class PartnerTerm:
    seller: int  # member ids, as in Book.member
    partner: int
    price: int  # 1e-4 c/kWh
    rank: int = 1


@dataclass(frozen=True)
class Pledge:
    donor: int
    share_ppm: int  # of what the donor offered this period, in millionths
    cap_wh: int | None = None  # what is left of the monthly cap; None: no cap


@dataclass(frozen=True)
class Recipient:
    member: int
    allowance_wh: int  # what is left of this month's allowance


@dataclass(frozen=True)
class Arrangements:
    partners: tuple[PartnerTerm, ...] = ()
    pledges: tuple[Pledge, ...] = ()
    recipients: tuple[Recipient, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.partners or (self.pledges and self.recipients))


@dataclass(frozen=True)
class SharedResult:
    result: ClearingResult
    kind: np.ndarray  # per trade: MARKET, PARTNER or GIFT


def _order_of(book: Book, rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((book.order_id[rows], book.submitted[rows]))]


def _water_fill(pool: int, needs: dict[int, int]) -> dict[int, int]:
    """`pool` Wh shared among `needs` in equal shares until each is met, whole Wh; a share
    that does not divide goes one Wh each to the lowest member ids."""
    given = dict.fromkeys(needs, 0)
    open_ = sorted(m for m, n in needs.items() if n > 0)
    while pool > 0 and open_:
        share, extra = divmod(pool, len(open_))
        still = []
        for i, member in enumerate(open_):
            take = min(needs[member] - given[member], share + (1 if i < extra else 0))
            given[member] += take
            pool -= take
            if given[member] < needs[member]:
                still.append(member)
        # Each round either meets someone's need or hands out the whole pool.
        open_ = still
    return given


def allocate(
    book: Book, arrangements: Arrangements
) -> tuple[list[tuple[int, int, int, int, int]], np.ndarray]:
    """Direct trades as (buy row, sell row, Wh, price, kind), and each order's Wh left."""
    left = book.wh.astype(np.int64).copy()
    eligible = ~self_crossing(book)
    rows = np.arange(len(book))
    bids_of: dict[int, list[int]] = defaultdict(list)
    for row in _order_of(book, rows[book.is_buy & eligible]).tolist():
        bids_of[int(book.member[row])].append(row)
    offers_of: dict[int, list[int]] = defaultdict(list)
    offers = _order_of(book, rows[~book.is_buy & eligible]).tolist()
    for row in offers:
        offers_of[int(book.member[row])].append(row)
    trades: list[tuple[int, int, int, int, int]] = []

    terms: dict[int, list[PartnerTerm]] = defaultdict(list)
    for term in sorted(arrangements.partners, key=lambda t: (t.seller, t.rank, t.partner)):
        if term.seller != term.partner and term.seller > 0 and term.price >= 0:
            terms[term.seller].append(term)
    for sell in offers:
        for term in terms.get(int(book.member[sell]), ()):
            for buy in bids_of.get(term.partner, ()):
                if left[sell] == 0:
                    break
                if left[buy] == 0 or term.price > book.price[buy]:
                    continue
                wh = int(min(left[sell], left[buy]))
                trades.append((buy, sell, wh, term.price, PARTNER))
                left[sell] -= wh
                left[buy] -= wh

    needs: dict[int, int] = {}
    for recipient in arrangements.recipients:
        wanted = sum(int(left[b]) for b in bids_of.get(recipient.member, ()))
        needs[recipient.member] = min(wanted, max(recipient.allowance_wh, 0))
    gifts: list[tuple[int, int]] = []  # (sell row, Wh given)
    for pledge in sorted(arrangements.pledges, key=lambda p: p.donor):
        if pledge.donor in needs or pledge.share_ppm <= 0:
            continue  # a recipient does not give to themselves through the pool
        cap = pledge.cap_wh
        for sell in offers_of.get(pledge.donor, ()):
            giving = min(int(book.wh[sell]) * min(pledge.share_ppm, PPM) // PPM, int(left[sell]))
            if cap is not None:
                giving = min(giving, max(cap, 0))
                cap -= giving
            if giving > 0:
                gifts.append((sell, giving))
    given = _water_fill(sum(g for _, g in gifts), needs)
    # Pair the pool's Wh with the recipients' bids, both in a fixed order.
    wants = [(buy, member) for member in sorted(given) for buy in bids_of.get(member, ())]
    quota = dict(given)
    donors = iter(gifts)
    sell, giving = next(donors, (None, 0))
    for buy, member in wants:
        while quota[member] > 0 and left[buy] > 0 and sell is not None:
            wh = int(min(quota[member], left[buy], giving))
            trades.append((buy, sell, wh, 0, GIFT))
            quota[member] -= wh
            left[buy] -= wh
            left[sell] -= wh
            giving -= wh
            if giving == 0:
                sell, giving = next(donors, (None, 0))
    return trades, left


def clear_shared(book: Book, rules: Rules, arrangements: Arrangements) -> SharedResult:
    """Partners, then gifts, then the open market: one result, direct trades first."""
    if not arrangements or len(book) == 0:
        result = clear(book, rules)
        return SharedResult(result, np.full(result.trade_count, MARKET, dtype=np.int8))
    direct, left = allocate(book, arrangements)
    keep = left > 0
    rest = Book(
        order_id=book.order_id[keep],
        is_buy=book.is_buy[keep],
        wh=left[keep],
        price=book.price[keep],
        submitted=book.submitted[keep],
        feeder=book.feeder[keep],
        member=book.member[keep],
        icp=book.icp[keep],
        transformer=book.transformer[keep],
    )
    market = clear(rest, rules)
    dropped = self_crossing(book)
    if not direct:
        matched = np.zeros(len(book), dtype=np.int64)
        matched[keep] = market.matched_wh
        merged = replace(market, order_id=book.order_id, matched_wh=matched, self_crossing=dropped)
        return SharedResult(merged, np.full(market.trade_count, MARKET, dtype=np.int8))
    buy_rows = np.array([t[0] for t in direct], dtype=np.int64)
    sell_rows = np.array([t[1] for t in direct], dtype=np.int64)
    wh = np.array([t[2] for t in direct], dtype=np.int64)
    price = np.array([t[3] for t in direct], dtype=np.int64)
    kind = np.array([t[4] for t in direct], dtype=np.int8)
    own = _result(book, rules, buy_rows, sell_rows, wh, price, None, dropped)
    # The co-op takes no fee on a gift.
    fee = np.where(kind == GIFT, 0, own.fee).astype(np.int64)
    own = replace(own, fee=fee, fee_value=value_micro(wh, fee))
    matched = own.matched_wh.copy()
    matched[keep] += market.matched_wh

    def joined(name: str) -> np.ndarray:
        return np.concatenate((getattr(own, name), getattr(market, name)))

    columns = (
        "buy_id",
        "sell_id",
        "wh",
        "price",
        "network",
        "fee",
        "energy_value",
        "network_value",
        "fee_value",
        "export_credit",
        "export_credit_value",
    )
    merged = ClearingResult(
        **{name: joined(name) for name in columns},
        clearing_price=market.clearing_price,
        order_id=book.order_id,
        matched_wh=matched,
        self_crossing=dropped,
    )
    return SharedResult(
        merged, np.concatenate((kind, np.full(market.trade_count, MARKET, np.int8)))
    )

"""The engine's promises, checked on hand-made books, random books (hypothesis) and against a
plain brute-force reference."""

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop import units
from trading.engine import Book, BookError, Mechanism, Order, Rules, clear

D = Decimal


def book(*orders):
    return Book.from_orders(
        [
            Order(i, side, D(kwh), D(price), submitted=i, feeder_id=feeder)
            for i, (side, kwh, price, feeder) in enumerate(orders, start=1)
        ]
    )


def test_uniform_price_k_pricing_between_marginal_bid_and_offer():
    b = book(
        ("buy", "2", "30", 1),
        ("buy", "1", "20", 1),
        ("sell", "1", "10", 1),
        ("sell", "1.5", "18", 2),
        ("sell", "1", "25", 1),
    )
    r = clear(
        b,
        Rules(
            Mechanism.UNIFORM,
            k=D("0.5"),
            coop_fee_c=D("0.5"),
            network_c=D(4),
            same_feeder_network_c=D(2),
        ),
    )
    # 2.5 kWh trade: bids 30 (2) and 20 (0.5) against offers 10 (1) and 18 (1.5).
    assert r.wh.sum() == 2500
    assert r.clearing_price == units.cents_to_units(D(19))  # (20 + 18) / 2
    assert list(zip(r.buy_id, r.sell_id, r.wh, strict=True)) == [
        (1, 3, 1000),
        (1, 4, 1000),
        (2, 4, 500),
    ]
    assert list(r.network) == [20_000, 40_000, 40_000]  # same feeder, then across feeders
    assert list(r.energy_value) == [190_000, 190_000, 95_000]  # micro-NZD: 1 kWh at 19 c = $0.19
    assert dict(zip(r.order_id, r.matched_wh, strict=True)) == {
        1: 2000,
        2: 500,
        3: 1000,
        4: 1500,
        5: 0,
    }


def test_pay_as_bid_prices_each_match_between_its_limits():
    b = book(
        ("buy", "1", "30", 0), ("buy", "1", "20", 0), ("sell", "1", "10", 0), ("sell", "1", "18", 0)
    )
    r = clear(b, Rules(Mechanism.PAY_AS_BID, k=D("0.25")))
    assert r.clearing_price is None
    assert [units.units_to_cents(p) for p in r.price] == [D("15"), D("18.5")]


def test_mid_market_shares_the_long_side_pro_rata_in_whole_wh():
    b = book(
        ("buy", "1", "30", 0),
        ("sell", "1", "10", 0),
        ("sell", "2", "12", 0),
        ("sell", "1", "25", 0),
    )  # the 25 c offer is above the 20.5 c midpoint: left out
    r = clear(b, Rules(Mechanism.MID_MARKET, retail_import_c=D(29), buyback_c=D(12)))
    assert r.clearing_price == units.cents_to_units(D("20.5"))
    matched = dict(zip(r.order_id, r.matched_wh, strict=True))
    assert matched == {
        1: 1000,
        2: 333,
        3: 667,
        4: 0,
    }  # 1/3 and 2/3 of 1 kWh; the odd Wh to the larger remainder


def test_time_value_network_price_is_added_to_every_trade():
    b = book(("buy", "1", "30", 1), ("sell", "1", "10", 1))
    r = clear(b, Rules(Mechanism.TIME_VALUE, same_feeder_network_c=D(2), time_value_c=D("-1.5")))
    assert units.units_to_cents(r.network[0]) == D("0.5")


def test_time_value_charges_each_trade_its_path_and_credits_the_sellers_feeder():
    """Feeders 0 and 1 under transformer 10, feeder 2 under transformer 20: the buyer pays its
    feeder's import price (plus the upstream part across transformers), the seller's feeder
    credits the export."""
    orders = [
        Order(1, "sell", D(2), D(10), submitted=1, feeder_id=0, transformer_id=10),
        Order(2, "buy", D(1), D(30), submitted=2, feeder_id=1, transformer_id=10),
        Order(3, "buy", D(1), D(29), submitted=3, feeder_id=2, transformer_id=20),
    ]
    rules = Rules(
        Mechanism.TIME_VALUE,
        feeder_import_c=(D(5), D("12.5"), D(-3)),
        feeder_export_credit_c=(D("4.25"), D(0), D(0)),
        upstream_c=D(2),
    )
    r = clear(Book.from_orders(orders), rules)
    cents = units.units_to_cents
    network = {int(b): cents(n) for b, n in zip(r.buy_id, r.network, strict=True)}
    assert network == {2: D("12.5"), 3: D(-1)}  # -3 c in a solar flood, +2 c upstream
    assert [cents(c) for c in r.export_credit] == [D("4.25"), D("4.25")]
    assert r.export_credit_value.tolist() == [42_500, 42_500]  # 1 kWh x 4.25 c, micro-NZD
    with pytest.raises(BookError, match="both an import price and an export credit"):
        Rules(Mechanism.TIME_VALUE, feeder_import_c=(D(1),))


def test_no_cross_no_trade_and_one_sided_books():
    assert clear(book(("buy", "1", "10", 0), ("sell", "1", "11", 0)), Rules()).trade_count == 0
    assert clear(book(("buy", "1", "10", 0)), Rules()).trade_count == 0
    assert clear(book(), Rules()).trade_count == 0


def test_bad_books_are_refused():
    with pytest.raises(ValueError, match="more than 3 decimal places"):
        book(("buy", "0.0005", "10", 0))
    with pytest.raises(ValueError, match="finite"):
        book(("buy", "NaN", "10", 0))
    with pytest.raises(BookError, match="positive"):
        book(("buy", "0", "10", 0))
    with pytest.raises(BookError, match="buy or sell"):
        book(("hold", "1", "10", 0))
    with pytest.raises(BookError, match="k must be"):
        Rules(k=D(2))


def test_ties_go_to_the_earlier_order_then_the_lower_id():
    orders = [
        Order(7, "buy", D(1), D(20), submitted=5),
        Order(3, "buy", D(1), D(20), submitted=5),
        Order(1, "buy", D(1), D(20), submitted=9),
        Order(9, "sell", D(1), D(10)),
    ]
    r = clear(Book.from_orders(orders), Rules())
    assert list(r.buy_id) == [3]


def test_half_even_rounding_of_money():
    assert list(units.divide_half_even(np.array([1500, 2500, -1500, -500, 1499]), 1000)) == [
        2,
        2,
        -2,
        0,
        1,
    ]
    assert units.value_micro(1, 5000) == 5  # 1 Wh at 0.5 c/kWh = 5 micro-NZD exactly


# --- properties -------------------------------------------------------------------------

order_st = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 5000),  # Wh
    st.integers(5, 40),  # whole cents keep ties common
    st.integers(0, 2),  # feeder
)


def make(orders):
    return Book(
        order_id=np.arange(1, len(orders) + 1, dtype=np.int64),
        is_buy=np.array([o[0] == "buy" for o in orders], dtype=bool),
        wh=np.array([o[1] for o in orders], dtype=np.int64),
        price=np.array([o[2] * 10_000 for o in orders], dtype=np.int64),
        submitted=np.array([len(orders) - i for i in range(len(orders))], dtype=np.int64),
        feeder=np.array([o[3] for o in orders], dtype=np.int64),
    )


def brute_force_uniform(orders):
    """Walk the sorted books one Wh at a time: the obvious (slow) double auction."""
    n = len(orders)
    prio = lambda i, sign: (sign * orders[i][2], n - i, i + 1)  # noqa: E731
    bids = sorted((i for i in range(n) if orders[i][0] == "buy"), key=lambda i: prio(i, -1))
    offers = sorted((i for i in range(n) if orders[i][0] == "sell"), key=lambda i: prio(i, 1))
    left = [o[1] for o in orders]
    volume, bi, si, last = 0, 0, 0, None
    while bi < len(bids) and si < len(offers) and orders[bids[bi]][2] >= orders[offers[si]][2]:
        q = min(left[bids[bi]], left[offers[si]])
        left[bids[bi]] -= q
        left[offers[si]] -= q
        volume += q
        last = (bids[bi], offers[si])
        bi += left[bids[bi]] == 0
        si += left[offers[si]] == 0
    price = (
        None if last is None else (orders[last[0]][2] * 10_000 + orders[last[1]][2] * 10_000) // 2
    )
    return volume, price


ALL_RULES = {
    mechanism: Rules(
        mechanism,
        coop_fee_c=D("0.5"),
        network_c=D(4),
        same_feeder_network_c=D(2),
        time_value_c=D("1.25"),
        retail_import_c=D(30),
        buyback_c=D(11),
    )
    for mechanism in Mechanism
}


@settings(max_examples=150, deadline=None)
@given(st.lists(order_st, max_size=25), st.sampled_from(list(Mechanism)))
def test_properties_hold_for_every_mechanism(orders, mechanism):
    b = make(orders)
    rules = ALL_RULES[mechanism]
    r = clear(b, rules)
    limit = dict(zip(b.order_id, b.price, strict=True))
    wh = dict(zip(b.order_id, b.wh, strict=True))
    for buy, sell, price in zip(r.buy_id, r.sell_id, r.price, strict=True):
        assert price <= limit[buy], "a buyer paid above their limit"
        assert price >= limit[sell], "a seller got less than their limit"
    for order_id, matched in zip(r.order_id, r.matched_wh, strict=True):
        assert 0 <= matched <= wh[order_id]
    bought = r.matched_wh[b.is_buy].sum()
    sold = r.matched_wh[~b.is_buy].sum()
    assert bought == sold == r.wh.sum()
    assert (r.wh > 0).all()
    assert r.buyer_pays.sum() == r.energy_value.sum() + r.network_value.sum() + r.fee_value.sum()


@settings(max_examples=200, deadline=None)
@given(st.lists(order_st, max_size=25))
def test_uniform_auction_equals_the_brute_force_reference(orders):
    r = clear(make(orders), Rules(Mechanism.UNIFORM))
    volume, price = brute_force_uniform(orders)
    assert int(r.wh.sum()) == volume  # and so the volume is the maximum feasible
    assert r.clearing_price == price


@settings(max_examples=100, deadline=None)
@given(st.lists(order_st, max_size=20))
def test_mid_market_fills_the_short_side(orders):
    r = clear(make(orders), Rules(Mechanism.MID_MARKET, retail_import_c=D(30), buyback_c=D(10)))
    b = make(orders)
    mid = 200_000
    demand = b.wh[b.is_buy & (b.price >= mid)].sum()
    supply = b.wh[~b.is_buy & (b.price <= mid)].sum()
    assert r.wh.sum() == min(demand, supply)


# --- a member never trades with themselves (issue 10, item 3) ------------------------------


def members_book(*orders):
    """Orders as (member, icp, side, kWh, c/kWh)."""
    return Book.from_orders(
        [
            Order(i, side, D(kwh), D(price), member_id=member, icp_id=icp, submitted=i)
            for i, (member, icp, side, kwh, price) in enumerate(orders, start=1)
        ]
    )


@pytest.mark.parametrize("mechanism", list(Mechanism))
@pytest.mark.parametrize("seller_icp", [11, 12], ids=["same ICP", "their other ICP"])
def test_a_member_alone_cannot_trade_with_themselves_or_set_the_price(mechanism, seller_icp):
    b = members_book(
        (1, 11, "buy", "1", "30"),
        (1, seller_icp, "sell", "1", "10"),
        (2, 21, "buy", "1", "20"),
        (3, 31, "sell", "1", "25"),
    )
    r = clear(b, ALL_RULES[mechanism])
    # Without member 1's own pair nothing crosses (20 c bid, 25 c offer) at any mechanism
    # except mid-market, whose midpoint 20.5 c keeps the 20 c bid out as well.
    assert r.trade_count == 0
    if mechanism != Mechanism.MID_MARKET:
        assert r.clearing_price is None
    assert list(r.self_crossing) == [True, True, False, False]
    assert list(r.matched_wh) == [0, 0, 0, 0]


def test_a_members_orders_that_do_not_cross_their_own_still_trade_with_others():
    b = members_book(
        (1, 11, "buy", "1", "18"),  # below member 1's own 25 c offer: no cross, stays
        (1, 12, "sell", "1", "25"),
        (2, 21, "buy", "2", "30"),
        (3, 31, "sell", "1", "10"),
    )
    r = clear(b, ALL_RULES[Mechanism.UNIFORM])
    assert not r.self_crossing.any()
    assert list(zip(r.buy_id, r.sell_id, r.wh, strict=True)) == [(3, 4, 1000), (3, 2, 1000)]
    assert r.clearing_price == units.cents_to_units(D("27.5"))


member_order_st = st.tuples(
    st.integers(0, 3),  # member: 0 is "not known" (research books), 1-3 a few members
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 3000),  # Wh
    st.integers(5, 40),  # whole cents: ties and crosses are common
    st.integers(0, 1),  # which of the member's two ICPs
)


def make_members(orders):
    n = len(orders)
    return Book(
        order_id=np.arange(1, n + 1, dtype=np.int64),
        is_buy=np.array([o[1] == "buy" for o in orders], dtype=bool),
        wh=np.array([o[2] for o in orders], dtype=np.int64),
        price=np.array([o[3] * 10_000 for o in orders], dtype=np.int64),
        submitted=np.array([n - i for i in range(n)], dtype=np.int64),
        feeder=np.array([o[4] for o in orders], dtype=np.int64),
        member=np.array([o[0] for o in orders], dtype=np.int64),
        icp=np.array([o[0] * 10 + o[4] for o in orders], dtype=np.int64),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(member_order_st, max_size=30), st.sampled_from(list(Mechanism)))
def test_no_trade_has_the_same_member_on_both_sides(orders, mechanism):
    b = make_members(orders)
    r = clear(b, ALL_RULES[mechanism])
    member = dict(zip(b.order_id.tolist(), b.member.tolist(), strict=True))
    for buy, sell in zip(r.buy_id.tolist(), r.sell_id.tolist(), strict=True):
        assert member[buy] == 0 or member[buy] != member[sell], "a member traded with themselves"
    # Energy balances: every Wh bought was sold, no order over-filled, trades positive.
    assert r.matched_wh[b.is_buy].sum() == r.matched_wh[~b.is_buy].sum() == r.wh.sum()
    assert ((r.matched_wh >= 0) & (r.matched_wh <= b.wh)).all()
    assert (r.wh > 0).all()
    assert r.buyer_pays.sum() == r.energy_value.sum() + r.network_value.sum() + r.fee_value.sum()


@settings(max_examples=200, deadline=None)
@given(st.lists(member_order_st, max_size=30), st.sampled_from(list(Mechanism)))
def test_self_crossing_orders_are_as_if_never_placed(orders, mechanism):
    """The engine drops a member's orders that cross their own opposite orders before it clears:
    the rest clears exactly as a book without them would."""
    b = make_members(orders)
    r = clear(b, ALL_RULES[mechanism])
    keep = ~r.self_crossing
    # Whatever is dropped really crosses the same member's other side; nothing else is dropped.
    for i in range(len(b)):
        own = (b.member == b.member[i]) & (b.is_buy != b.is_buy[i])
        crosses = b.member[i] != 0 and (
            (b.price[own] <= b.price[i]).any()
            if b.is_buy[i]
            else (b.price[own] >= b.price[i]).any()
        )
        assert bool(r.self_crossing[i]) == bool(crosses)
    rest = Book(
        order_id=b.order_id[keep],
        is_buy=b.is_buy[keep],
        wh=b.wh[keep],
        price=b.price[keep],
        submitted=b.submitted[keep],
        feeder=b.feeder[keep],
        member=b.member[keep],
        icp=b.icp[keep],
    )
    alone = clear(rest, ALL_RULES[mechanism])
    assert r.clearing_price == alone.clearing_price
    for column in ("buy_id", "sell_id", "wh", "price", "network", "energy_value"):
        assert getattr(r, column).tolist() == getattr(alone, column).tolist()
    assert (r.matched_wh[r.self_crossing] == 0).all()


def test_sparse_member_ids_are_told_apart_too():
    big = 10**15
    b = members_book(
        (big, 1, "buy", "1", "30"),
        (big, 2, "sell", "1", "10"),
        (big + 1, 3, "sell", "1", "12"),
    )
    r = clear(b, Rules(Mechanism.UNIFORM))
    assert list(r.self_crossing) == [True, True, False]
    assert r.trade_count == 0


# --- settlement with ICPs held aside (issue 10, item 4) ---------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3000), st.integers(0, 40)),
        max_size=8,
    ),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), min_size=4, max_size=4),
    st.sets(st.integers(1, 4)),
)
def test_holding_an_icp_aside_and_settling_it_later_equals_settling_it_at_once(
    trades, metered, held_icps
):
    from collections import Counter

    from trading.engine.settlement import IcpPeriod, TradeRow, deviation, settle

    member = {1: 1, 2: 1, 3: 2, 4: 3}  # member 1 holds two ICPs
    rows = [
        TradeRow(i, member[b], member[s], b, s, wh, wh * price // 1000, wh * 4, wh // 2)
        for i, (b, s, wh, price) in enumerate(trades)
        if member[b] != member[s]
    ]
    icps = {
        icp: IcpPeriod(member[icp], imp, exp, 300_000, 120_000)
        for icp, (imp, exp) in zip(range(1, 5), metered, strict=True)
    }
    at_once = settle(rows, icps)
    held = settle(
        rows,
        {i: p for i, p in icps.items() if i not in held_icps},
        {i: member[i] for i in held_icps},
    )
    assert held.total() == 0  # balanced to the micro-dollar with ICPs held aside
    later = []
    for icp in held_icps:
        bought = sum(r.wh for r in rows if r.buyer_icp == icp)
        sold = sum(r.wh for r in rows if r.seller_icp == icp)
        later += deviation(icp, icps[icp], bought, sold)[0]
    assert sum(line.amount for line in later) == 0
    assert Counter(held.lines + later) == Counter(at_once.lines)

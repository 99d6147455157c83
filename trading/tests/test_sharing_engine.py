"""Partners, then gifts, then the open market (trading.engine.sharing): pure, no database."""

from decimal import Decimal

import numpy as np
import pytest

from coop.units import cents_to_units
from trading.engine import Book, Mechanism, Rules, clear
from trading.engine.sharing import (
    GIFT,
    MARKET,
    PARTNER,
    PPM,
    Arrangements,
    PartnerTerm,
    Pledge,
    Recipient,
    clear_shared,
)

RULES = Rules(
    Mechanism.UNIFORM,
    coop_fee_c=Decimal("0.5"),
    network_c=Decimal(4),
    same_feeder_network_c=Decimal(2),
)


def book(orders):
    """orders: (id, member, side, wh, limit c)."""
    return Book(
        order_id=np.array([o[0] for o in orders], dtype=np.int64),
        is_buy=np.array([o[2] == "buy" for o in orders]),
        wh=np.array([o[3] for o in orders], dtype=np.int64),
        price=np.array([cents_to_units(Decimal(o[4])) for o in orders], dtype=np.int64),
        submitted=np.arange(len(orders), dtype=np.int64),
        feeder=np.zeros(len(orders), dtype=np.int64),
        member=np.array([o[1] for o in orders], dtype=np.int64),
    )


def trades(shared):
    r = shared.result
    return sorted(
        (int(b), int(s), int(w), int(p), int(k))
        for b, s, w, p, k in zip(r.buy_id, r.sell_id, r.wh, r.price, shared.kind, strict=True)
    )


def test_without_arrangements_it_is_the_market():
    b = book([(1, 10, "sell", 1000, "12"), (2, 20, "buy", 800, "25")])
    shared = clear_shared(b, RULES, Arrangements())
    plain = clear(b, RULES)
    assert trades(shared) == sorted(
        (int(x), int(y), int(w), int(p), MARKET)
        for x, y, w, p in zip(plain.buy_id, plain.sell_id, plain.wh, plain.price, strict=True)
    )


def test_a_partner_is_served_first_at_the_sellers_price_in_the_sellers_order():
    b = book(
        [
            (1, 10, "sell", 1000, "15"),
            (2, 20, "buy", 400, "25"),  # partner rank 2
            (3, 30, "buy", 700, "25"),  # partner rank 1
            (4, 40, "buy", 900, "30"),  # the open market
        ]
    )
    terms = (
        PartnerTerm(10, 20, cents_to_units(Decimal(5)), rank=2),
        PartnerTerm(10, 30, 0, rank=1),
    )
    shared = clear_shared(b, RULES, Arrangements(partners=terms))
    assert trades(shared) == [(2, 1, 300, 50_000, PARTNER), (3, 1, 700, 0, PARTNER)]
    # Partner trades pay the network and the co-op's fee like any trade.
    r = shared.result
    assert (r.network > 0).all()
    assert (r.fee == 5_000).all()
    matched = dict(zip(r.order_id.tolist(), r.matched_wh.tolist(), strict=True))
    assert matched == {1: 1000, 2: 300, 3: 700, 4: 0}


def test_a_partner_price_above_the_partners_own_limit_is_not_forced_on_them():
    b = book([(1, 10, "sell", 500, "10"), (2, 20, "buy", 500, "8")])
    shared = clear_shared(b, RULES, Arrangements(partners=(PartnerTerm(10, 20, 90_000),)))
    assert trades(shared) == []  # 9 c is above their 8 c bid; the market cannot match either


def test_what_partners_leave_goes_to_the_open_market():
    b = book([(1, 10, "sell", 1000, "12"), (2, 20, "buy", 300, "20"), (3, 30, "buy", 900, "25")])
    shared = clear_shared(b, RULES, Arrangements(partners=(PartnerTerm(10, 20, 0),)))
    assert (2, 1, 300, 0, PARTNER) in trades(shared)
    market = [t for t in trades(shared) if t[4] == MARKET]
    assert market
    assert market[0][:3] == (3, 1, 700)


def test_gifts_share_the_pool_equally_up_to_each_allowance_at_no_price_and_no_fee():
    b = book(
        [
            (1, 10, "sell", 2000, "12"),  # donor: 10% -> 200 Wh
            (2, 11, "sell", 1000, "12"),  # donor: 50% -> 500 Wh, capped at 300
            (3, 50, "buy", 1000, "25"),  # recipient, allowance 100
            (4, 60, "buy", 1000, "25"),  # recipient, allowance 5000
            (5, 70, "buy", 1000, "25"),  # not a recipient
        ]
    )
    arrangements = Arrangements(
        pledges=(Pledge(10, 100_000), Pledge(11, 500_000, cap_wh=300)),
        recipients=(Recipient(50, 100), Recipient(60, 5000)),
    )
    shared = clear_shared(b, RULES, arrangements)
    r = shared.result
    gifts = shared.kind == GIFT
    assert r.wh[gifts].sum() == 500  # 200 + 300 (the cap)
    received = {m: int(r.wh[gifts & (r.buy_id == o)].sum()) for m, o in ((50, 3), (60, 4))}
    assert received == {50: 100, 60: 400}
    assert (r.price[gifts] == 0).all()
    assert (r.energy_value[gifts] == 0).all()
    assert (r.fee[gifts] == 0).all()
    assert (r.network[gifts] > 0).all()  # the distributor's charge still applies
    # What was not given is offered on the open market.
    assert r.wh[~gifts].sum() > 0


@pytest.mark.parametrize("seed", range(20))
def test_nobody_trades_more_than_they_offered_or_bid(seed):
    rng = np.random.default_rng(seed)
    n = 30
    orders = [
        (
            i + 1,
            int(rng.integers(1, 12)),
            "buy" if rng.random() < 0.5 else "sell",
            int(rng.integers(1, 3000)),
            str(int(rng.integers(5, 30))),
        )
        for i in range(n)
    ]
    b = book(orders)
    members = sorted({o[1] for o in orders})
    arrangements = Arrangements(
        partners=tuple(
            PartnerTerm(int(a), int(c), int(rng.integers(0, 200_000)), rank=int(rng.integers(1, 4)))
            for a, c in rng.choice(members, size=(6, 2))
        ),
        pledges=tuple(Pledge(int(m), int(rng.integers(0, PPM)), None) for m in members[:4]),
        recipients=tuple(Recipient(int(m), int(rng.integers(0, 2000))) for m in members[-3:]),
    )
    shared = clear_shared(b, RULES, arrangements)
    r = shared.result
    assert (r.wh > 0).all()
    for order_id, wh, is_buy in zip(b.order_id, b.wh, b.is_buy, strict=True):
        traded = r.wh[(r.buy_id if is_buy else r.sell_id) == order_id].sum()
        assert traded <= wh
    matched = dict(zip(r.order_id.tolist(), r.matched_wh.tolist(), strict=True))
    for order_id in b.order_id.tolist():
        assert matched[order_id] == r.wh[(r.buy_id == order_id) | (r.sell_id == order_id)].sum()
    members_of = dict(zip(b.order_id.tolist(), b.member.tolist(), strict=True))
    for buy, sell in zip(r.buy_id.tolist(), r.sell_id.tolist(), strict=True):
        assert members_of[buy] != members_of[sell]  # never with oneself

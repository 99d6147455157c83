from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.engine import Mechanism, Rules, clear
from trading.engine.settlement import IcpPeriod, TradeRow, settle, trade_rows
from trading.tests.test_engine import make, order_st

RETAIL, BUYBACK = 300_000, 120_000  # 30 c and 12 c/kWh in price units


def test_a_trade_and_its_deviations_settle_at_retail_prices():
    trade = TradeRow(
        0,
        buyer_member=1,
        seller_member=2,
        buyer_icp=10,
        seller_icp=20,
        wh=2000,
        energy_value=400_000,
        network_value=40_000,
        fee_value=10_000,
    )
    icps = {
        10: IcpPeriod(
            1, import_wh=2500, export_wh=0, retail_import_price=RETAIL, buyback_price=BUYBACK
        ),
        20: IcpPeriod(
            2, import_wh=0, export_wh=1500, retail_import_price=RETAIL, buyback_price=BUYBACK
        ),
    }
    s = settle([trade], icps)
    assert s.total() == 0
    by = {(line.account, line.kind): line.amount for line in s.lines}
    assert by[(("member", 1), "p2p_energy")] == -400_000
    assert by[(("member", 2), "p2p_energy")] == 400_000
    assert by[(("network",), "network")] == 40_000
    assert by[(("coop",), "coop_fee")] == 10_000
    # Buyer imported 0.5 kWh more than bought: from the retailer at 30 c = 15 c.
    assert by[(("member", 1), "retail_import")] == -150_000
    # Seller exported 0.5 kWh less than sold: covers the shortfall at the retail price.
    assert by[(("member", 2), "retail_import")] == -150_000
    buyer = s.members[1]
    assert buyer.net_amount == -400_000 - 40_000 - 10_000 - 150_000
    assert buyer.retailer_only == -750_000  # 2.5 kWh at 30 c
    assert s.members[2].retailer_only == 180_000  # 1.5 kWh bought back at 12 c


def test_traded_icp_without_metering_is_refused():
    trade = TradeRow(0, 1, 2, 10, 20, 1000, 1, 0, 0)
    with pytest.raises(ValueError, match="no metered data"):
        settle([trade], {10: IcpPeriod(1, 0, 0, RETAIL, BUYBACK)})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(order_st, min_size=1, max_size=20),
    st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 6000)), min_size=20, max_size=20),
    st.sampled_from(list(Mechanism)),
)
def test_every_period_sums_to_exactly_zero(orders, metered, mechanism):
    book = make(orders)
    rules = Rules(
        mechanism,
        coop_fee_c=Decimal("0.37"),
        network_c=Decimal("4.13"),
        same_feeder_network_c=Decimal("1.9"),
        time_value_c=Decimal("2.71"),
        retail_import_c=Decimal("29.9"),
        buyback_c=Decimal("12.5"),
    )
    result = clear(book, rules)
    rows = {oid: i for i, oid in enumerate(book.order_id)}
    icp_of = lambda ids: [int(book.order_id[rows[i]]) for i in ids]  # noqa: E731  one ICP per order
    member_of = lambda ids: [int(book.order_id[rows[i]]) % 5 for i in ids]  # noqa: E731
    trades = trade_rows(
        result,
        member_of(result.buy_id),
        member_of(result.sell_id),
        icp_of(result.buy_id),
        icp_of(result.sell_id),
    )
    icps = {
        int(oid): IcpPeriod(int(oid) % 5, metered[i][0], metered[i][1], 298_765, 125_001)
        for i, oid in enumerate(book.order_id)
    }
    s = settle(trades, icps)
    assert s.total() == 0
    assert (
        sum(m.net_amount for m in s.members.values())
        + sum(line.amount for line in s.lines if line.account[0] != "member")
        == 0
    )
    for member_id, m in s.members.items():
        assert m.bought_wh == sum(t.wh for t in trades if t.buyer_member == member_id)


def test_an_export_credit_is_a_transfer_from_the_network_to_the_seller():
    icps = {
        1: IcpPeriod(1, 0, 1000, 200_000, 120_000),
        2: IcpPeriod(2, 1000, 0, 300_000, 120_000),
    }
    row = TradeRow(0, 2, 1, 2, 1, 1000, 150_000, 50_000, 5_000, export_credit_value=42_500)
    result = settle([row], icps)
    credit = [line for line in result.lines if line.kind == "export_credit"]
    assert [(line.account, line.icp_id, line.amount) for line in credit] == [
        (("network",), 1, -42_500),
        (("member", 1), 1, 42_500),
    ]
    assert result.total() == 0
    assert result.members[1].net_amount == 150_000 + 42_500


def test_an_export_credit_is_paid_on_no_more_than_the_meter_exported():
    """Selling 1 kWh but exporting 0.4 kWh earns the credit on 0.4 kWh: an order alone never
    earns it (the shortfall is bought from the retailer as any deviation is)."""
    icps = {
        1: IcpPeriod(1, 0, 400, 200_000, 120_000),
        2: IcpPeriod(2, 1000, 0, 300_000, 120_000),
    }
    row = TradeRow(0, 2, 1, 2, 1, 1000, 150_000, 50_000, 5_000, export_credit_value=42_500)
    result = settle([row], icps)
    credit = [line for line in result.lines if line.kind == "export_credit"]
    assert [(line.wh, line.amount) for line in credit] == [(400, -17_000), (400, 17_000)]
    assert result.total() == 0
    # Held aside (no meter data yet): no credit until it is metered.
    held = settle([row], {2: icps[2]}, held={1: 1})
    assert not [line for line in held.lines if line.kind == "export_credit"]


def test_a_buyers_charges_are_one_transfer_per_icp_however_many_trades():
    """Energy settles per trade; the network charge and co-op fee per buyer ICP and period,
    each the sum of its trades' own rounded charges."""
    trades = [
        TradeRow(i, 1, seller, 10, icp, 500, 100_000 + i, 10_001 + i, 2_501, 0, covered)
        for i, (seller, icp, covered) in enumerate(((2, 20, False), (3, 30, False), (2, 20, True)))
    ]
    icps = {
        icp: IcpPeriod(member, *((1500, 0) if icp == 10 else (0, 1000)), RETAIL, BUYBACK)
        for icp, member in ((10, 1), (20, 2), (30, 3))
    }
    s = settle(trades, icps)
    assert s.total() == 0
    energy = [line for line in s.lines if line.kind == "p2p_energy"]
    assert sorted({line.trade_index for line in energy}) == [0, 1, 2]
    charged = {
        line.kind: line
        for line in s.lines
        if line.account == ("member", 1) and line.kind != "p2p_energy"
    }
    assert set(charged) == {
        "network",
        "coop_fee",
        "gift_network_cover",
    }  # no deviation: 1.5 kWh bought
    assert charged["network"].amount == -(10_001 + 10_002 + 10_003)
    assert charged["network"].wh == 1500
    assert charged["coop_fee"].amount == -3 * 2_501
    assert charged["gift_network_cover"].amount == 10_003  # the covered gift's charge only
    assert charged["gift_network_cover"].wh == 500
    assert all(line.trade_index is None for line in charged.values())
    assert s.members[1].net_amount == -(100_000 + 100_001 + 100_002) - 30_006 - 7_503 + 10_003

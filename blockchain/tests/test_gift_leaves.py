"""A gift through the hardship pool is committed with the pool on both sides of its leaf: no
proof tells a donor who received or a recipient who gave (issue 17)."""

import datetime as dt
from decimal import Decimal

from blockchain import merkle
from blockchain.selectors.ledger import HARDSHIP_POOL_HASH, member_chain_id_draft, trade_leaf_fields
from trading.models import Trade, TradingPeriod


def _trade(kind: str) -> Trade:
    period = TradingPeriod(trading_date=dt.date(2026, 7, 6), number=26)
    return Trade(
        period=period,
        sequence=3,
        kind=kind,
        buyer_id=11,
        seller_id=22,
        energy_kwh=Decimal("0.750"),
        price_c=Decimal(0),
        network_c=Decimal(2),
        fee_c=Decimal(0),
        energy_value_nzd=Decimal(0),
        network_value_nzd=Decimal("0.015"),
        fee_value_nzd=Decimal(0),
    )


def test_a_gift_leaf_names_the_pool_on_both_sides_and_keeps_the_rest():
    ids = {pk: member_chain_id_draft(pk) for pk in (11, 22)}
    gift = trade_leaf_fields(_trade(Trade.Kind.GIFT), ids)
    market = trade_leaf_fields(_trade(Trade.Kind.MARKET), ids)
    assert gift.buyer == gift.seller == HARDSHIP_POOL_HASH
    assert market.buyer == bytes.fromhex(ids[11].member_hash[2:])
    assert market.seller == bytes.fromhex(ids[22].member_hash[2:])
    # The rest of the trade is committed as it is: period, energy, price 0, what was paid.
    for name in ("period_id", "sequence", "energy_wh", "price_c_e4", "value_micro_nzd"):
        assert getattr(gift, name) == getattr(market, name)
    assert gift.price_c_e4 == 0
    assert gift.energy_wh == 750
    encoded = merkle.encode_leaf(gift)
    assert ids[11].member_hash[2:] not in encoded.hex()
    assert ids[22].member_hash[2:] not in encoded.hex()

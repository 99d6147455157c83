"""What a period commits: its trades as Merkle leaves, the root and the totals beside it, and a
trade's proof. Read from the database only (see blockchain.merkle for the byte layout).

Members are named on chain by their chain id (MemberChainId), which the services create when a
period is first committed. These reads never create one: a member who has none yet gets a draft
(computed, never saved), so a summary can always be made, but a root with a draft in it is no
root any chain holds; `PeriodSummary.unregistered` says when that is so.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from django.db.models import QuerySet
from eth_utils import keccak

from blockchain import merkle
from blockchain.chain.client import PeriodTotals
from blockchain.models import MemberChainId
from coop.units import cents_to_units, kwh_to_wh, nzd_to_micro
from trading.models import Trade, TradingPeriod


@dataclass(frozen=True)
class PeriodSummary:
    """A period as the chain sees it: the root of its trades and the totals beside it."""

    chain_period_id: int
    leaves: list[bytes]
    root: str
    trade_count: int
    total_wh: int
    total_value_micro_nzd: int
    # Members of the period's trades with no chain id recorded yet (their leaves use drafts).
    unregistered: frozenset[int] = frozenset()

    @property
    def totals(self) -> PeriodTotals:
        return PeriodTotals(
            self.chain_period_id,
            self.root,
            self.trade_count,
            self.total_wh,
            self.total_value_micro_nzd,
        )


def member_chain_id_draft(member_id: int) -> MemberChainId:
    """A new chain identity for the member, not saved: a fresh random salt each call.

    The hash is keccak256 of the salt and the member's id; the address is derived from the
    hash (no one holds its key).
    """
    salt = secrets.token_bytes(32)
    member_hash = keccak(salt + member_id.to_bytes(32, "big"))
    address = keccak(b"hapori-member-address:" + member_hash)[12:]
    return MemberChainId(
        member_id=member_id,
        salt="0x" + salt.hex(),
        member_hash="0x" + member_hash.hex(),
        address="0x" + address.hex(),
    )


def member_chain_ids(member_ids: Iterable[int]) -> dict[int, MemberChainId]:
    """{member pk: chain id} of those members who have one recorded."""
    return {c.member_id: c for c in MemberChainId.objects.filter(member_id__in=set(member_ids))}


def period_member_ids(period: TradingPeriod) -> set[int]:
    """Every member who bought or sold in the period."""
    pairs = Trade.objects.filter(period=period).values_list("buyer_id", "seller_id")
    return {pk for pair in pairs for pk in pair}


# A gift through the hardship pool names the pool on both sides of its leaf, not the donor and
# the recipient: their chain ids are stable pseudonyms, and a donor who met the recipient's id
# in another trade would otherwise learn who receives from the pool (issue 17). The trade's
# period, energy, price (0) and value stay on chain, so the gift is still committed and proven.
HARDSHIP_POOL_HASH = keccak(b"hapori:hardship-pool")


def trade_leaf_fields(trade: Trade, ids: dict[int, MemberChainId]) -> merkle.TradeLeaf:
    """The integers a trade's leaf encodes (see blockchain.merkle for the byte layout)."""
    gift = trade.kind == Trade.Kind.GIFT
    return merkle.TradeLeaf(
        period_id=trade.period.period_id,
        sequence=trade.sequence,
        buyer=HARDSHIP_POOL_HASH if gift else bytes.fromhex(ids[trade.buyer_id].member_hash[2:]),
        seller=HARDSHIP_POOL_HASH if gift else bytes.fromhex(ids[trade.seller_id].member_hash[2:]),
        energy_wh=kwh_to_wh(trade.energy_kwh),
        price_c_e4=cents_to_units(trade.price_c),
        value_micro_nzd=nzd_to_micro(trade.buyer_pays_nzd),
    )


def period_trades(period: TradingPeriod) -> list[Trade]:
    return list(Trade.objects.filter(period=period).select_related("period").order_by("sequence"))


def period_summary(period: TradingPeriod) -> PeriodSummary:
    trades = period_trades(period)
    return _summary(period, trades, member_chain_ids(_members_of(trades)))


def _members_of(trades: Iterable[Trade]) -> set[int]:
    return {pk for t in trades for pk in (t.buyer_id, t.seller_id)}


def _summary(
    period: TradingPeriod, trades: Sequence[Trade], recorded: dict[int, MemberChainId]
) -> PeriodSummary:
    """The summary of `period` from its trades in sequence order and the chain ids recorded."""
    member_ids = _members_of(trades)
    unregistered = frozenset(member_ids - recorded.keys())
    ids = {**recorded, **{pk: member_chain_id_draft(pk) for pk in unregistered}}
    leaves = [merkle.encode_leaf(trade_leaf_fields(t, ids)) for t in trades]
    return PeriodSummary(
        chain_period_id=period.period_id,
        leaves=leaves,
        root="0x" + merkle.merkle_root(leaves).hex(),
        trade_count=len(trades),
        total_wh=sum(kwh_to_wh(t.energy_kwh) for t in trades),
        total_value_micro_nzd=sum(nzd_to_micro(t.buyer_pays_nzd) for t in trades),
        unregistered=unregistered,
    )


@dataclass(frozen=True)
class TradeProof:
    """A trade's place in its period's tree: what a member checks against the contract."""

    trade: Trade
    summary: PeriodSummary
    index: int
    proof: list[bytes]

    @property
    def leaf(self) -> bytes:
        return self.summary.leaves[self.index]

    @property
    def final(self) -> bool:
        """Is this the leaf the chain holds? Not while a member of the period has no chain id:
        the leaf then names a draft, and the root is one no chain holds."""
        return not self.summary.unregistered


def trade_proofs(wanted: QuerySet[Trade]) -> list[TradeProof]:
    """The proofs of the `wanted` trades, in period and sequence order.

    A month's download asks for hundreds of periods: their trades and the members' chain ids
    are read in one query each, not one per period.
    """
    chosen = set(wanted.values_list("pk", flat=True))
    trades = list(
        Trade.objects.filter(period_id__in=wanted.values("period_id"))
        .select_related("period")
        .order_by("period__start", "period_id", "sequence")
    )
    recorded = member_chain_ids(_members_of(trades))
    proofs = []
    for _, group in groupby(trades, key=lambda t: t.period_id):
        in_period = list(group)
        summary = _summary(in_period[0].period, in_period, recorded)
        for index, trade in enumerate(in_period):
            if trade.pk in chosen:
                proof = merkle.merkle_proof(summary.leaves, index)
                proofs.append(TradeProof(trade, summary, index, proof))
    return proofs


def trade_proof(trade: Trade) -> TradeProof:
    """The trade's leaf index and Merkle proof, from the database."""
    return trade_proofs(Trade.objects.filter(pk=trade.pk))[0]


def period_of_chain_id(chain_period_id: int) -> TradingPeriod | None:
    """The trading period a chain period id (yyyymmdd * 100 + TP) names, if we have it."""
    day, number = divmod(chain_period_id, 100)
    try:
        date = dt.date(day // 10_000, day // 100 % 100, day % 100)
    except ValueError:
        return None
    return TradingPeriod.objects.filter(trading_date=date, number=number).first()

"""Settling one trading period: the NZ financial overlay, as balanced transfers.

Each member keeps their retailer. A trade moves money, not electrons: the buyer pays the seller
the energy price, the network its charge and the co-op its fee (the charges and fees added up
per ICP and period, the energy per trade). What was metered then settles
against what was traded, at the member's own retail prices:

- imported more than bought: the rest was bought from the retailer at the retail import price;
- imported less than bought: the surplus purchase is sold back to the retailer at buy-back;
- exported more than sold: the rest was sold to the retailer at buy-back;
- exported less than sold: the shortfall is bought from the retailer at the retail import price.

Every movement of money is a transfer: two lines of the same rounded amount with opposite
signs. So a period's lines sum to exactly zero, whatever the rounding. Sign: a positive amount
is money the account receives.

An ICP can be held aside (no tariff in force, no reading): its trades still settle in full with
everyone else's, since the counterparties' own settlement depends on them, but what it metered
against what it traded waits until it is complete (`deviation`, called then). Both parts are
made of transfers, so a period sums to zero exactly with or without its held ICPs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from coop.units import divide_half_even, value_micro
from trading.engine.clearing import ClearingResult

# The rows below are named tuples, not dataclasses: a 5,000-member period makes some 60,000 of
# them, and a frozen dataclass takes twice as long to build.

# An account money moves between: ("member", member id), or one of these three.
Account = tuple
RETAILER = ("retailer",)
COOP = ("coop",)
NETWORK = ("network",)


def member_account(member_id: int) -> tuple[str, int]:
    return ("member", member_id)


class TradeRow(NamedTuple):
    trade_index: int
    buyer_member: int
    seller_member: int
    buyer_icp: int
    seller_icp: int
    wh: int
    energy_value: int  # micro-NZD
    network_value: int
    fee_value: int
    export_credit_value: int = 0  # micro-NZD, network to the seller (time-value pricing)
    network_covered_by_coop: bool = False  # a hardship gift whose network charge the co-op pays


class IcpPeriod(NamedTuple):
    """What one ICP metered in the period, and its prices (1e-4 c/kWh, excl. GST)."""

    member_id: int
    import_wh: int
    export_wh: int
    retail_import_price: int
    buyback_price: int


class Line(NamedTuple):
    account: Account
    icp_id: int | None
    kind: str
    wh: int
    amount: int  # micro-NZD; positive = received
    trade_index: int | None = None


class MemberSummary(NamedTuple):
    imported_wh: int
    exported_wh: int
    bought_wh: int
    sold_wh: int
    net_amount: int  # micro-NZD, the member's lines added up
    retailer_only: int  # micro-NZD, the same metered energy with the retailer alone


@dataclass(frozen=True)
class Settlement:
    lines: list[Line]
    members: dict[int, MemberSummary]

    def total(self) -> int:
        return sum(line.amount for line in self.lines)


def _transfer(
    lines: list[Line],
    payer: Account,
    payee: Account,
    amount: int,
    kind: str,
    wh: int,
    icp: int | None,
    trade: int | None = None,
) -> None:
    if amount == 0 and wh == 0:
        return
    lines.append(Line(payer, icp, kind, wh, -amount, trade))
    lines.append(Line(payee, icp, kind, wh, amount, trade))


def deviation(icp_id: int, icp: IcpPeriod, bought_wh: int, sold_wh: int) -> tuple[list[Line], int]:
    """One ICP's metered energy against what it traded, settled with its retailer: the lines
    (transfers) and the retailer-only counterfactual (micro-NZD) for its member's summary."""
    lines: list[Line] = []
    member = member_account(icp.member_id)
    import_gap = icp.import_wh - bought_wh
    export_gap = icp.export_wh - sold_wh
    retail_wh = max(import_gap, 0) + max(-export_gap, 0)
    buyback_wh = max(-import_gap, 0) + max(export_gap, 0)
    if retail_wh:
        amount = int(value_micro(retail_wh, icp.retail_import_price))
        _transfer(lines, member, RETAILER, amount, "retail_import", retail_wh, icp_id)
    if buyback_wh:
        amount = int(value_micro(buyback_wh, icp.buyback_price))
        _transfer(lines, RETAILER, member, amount, "retail_export", buyback_wh, icp_id)
    retailer_only = int(value_micro(icp.export_wh, icp.buyback_price)) - int(
        value_micro(icp.import_wh, icp.retail_import_price)
    )
    return lines, retailer_only


def export_credits(trades: Iterable[TradeRow], icp_id: int, export_wh: int) -> list[Line]:
    """The time-value export credits the network pays the seller of ICP `icp_id`, on no more
    energy than the ICP's meter exported: an order alone never earns a credit (else selling
    what one does not send, and buying the gap at retail, would pocket the credit). The
    metered export goes to the ICP's trades in trade order; a trade it covers in part earns
    that share of its credit, rounded half to even."""
    lines: list[Line] = []
    left = export_wh
    for t in trades:
        if t.seller_icp != icp_id or not t.export_credit_value or left <= 0:
            continue
        wh = min(t.wh, left)
        left -= wh
        value = t.export_credit_value
        if wh < t.wh:
            value = int(divide_half_even(t.export_credit_value * wh, t.wh))
        _transfer(
            lines,
            NETWORK,
            member_account(t.seller_member),
            value,
            "export_credit",
            wh,
            icp_id,
            t.trade_index,
        )
    return lines


def settle(
    trades: Iterable[TradeRow],
    icps: Mapping[int, IcpPeriod],
    held: Mapping[int, int] | None = None,
) -> Settlement:
    """Settle a period. `held` is {ICP id: member id} of ICPs held aside: their trades settle,
    their deviation and export credits do not (yet); their member's summary counts what they
    traded."""
    held = held or {}
    trades = list(trades)
    if clash := set(held) & set(icps):
        raise ValueError(f"ICPs {sorted(clash)} are both held aside and settled")
    lines: list[Line] = []
    bought: dict[int, int] = defaultdict(int)
    sold: dict[int, int] = defaultdict(int)
    # {(buyer's ICP, buyer): [kWh bought, network charges, co-op fees, kWh and network charges
    # of the gifts the co-op covers]}
    charges: dict[tuple[int, int], list[int]] = {}
    for t in trades:
        buyer, seller = member_account(t.buyer_member), member_account(t.seller_member)
        _transfer(
            lines, buyer, seller, t.energy_value, "p2p_energy", t.wh, t.buyer_icp, t.trade_index
        )
        owed = charges.setdefault((t.buyer_icp, t.buyer_member), [0, 0, 0, 0, 0])
        owed[0] += t.wh
        owed[1] += t.network_value
        owed[2] += t.fee_value
        if t.network_covered_by_coop:
            owed[3] += t.wh
            owed[4] += t.network_value
        bought[t.buyer_icp] += t.wh
        sold[t.seller_icp] += t.wh
    # A buyer's network charges and co-op fees are paid per ICP and period, as a network bills
    # an ICP, not per trade: each is the sum of its trades' own charges (rounded per trade, in
    # the trades' network_value and fee_value), so the money is the same to the micro-NZD, and
    # a large period has a third of the lines. The co-op pays back, out of its fees, the
    # network charge on the gifts it covers.
    for (icp_id, member_id), (wh, network, fee, gift_wh, gift_network) in sorted(charges.items()):
        buyer = member_account(member_id)
        _transfer(lines, buyer, NETWORK, network, "network", wh, icp_id)
        _transfer(lines, buyer, COOP, fee, "coop_fee", wh, icp_id)
        if gift_wh:
            _transfer(lines, COOP, buyer, gift_network, "gift_network_cover", gift_wh, icp_id)

    # Each ICP's credits from its own sales only: matching every ICP against every trade is
    # quadratic, minutes for a 5,000-member co-op.
    sales: dict[int, list[TradeRow]] = defaultdict(list)
    for t in trades:
        if t.export_credit_value:
            sales[t.seller_icp].append(t)
    for icp_id, icp in sorted(icps.items()):
        if icp_id in sales:
            lines.extend(export_credits(sales[icp_id], icp_id, icp.export_wh))

    missing = (set(bought) | set(sold)) - set(icps) - set(held)
    if missing:
        raise ValueError(f"no metered data for traded ICPs {sorted(missing)}")

    per_member: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for icp_id, icp in sorted(icps.items()):
        icp_lines, retailer_only = deviation(icp_id, icp, bought[icp_id], sold[icp_id])
        lines.extend(icp_lines)
        summary = per_member[icp.member_id]
        summary["imported_wh"] += icp.import_wh
        summary["exported_wh"] += icp.export_wh
        summary["bought_wh"] += bought[icp_id]
        summary["sold_wh"] += sold[icp_id]
        summary["retailer_only"] += retailer_only
    for icp_id, member_id in sorted(held.items()):
        if bought[icp_id] or sold[icp_id]:
            summary = per_member[member_id]
            summary["bought_wh"] += bought[icp_id]
            summary["sold_wh"] += sold[icp_id]

    net: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.account[0] == "member":
            net[line.account[1]] += line.amount
    members = {
        member_id: MemberSummary(
            imported_wh=s["imported_wh"],
            exported_wh=s["exported_wh"],
            bought_wh=s["bought_wh"],
            sold_wh=s["sold_wh"],
            net_amount=net[member_id],
            retailer_only=s["retailer_only"],
        )
        for member_id, s in per_member.items()
    }
    settlement = Settlement(lines, members)
    if settlement.total() != 0:  # impossible by construction; a guard against future edits
        raise AssertionError("settlement lines do not sum to zero")
    return settlement


def difference(settled: Iterable[Line], fresh: Iterable[Line]) -> list[Line]:
    """The lines that, added to `settled`, make them add up to `fresh`: an amendment.

    Lines are compared by account, ICP, kind and trade, with energy and amount summed over
    each, so a settlement already amended compares by what it adds up to now. Each transfer's
    two lines differ by the same amount with opposite signs, so the difference is made of
    transfers too and sums to zero when both sides do. Empty when nothing differs. A line's
    energy may be negative here: less of that kind than was settled.
    """
    totals: dict[tuple[Account, int | None, str, int | None], list[int]] = {}
    for sign, lines in ((1, fresh), (-1, settled)):
        for line in lines:
            total = totals.setdefault(
                (line.account, line.icp_id, line.kind, line.trade_index), [0, 0]
            )
            total[0] += sign * line.wh
            total[1] += sign * line.amount
    return [
        Line(account, icp_id, kind, wh, amount, trade_index)
        for (account, icp_id, kind, trade_index), (wh, amount) in totals.items()
        if wh or amount
    ]


def trade_rows(
    result: ClearingResult,
    buy_members: Iterable[int],
    sell_members: Iterable[int],
    buy_icps: Iterable[int],
    sell_icps: Iterable[int],
) -> list[TradeRow]:
    """TradeRows from a ClearingResult and per-trade member/ICP columns."""
    columns = zip(
        buy_members,
        sell_members,
        buy_icps,
        sell_icps,
        result.wh,
        result.energy_value,
        result.network_value,
        result.fee_value,
        result.export_credit_value,
        strict=True,
    )
    return [
        TradeRow(i, int(bm), int(sm), int(bi), int(si), int(wh), int(ev), int(nv), int(fv), int(xv))
        for i, (bm, sm, bi, si, wh, ev, nv, fv, xv) in enumerate(columns)
    ]

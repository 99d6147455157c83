"""metered -> settled: the settlement core's balanced lines, written to the database.

One member's incomplete ICP never stops the period. An ICP with no tariff in force on the
period's date, or no reading (no meter), is held aside alone, with a SettlementHold that names
it by ICP number and shows as an alarm on the admin home page; everyone else settles and the
period moves on to the chain. Why hold rather than settle at a fallback price: the co-op has
no retail price of its own to stand in for a member's retailer (CoopSettings keeps none), and
any made-up price or guessed energy would be written into statements as if it were true. What
is certain still settles: the held ICP's trades, in full, because their counterparties'
settlement depends on them. Only its own deviation (metered energy against what it traded,
with its retailer) waits, and is settled when the ICP is complete: settlement_holds_retry,
every beat tick and from the admin. Both parts are transfers, so the period's lines sum to
exactly zero before and after.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from coop.completeness import icps_without_meter
from coop.models import ICP
from coop.tariffs import HalfHourPrices
from coop.units import cents_to_units, kwh_to_wh, micro_to_nzd, wh_to_kwh
from trading.engine.settlement import (
    IcpPeriod,
    Line,
    MemberSummary,
    Settlement,
    TradeRow,
    deviation,
    export_credits,
    settle,
)
from trading.models import (
    MemberPeriodSummary,
    SettlementAmendment,
    SettlementHold,
    SettlementLine,
    Trade,
    TradingPeriod,
)
from trading.services.metered import period_energy, period_holders
from trading.services.pricing import icp_prices
from trading.services.rows import from_units, in_units, plain_rows, rows_insert

log = logging.getLogger(__name__)
_PRICE = Decimal("0.0001")  # retail prices to the engine's precision, 1e-4 c/kWh
RETRY_PER_TICK = 20  # open holds tried per beat tick, least recently tried first


def _in_units(prices: HalfHourPrices) -> tuple[int, int]:
    """Retail import and buy-back prices in the engine's units (1e-4 c/kWh)."""
    return cents_to_units(prices.import_c.quantize(_PRICE)), cents_to_units(
        prices.export_c.quantize(_PRICE)
    )


def _icp_period(
    member_id: int, energy: tuple[Decimal, Decimal], prices: tuple[int, int]
) -> IcpPeriod:
    """One ICP's period for the core; `prices` in the engine's units (_in_units)."""
    imp, exp = energy
    return IcpPeriod(member_id, kwh_to_wh(imp), kwh_to_wh(exp), *prices)


def _gaps(
    period: TradingPeriod,
    icp_ids: set[int],
    energy: dict[int, tuple[Decimal, Decimal]],
    prices: dict[int, HalfHourPrices],
) -> dict[int, str]:
    """{ICP id: why it is held}, naming each ICP by its number."""
    incomplete = {i for i in icp_ids if i not in energy or i not in prices}
    if not incomplete:
        return {}
    no_meter = icps_without_meter(incomplete)
    numbers = dict(ICP.objects.filter(pk__in=incomplete).values_list("pk", "identifier"))
    reasons = {}
    for icp_id in sorted(incomplete):
        why = []
        if icp_id not in energy:
            why.append("no meter and no reading" if icp_id in no_meter else "no reading")
        if icp_id not in prices:
            why.append(f"no tariff in force on {period.trading_date:%d %b %Y}")
        reasons[icp_id] = f"ICP {numbers[icp_id]}: {', '.join(why)}"
    return reasons


LINE_COLUMNS = (
    "period_id",
    "amendment_id",
    "account",
    "member_id",
    "icp_id",
    "kind",
    "energy_kwh",
    "amount_nzd",
    "trade_id",
)


def lines_write(
    period: TradingPeriod,
    lines: Iterable[Line],
    trade_ids: Mapping[int, int],
    amendment: SettlementAmendment | None = None,
) -> int:
    """Store the core's lines as the period's (or `amendment`'s) settlement lines; `trade_ids`
    is {engine trade index (the trade's sequence): trade id}."""
    # A column at a time (the lines are named tuples): a call per value was a third of
    # writing a 5,000-member period's 43,000 lines. In the core's order, each transfer's two
    # lines together: SQLite sums decimals as floating point, and a transfer's two lines apart
    # would leave a period's total a rounding error off zero.
    lines = list(lines)
    if not lines:
        return 0
    accounts, icps, kinds, wh, amounts, trades = zip(*lines, strict=True)
    kwh, nzd = from_units(SettlementLine, "energy_kwh"), from_units(SettlementLine, "amount_nzd")
    return rows_insert(
        SettlementLine,
        LINE_COLUMNS,
        zip(
            [period.pk] * len(lines),
            [amendment.pk if amendment else None] * len(lines),
            [account[0] for account in accounts],
            [account[1] if account[0] == "member" else None for account in accounts],
            icps,
            kinds,
            kwh(wh),
            nzd(amounts),
            [trade_ids[t] if t is not None else None for t in trades],
            strict=True,
        ),
    )


@dataclass(frozen=True)
class Computed:
    """A period's settlement computed from the current trades, readings, tariffs and holders."""

    result: Settlement
    trade_ids: dict[int, int]  # {sequence (the engine's trade index): trade id}
    holders: dict[int, int]  # {ICP id: member id} of every ICP settled or held
    gaps: dict[int, str]  # {ICP id: why it cannot be settled}, held aside in `result`


def settlement_compute(period: TradingPeriod, *, held: Collection[int] = frozenset()) -> Computed:
    """Settle the period in memory with the pure core (trading.engine.settlement.settle).

    Every incomplete ICP is held aside (`gaps`), and so is each of `held` whatever its data: a
    re-settlement keeps the period's open holds for settlement_hold_settle to settle.
    """
    trades, trade_ids = _trade_rows(Trade.objects.filter(period=period))
    # Whoever traded on an ICP settles its trades; the ICP's holder settles the rest.
    holders = period_holders(period)
    for t in trades:
        holders[t.buyer_icp] = t.buyer_member
        holders[t.seller_icp] = t.seller_member
    icp_ids = set(holders)
    kept = icp_ids & set(held)
    energy = period_energy(period, icp_ids - kept)
    prices = icp_prices(period, icp_ids - kept, strict=False)
    gaps = _gaps(period, icp_ids - kept, energy, prices)
    # The ICPs on one plan share its prices object (icp_prices): converted once per plan.
    plans = {id(p): p for p in prices.values()}
    units = {key: _in_units(p) for key, p in plans.items()}
    icps = {
        icp_id: _icp_period(holders[icp_id], energy[icp_id], units[id(prices[icp_id])])
        for icp_id in icp_ids - kept
        if icp_id not in gaps
    }
    result = settle(trades, icps, {icp_id: holders[icp_id] for icp_id in kept | set(gaps)})
    return Computed(result, trade_ids, holders, gaps)


def _trade_rows(trades: QuerySet[Trade]) -> tuple[list[TradeRow], dict[int, int]]:
    """The core's rows of these trades in sequence order, and {sequence: trade id}; read as
    plain values, energy and money in the engine's units (a large period has tens of thousands
    of trades)."""
    rows, ids = [], {}
    for pk, seq, buyer, seller, buyer_icp, seller_icp, wh, ev, nv, fv, xv, covered in plain_rows(
        trades.order_by("sequence")
        .annotate(
            wh=in_units(Trade, "energy_kwh"),
            ev=in_units(Trade, "energy_value_nzd"),
            nv=in_units(Trade, "network_value_nzd"),
            fv=in_units(Trade, "fee_value_nzd"),
            xv=in_units(Trade, "export_credit_value_nzd"),
        )
        .values_list(
            "pk",
            "sequence",
            "buyer_id",
            "seller_id",
            "buyer_icp_id",
            "seller_icp_id",
            "wh",
            "ev",
            "nv",
            "fv",
            "xv",
            "network_covered_by_coop",
        )
    ):
        ids[seq] = pk
        rows.append(
            TradeRow(seq, buyer, seller, buyer_icp, seller_icp, wh, ev, nv, fv, xv, covered)
        )
    return rows, ids


NO_SUMMARY = MemberSummary(0, 0, 0, 0, 0, 0)  # a member with nothing settled in the period


def summary_figures(s: MemberSummary) -> dict[str, Decimal]:
    """A MemberPeriodSummary's fields from the core's summary of a member, in its fields'
    order."""
    return {
        "imported_kwh": wh_to_kwh(s.imported_wh),
        "exported_kwh": wh_to_kwh(s.exported_wh),
        "bought_p2p_kwh": wh_to_kwh(s.bought_wh),
        "sold_p2p_kwh": wh_to_kwh(s.sold_wh),
        "net_amount_nzd": micro_to_nzd(s.net_amount),
        "retailer_only_nzd": micro_to_nzd(s.retailer_only),
    }


def summaries_write(period: TradingPeriod, members: Mapping[int, MemberSummary]) -> int:
    """Store the core's member summaries as the period's, a column at a time (lines_write)."""
    if not members:
        return 0
    imported, exported, bought, sold, net, retailer_only = zip(*members.values(), strict=True)
    kwh = from_units(MemberPeriodSummary, "imported_kwh")
    nzd = from_units(MemberPeriodSummary, "net_amount_nzd")
    return rows_insert(
        MemberPeriodSummary,
        ("period_id", "member_id", *summary_figures(NO_SUMMARY)),
        zip(
            [period.pk] * len(members),
            members,
            kwh(imported),
            kwh(exported),
            kwh(bought),
            kwh(sold),
            nzd(net),
            nzd(retailer_only),
            strict=True,
        ),
    )


def settlement_write(*, period: TradingPeriod) -> None:
    """metered -> settled: the balanced lines and member summaries of the period."""
    computed = settlement_compute(period)
    result, reasons = computed.result, computed.gaps
    lines_write(period, result.lines, computed.trade_ids)
    summaries_write(period, result.members)
    SettlementHold.objects.bulk_create(
        SettlementHold(
            period=period, icp_id=icp_id, member_id=computed.holders[icp_id], reason=reason
        )
        for icp_id, reason in reasons.items()
    )
    for reason in reasons.values():
        log.warning("trading period %s settled without %s (held aside)", period, reason)


def _traded_wh(period: TradingPeriod, icp_id: int) -> tuple[int, int]:
    bought = sold = 0
    for buyer_icp, seller_icp, kwh in Trade.objects.filter(
        Q(buyer_icp_id=icp_id) | Q(seller_icp_id=icp_id), period=period
    ).values_list("buyer_icp_id", "seller_icp_id", "energy_kwh"):
        bought += kwh_to_wh(kwh) if buyer_icp == icp_id else 0
        sold += kwh_to_wh(kwh) if seller_icp == icp_id else 0
    return bought, sold


def settlement_hold_settle(*, hold_id: int, now: dt.datetime | None = None) -> bool:
    """Settle a held ICP's deviation once it has a reading and a tariff; True if resolved.

    Adds its transfers with the retailer to the period (the period still sums to zero) and its
    metered energy, lines and counterfactual to its member's summary for the period.
    """
    now = now or timezone.now()
    with transaction.atomic():
        hold = (
            SettlementHold.objects.select_for_update()
            .select_related("period", "icp")
            .filter(pk=hold_id, resolved_at__isnull=True)
            .first()
        )
        if hold is None:
            return False
        # The period's lock, as settling and re-settling it take: a re-settlement running now
        # (trading.services.corrections) finishes first, and this reads the readings after it.
        TradingPeriod.objects.select_for_update().filter(pk=hold.period_id).first()
        period, icp_id = hold.period, hold.icp_id
        energy = period_energy(period, {icp_id})
        prices = icp_prices(period, {icp_id}, strict=False)
        hold.checked_at = now
        if reasons := _gaps(period, {icp_id}, energy, prices):
            hold.reason = reasons[icp_id]  # e.g. the meter came, the tariff has not
            hold.save(update_fields=["checked_at", "reason"])
            return False
        icp = _icp_period(hold.member_id, energy[icp_id], _in_units(prices[icp_id]))
        lines, retailer_only = deviation(icp_id, icp, *_traded_wh(period, icp_id))
        # Its export credits wait for its meter too, as settle() pays them.
        sales, trade_ids = _trade_rows(period.trades.filter(seller_icp_id=icp_id))
        lines += export_credits(sales, icp_id, icp.export_wh)
        lines_write(period, lines, trade_ids)
        summary, _ = MemberPeriodSummary.objects.select_for_update().get_or_create(
            period=period,
            member_id=hold.member_id,
            defaults=summary_figures(NO_SUMMARY),
        )
        summary.imported_kwh += wh_to_kwh(icp.import_wh)
        summary.exported_kwh += wh_to_kwh(icp.export_wh)
        summary.net_amount_nzd += micro_to_nzd(
            sum(line.amount for line in lines if line.account[0] == "member")
        )
        summary.retailer_only_nzd += micro_to_nzd(retailer_only)
        summary.save(
            update_fields=["imported_kwh", "exported_kwh", "net_amount_nzd", "retailer_only_nzd"]
        )
        hold.resolved_at = now
        hold.save(update_fields=["checked_at", "resolved_at"])
    log.info("trading period %s: %s is now settled", period, hold.icp.identifier)
    return True


def settlement_holds_retry(*, now: dt.datetime | None = None, limit: int = RETRY_PER_TICK) -> int:
    """Try the open holds that were tried longest ago (a bounded number per tick)."""
    now = now or timezone.now()
    ids = list(
        SettlementHold.objects.filter(resolved_at__isnull=True)
        .order_by(F("checked_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )
    resolved = 0
    for pk in ids:
        try:
            resolved += settlement_hold_settle(hold_id=pk, now=now)
        except Exception:  # one hold's failure must not stop the tick (or the others)
            log.exception("settlement hold %s could not be settled", pk)
            SettlementHold.objects.filter(pk=pk).update(checked_at=now)
    return resolved

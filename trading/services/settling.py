"""metered -> settled: the settlement core's balanced lines, written to the database."""

from __future__ import annotations

from decimal import Decimal

from coop.models import ICP
from trading.engine.settlement import IcpPeriod, TradeRow, settle
from trading.engine.units import cents_to_units, kwh_to_wh, micro_to_nzd, nzd_to_micro, wh_to_kwh
from trading.models import MemberPeriodSummary, SettlementLine, Trade, TradingPeriod
from trading.services.metered import period_energy
from trading.services.pricing import icp_prices

_PRICE = Decimal("0.0001")  # retail prices to the engine's precision, 1e-4 c/kWh


def settle_period(period: TradingPeriod) -> None:
    trades = list(Trade.objects.filter(period=period).order_by("sequence"))
    energy = period_energy(period)
    traded_icps = {t.buyer_icp_id for t in trades} | {t.seller_icp_id for t in trades}
    if missing := traded_icps - set(energy):
        raise ValueError(f"no metered data for traded ICPs {sorted(missing)}")
    prices = icp_prices(period, energy)
    holders = dict(ICP.objects.filter(pk__in=energy).values_list("pk", "member_id"))
    icps = {
        icp_id: IcpPeriod(
            member_id=holders[icp_id],
            import_wh=kwh_to_wh(imp),
            export_wh=kwh_to_wh(exp),
            retail_import_price=cents_to_units(prices[icp_id].import_c.quantize(_PRICE)),
            buyback_price=cents_to_units(prices[icp_id].export_c.quantize(_PRICE)),
        )
        for icp_id, (imp, exp) in energy.items()
    }
    rows = [
        TradeRow(
            t.sequence,
            t.buyer_id,
            t.seller_id,
            t.buyer_icp_id,
            t.seller_icp_id,
            kwh_to_wh(t.energy_kwh),
            nzd_to_micro(t.energy_value_nzd),
            nzd_to_micro(t.network_value_nzd),
            nzd_to_micro(t.fee_value_nzd),
        )
        for t in trades
    ]
    result = settle(rows, icps)
    trade_by_seq = {t.sequence: t for t in trades}
    SettlementLine.objects.bulk_create(
        SettlementLine(
            period=period,
            account=line.account[0],
            member_id=line.account[1] if line.account[0] == "member" else None,
            icp_id=line.icp_id,
            kind=line.kind,
            energy_kwh=wh_to_kwh(line.wh),
            amount_nzd=micro_to_nzd(line.amount),
            trade=trade_by_seq.get(line.trade_index) if line.trade_index is not None else None,
        )
        for line in result.lines
    )
    MemberPeriodSummary.objects.bulk_create(
        MemberPeriodSummary(
            period=period,
            member_id=member_id,
            imported_kwh=wh_to_kwh(s.imported_wh),
            exported_kwh=wh_to_kwh(s.exported_wh),
            bought_p2p_kwh=wh_to_kwh(s.bought_wh),
            sold_p2p_kwh=wh_to_kwh(s.sold_wh),
            net_amount_nzd=micro_to_nzd(s.net_amount),
            retailer_only_nzd=micro_to_nzd(s.retailer_only),
        )
        for member_id, s in result.members.items()
    )

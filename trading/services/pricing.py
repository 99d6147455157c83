"""Each ICP's own retail prices for a trading period, from its tariff (c/kWh excl. GST)."""

from __future__ import annotations

from collections.abc import Iterable

from coop.models import ICP
from coop.selectors import current_tariff_filter
from coop.tariffs import HalfHourPrices
from trading.models import TradingPeriod


class NoTariff(ValueError):
    pass


def icp_prices(period: TradingPeriod, icp_ids: Iterable[int]) -> dict[int, HalfHourPrices]:
    icps = ICP.objects.filter(pk__in=set(icp_ids)).prefetch_related("tariffs__rates")
    prices = {}
    filter_q = current_tariff_filter(period.trading_date)
    for icp in icps:
        tariff = icp.tariffs.filter(filter_q).prefetch_related("rates").first()
        if tariff is None:
            raise NoTariff(f"ICP {icp} has no tariff in force on {period.trading_date}")
        prices[icp.pk] = tariff.spec().prices_at(period.start)
    return prices

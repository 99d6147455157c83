"""Each ICP's own retail prices for a trading period, from its tariff (c/kWh excl. GST)."""

from __future__ import annotations

from collections.abc import Iterable

from coop.models import Tariff
from coop.selectors import current_tariff_filter
from coop.tariffs import HalfHourPrices
from trading.models import TradingPeriod


class NoTariff(ValueError):
    pass


def icp_prices(period: TradingPeriod, icp_ids: Iterable[int]) -> dict[int, HalfHourPrices]:
    wanted = set(icp_ids)
    tariffs = (
        Tariff.objects.filter(current_tariff_filter(period.trading_date), icp_id__in=wanted)
        .select_related("icp")
        .prefetch_related("rates")
    )
    prices = {tariff.icp_id: tariff.spec().prices_at(period.start) for tariff in tariffs}
    if missing := wanted - set(prices):
        raise NoTariff(f"ICPs {sorted(missing)} have no tariff in force on {period.trading_date}")
    return prices

"""Each ICP's own retail prices for a trading period, from its tariff (c/kWh excl. GST)."""

from __future__ import annotations

from collections.abc import Iterable

from coop.models import ICP, Tariff
from coop.selectors import current_tariff_filter
from coop.tariffs import HalfHourPrices
from trading.models import TradingPeriod


class NoTariff(ValueError):
    pass


def icp_prices(
    period: TradingPeriod, icp_ids: Iterable[int], *, strict: bool = True
) -> dict[int, HalfHourPrices]:
    """{ICP id: prices} for the ICPs with a tariff in force on the period's date. `strict`
    refuses the lot if any has none (naming them by ICP number); otherwise those are left out
    and the caller decides (settlement holds them aside)."""
    wanted = set(icp_ids)
    tariffs = (
        Tariff.objects.filter(current_tariff_filter(period.trading_date), icp_id__in=wanted)
        .select_related("icp")
        .prefetch_related("rates")
    )
    prices = {tariff.icp_id: tariff.spec().prices_at(period.start) for tariff in tariffs}
    if strict and (missing := wanted - set(prices)):
        numbers = ICP.objects.filter(pk__in=missing).order_by("identifier")
        raise NoTariff(
            f"ICPs {', '.join(numbers.values_list('identifier', flat=True))} have no tariff in "
            f"force on {period.trading_date}"
        )
    return prices

"""Each ICP's own retail prices for a trading period, from its tariff (c/kWh excl. GST)."""

from __future__ import annotations

from collections.abc import Iterable

from coop.models import ICP, Tariff, TariffRate
from coop.selectors import current_tariff_filter
from coop.tariffs import HalfHourPrices, TariffSpec, Window
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
    tariffs = list(
        Tariff.objects.filter(
            current_tariff_filter(period.trading_date), icp_id__any_of=wanted
        ).values_list(
            "pk",
            "icp_id",
            "daily_fixed_c",
            "buyback_c",
            "prices_include_gst",
            "buyback_includes_gst",
        )
    )
    windows: dict[int, dict[str, list[Window]]] = {
        t[0]: {"import": [], "lines": []} for t in tariffs
    }
    for tariff_id, kind, label, days, start, end, months, rate_c in TariffRate.objects.filter(
        tariff_id__any_of=list(windows)
    ).values_list(
        "tariff_id", "kind", "label", "days", "start_time", "end_time", "months", "rate_c"
    ):
        windows[tariff_id][kind].append(Window(label, days, start, end, months, rate_c))
    # A co-op's members are on a handful of retail plans: each plan's price is worked out
    # once, however many ICPs are on it.
    of_plan: dict[TariffSpec, HalfHourPrices] = {}
    prices: dict[int, HalfHourPrices] = {}
    for pk, icp_id, daily_fixed_c, buyback_c, include_gst, buyback_gst in tariffs:
        spec = TariffSpec(
            daily_fixed_c=daily_fixed_c,
            buyback_c=buyback_c,
            import_windows=tuple(sorted(windows[pk]["import"], key=_window_order)),
            lines_windows=tuple(sorted(windows[pk]["lines"], key=_window_order)),
            prices_include_gst=include_gst,
            buyback_includes_gst=buyback_gst,
        )
        if spec not in of_plan:
            of_plan[spec] = spec.prices_at(period.start)
        prices[icp_id] = of_plan[spec]
    if strict and (missing := wanted - set(prices)):
        numbers = ICP.objects.filter(pk__in=missing).order_by("identifier")
        raise NoTariff(
            f"ICPs {', '.join(numbers.values_list('identifier', flat=True))} have no tariff in "
            f"force on {period.trading_date}"
        )
    return prices


def _window_order(window: Window) -> tuple:
    # Any fixed order (a plan prices each half hour once, whatever the order of its windows),
    # so that ICPs on the same plan have equal specs.
    return (window.start, window.end, window.label, window.days, window.months, window.rate_c)

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
    # Each tariff's windows as plain tuples (start, end, label, days, months, rate): sorted,
    # they key its plan (hashed in C; ICPs on one plan have equal keys, whatever the order of
    # their windows), and a plan's TariffSpec is built once, not once for each of 5,000 ICPs
    # (hashing and comparing 5,000 specs of dataclasses took 60-140 ms of a settlement).
    windows: dict[int, dict[str, list[tuple]]] = {
        t[0]: {"import": [], "lines": []} for t in tariffs
    }
    for tariff_id, kind, label, days, start, end, months, rate_c in TariffRate.objects.filter(
        tariff_id__any_of=list(windows)
    ).values_list(
        "tariff_id", "kind", "label", "days", "start_time", "end_time", "months", "rate_c"
    ):
        windows[tariff_id][kind].append((start, end, label, days, months, rate_c))
    # A co-op's members are on a handful of retail plans: each plan's price is worked out
    # once, however many ICPs are on it.
    of_plan: dict[tuple, HalfHourPrices] = {}
    prices: dict[int, HalfHourPrices] = {}
    for pk, icp_id, daily_fixed_c, buyback_c, include_gst, buyback_gst in tariffs:
        imports, lines = tuple(sorted(windows[pk]["import"])), tuple(sorted(windows[pk]["lines"]))
        plan = (daily_fixed_c, buyback_c, include_gst, buyback_gst, imports, lines)
        if plan not in of_plan:
            spec = TariffSpec(
                daily_fixed_c=daily_fixed_c,
                buyback_c=buyback_c,
                import_windows=tuple(_window(w) for w in imports),
                lines_windows=tuple(_window(w) for w in lines),
                prices_include_gst=include_gst,
                buyback_includes_gst=buyback_gst,
            )
            of_plan[plan] = spec.prices_at(period.start)
        prices[icp_id] = of_plan[plan]
    if strict and (missing := wanted - set(prices)):
        numbers = ICP.objects.filter(pk__in=missing).order_by("identifier")
        raise NoTariff(
            f"ICPs {', '.join(numbers.values_list('identifier', flat=True))} have no tariff in "
            f"force on {period.trading_date}"
        )
    return prices


def _window(row: tuple) -> Window:
    start, end, label, days, months, rate_c = row
    return Window(label, days, start, end, months, rate_c)

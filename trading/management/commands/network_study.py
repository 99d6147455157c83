"""One day of the co-op's LV network: forecast load, power flow and time-value price for each
feeder and trading period, as JSON lines (--json) or a table."""

from __future__ import annotations

import datetime as dt
import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from coop import nz
from trading.models import NetworkPriceWindow, TradingPeriod
from trading.services.network_prices import prices_compute


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


class Command(BaseCommand):
    help = "Power flow and time-value prices of every feeder for each trading period of a day."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--date", required=True, help="The NZ trading day, YYYY-MM-DD.")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = dt.date.fromisoformat(options["date"])
        except ValueError as exc:
            raise CommandError(f"--date {options['date']!r} is not a date like 2026-07-14") from exc
        # The periods as the market would create them; the study saves nothing.
        periods = [
            TradingPeriod(
                trading_date=day,
                number=number,
                start=start,
                end=end,
                gate_closes_at=start,
                network_price_c=NetworkPriceWindow.price_at(start),
            )
            for number, start, end in nz.trading_periods(day)
        ]
        rows = prices_compute(periods, now=periods[0].start)
        if not rows:
            raise CommandError("The co-op has no feeders: add transformers and feeders first.")
        for row in rows:
            record: dict[str, Any] = {
                "feeder": row.feeder.name,
                "trading_period": row.period.number,
                "start_nz": row.period.start.astimezone(nz.NZ).strftime("%H:%M"),
                "forecast_kw": _number(row.forecast_kw),
                "loading_pct": _number(row.loading_pct),
                "v_min_pu": _number(row.v_min_pu),
                "v_max_pu": _number(row.v_max_pu),
                "reverse_flow_kw": _number(row.reverse_flow_kw),
                "losses_kw": _number(row.losses_kw),
                "price_c": float(row.price_c),
                "export_credit_c": float(row.export_credit_c),
                "source": row.source,
            }
            if options["json"]:
                self.stdout.write(json.dumps(record))
            else:
                self.stdout.write(
                    "{feeder:<24} TP{trading_period:>2} {start_nz}  {forecast_kw:>7.1f} kW  "
                    "{loading:>6}  V {vmin}-{vmax}  {price_c:>7.2f} c  credit {export_credit_c:.2f} c"
                    "  {source}".format(
                        **record,
                        loading="-" if row.loading_pct is None else f"{row.loading_pct}%",
                        vmin=row.v_min_pu or "-",
                        vmax=row.v_max_pu or "-",
                    )
                )

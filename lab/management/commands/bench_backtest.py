"""`manage.py bench_backtest --homes 1000 --days 365`: a generated community's year under the
five mechanisms with batteries on self-consumption (or `--battery hem`: the home energy
manager), on the shared NZ data where it is present. Prints JSON last:
{"homes", "periods", "designs", "seconds", ...} with the time of each stage.

Needs no database: the scenario is built here and run in this process (one core, unless
`--hem-workers` says otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from lab.core import runner
from lab.core.scenario import parse

PRICE_FILE = "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"
GENERATION_FILE = "generation/emi_generation_md_solar_farms_2025.csv"
CONSUMPTION_FILE = (
    "consumption/greengrid_mean_household_halfhour_power_W_by_circuit_season_year.csv"
)
LAST_DAY = dt.date(2026, 8, 6)  # the last day of the shared price file


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--homes", type=int, default=1000)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument(
            "--battery", choices=["self_consumption", "hem", "none"], default="self_consumption"
        )
        parser.add_argument("--hem-workers", type=int, default=1)
        parser.add_argument("--time-value", action="store_true", help="network price on too")

    def handle(self, *args: Any, **o: Any) -> None:
        shared = Path(settings.BASE_DIR).parent / "shared" / "data"
        data: dict[str, Any] = {"synthetic_prices": True, "synthetic_weather": True}
        if shared.is_dir():
            data |= {
                "price_files": [str(shared / PRICE_FILE)],
                "generation_file": str(shared / GENERATION_FILE),
                "consumption_file": str(shared / CONSUMPTION_FILE),
            }
        first = LAST_DAY - dt.timedelta(days=o["days"] - 1)
        text = yaml.safe_dump(
            {
                "name": f"bench {o['homes']} homes x {o['days']} days",
                "seed": 7,
                "community": {"homes": o["homes"], "transformers": max(1, o["homes"] // 25)},
                "span": {"from": first.isoformat(), "to": LAST_DAY.isoformat()},
                "data": data,
                "designs": {
                    "mechanisms": [
                        "retailer_only",
                        "uniform",
                        "pay_as_bid",
                        "mid_market",
                        "time_value",
                    ],
                    "batteries": [o["battery"]],
                    "time_value": [True] if o["time_value"] else [False],
                },
            }
        )
        stages: dict[str, float] = {}
        started = time.perf_counter()
        cpu = time.process_time()
        scenario = parse(text)
        prepared = runner.prepare(scenario)
        stages["inputs"] = time.perf_counter() - started
        mark = time.perf_counter()
        sim = runner.simulate(prepared, hem_workers=o["hem_workers"])
        stages["flows"] = time.perf_counter() - mark
        mark = time.perf_counter()
        tallies = runner.clear(prepared, sim)
        stages["market"] = time.perf_counter() - mark
        mark = time.perf_counter()
        results = runner.results(prepared, sim, tallies)
        stages["kpis"] = time.perf_counter() - mark
        seconds = time.perf_counter() - started
        best = results.summary.sort_values("saving_nzd", ascending=False).iloc[0]
        self.stdout.write(
            json.dumps(
                {
                    "homes": o["homes"],
                    "periods": prepared.cal.periods,
                    "designs": len(results.designs),
                    "battery": o["battery"],
                    "seconds": round(seconds, 1),
                    "cpu_seconds": round(time.process_time() - cpu, 1),
                    "stages": {k: round(v, 1) for k, v in stages.items()},
                    "synthetic_price_periods": int(prepared.prices.synthetic.sum()),
                    "periods_balanced": int(results.summary["periods_balanced"].min()),
                    "best_design": best["design"],
                    "best_saving_nzd": float(best["saving_nzd"]),
                    "flow_check": results.flow_check,
                }
            )
        )

"""Bench: power flows and time-value prices for a generated network of many transformers,
and for the demo co-op's own network over 48 h. Prints JSON last."""

from __future__ import annotations

import datetime as dt
import json
import time
from argparse import ArgumentParser
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand

from config.benchmarks import database_ready
from coop import demo, nz
from trading.models import TradingPeriod
from trading.services.network_prices import prices_compute
from trading.timevalue import formula, grid, synthetic


class Command(BaseCommand):
    help = "Time the power flows and prices: generated network, then the demo co-op's 48 h."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--icps", type=int, default=500)
        parser.add_argument("--transformers", type=int, default=20)
        parser.add_argument("--periods", type=int, default=96)
        parser.add_argument("--skip-demo", action="store_true", help="Only the generated one.")

    def handle(self, *args: Any, **options: Any) -> None:
        icps, transformers, periods = options["icps"], options["transformers"], options["periods"]
        started = time.perf_counter()
        network = synthetic.generated_network(icps, transformers)
        loads = synthetic.generated_loads(network, periods)
        flows = grid.solve(network, loads)
        params = formula.PriceParameters()
        ratings = {t.key: t.rating_kva for t in network.transformers}
        rating = np.array([ratings[f.transformer] for f in network.feeders])[:, None]
        sig = formula.signal(
            np.nan_to_num(flows.loading_pct) / 100,
            np.nan_to_num(flows.v_min_customer_pu, nan=1.0),
            np.nan_to_num(flows.v_max_customer_pu, nan=1.0),
            np.nan_to_num(flows.reverse_flow_kw) / rating,
            params,
        )
        prices = formula.import_price(np.full(sig.total.shape, 5.0), sig, params)
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {
            "icps": icps,
            "transformers": transformers,
            "feeders": len(network.feeders),
            "periods": periods,
            "seconds": round(seconds, 2),
            "converged_periods": int(flows.converged[0].sum()) if len(network.feeders) else 0,
            "max_loading_pct": round(float(np.nanmax(flows.loading_pct)), 1),
            "price_c_range": [round(float(prices.min()), 2), round(float(prices.max()), 2)],
        }
        if not options["skip_demo"]:
            result.update(self._demo())
        self.stdout.write(json.dumps(result))

    def _demo(self) -> dict[str, Any]:
        """The demo co-op's network (seeded into the bench database if it is not there),
        priced for 48 h from the start of a winter weekday, everything included: the model
        from the database, the forecast, the power flow and the formula."""
        database_ready()
        demo.seed()
        day = dt.date(2026, 7, 13)
        periods = [
            TradingPeriod(trading_date=d, number=n, start=s, end=e, gate_closes_at=s)
            for d in (day, day + dt.timedelta(days=1))
            for n, s, e in nz.trading_periods(d)
        ]
        started = time.perf_counter()
        rows = prices_compute(periods, now=periods[0].start)
        seconds = time.perf_counter() - started
        return {
            "demo_feeders": len({r.feeder_id for r in rows}),
            "demo_periods": len(periods),
            "demo_seconds": round(seconds, 2),
            "demo_fallbacks": sum(r.source == "static" for r in rows),
        }

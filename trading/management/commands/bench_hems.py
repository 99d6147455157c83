"""Bench: the home energy manager's plan LP for many synthetic homes, one LP per home or one
block-diagonal LP for all. Prints JSON last."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from trading.hems import lp, synthetic


class Command(BaseCommand):
    help = "Time the home energy manager's plans for generated homes (e.g. 1000 x 96 periods)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--homes", type=int, default=1000)
        parser.add_argument("--periods", type=int, default=96)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--batched", action="store_true", help="One block-diagonal LP for all the homes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        homes = synthetic.homes(options["homes"], options["periods"], options["seed"])
        started = time.perf_counter()
        plans = lp.plan_many(homes, batched=options["batched"])
        seconds = time.perf_counter() - started
        saving_c = sum(p.saving_c for p in plans) / len(plans) if plans else 0.0
        result = {
            "homes": len(homes),
            "periods": options["periods"],
            "seconds": round(seconds, 2),
            "mode": "batched" if options["batched"] else "per_home",
            "mean_saving_vs_self_consumption_nzd": round(saving_c / 100, 4),
            "fallbacks": sum(p.status != "optimal" for p in plans),
        }
        self.stdout.write(json.dumps(result))

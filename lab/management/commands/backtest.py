"""`manage.py backtest SCENARIO.yaml [--out DIR] [--json]`: a scenario's community under every
design it names, side by side; writes the report (HTML, CSV, Parquet) and prints one line per
design (JSON lines with --json).

Runs in this process, with a progress bar on stderr. Everything is checked before any work:
a bad scenario or data file is refused with its line or key and what to change.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from lab.core import inputs, report, runner
from lab.core.scenario import ScenarioError, load
from lab.pipeline import community_of, json_safe


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", type=Path)
        parser.add_argument("--out", type=Path, help="report folder (default var/lab/<name>)")
        parser.add_argument("--json", action="store_true", help="one JSON line per design")
        parser.add_argument(
            "--hem-workers", type=int, default=1, help="processes for the energy manager"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            scenario = load(options["scenario"])
            prepared = runner.prepare(scenario, community_of(scenario))
        except (ScenarioError, inputs.InputError) as exc:
            raise CommandError(str(exc)) from exc
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, desc=stage, unit="step", leave=False)
            bar.total = total
            bar.n = done
            bar.refresh()

        results = runner.run(prepared, progress=progress, hem_workers=options["hem_workers"])
        for bar in bars.values():
            bar.close()
        slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower()).strip("-")
        out = options["out"] or Path(settings.LAB_RUNS_DIR) / (slug or "scenario")
        files = report.write(results, out)
        rows = json_safe(results.summary.to_dict(orient="records"))
        if options["json"]:
            for row in rows:
                self.stdout.write(json.dumps(row))
            return
        width = max(len(r["label"]) for r in rows)
        self.stdout.write(
            f"{'design':<{width}}  {'bills NZD':>12}  {'saving NZD':>11}  {'saving %':>8}  "
            f"{'p2p kWh':>10}  {'peak kW':>8}"
        )
        for r in rows:
            self.stdout.write(
                f"{r['label']:<{width}}  {r['bills_nzd']:>12,.2f}  {r['saving_nzd']:>11,.2f}  "
                f"{(r['saving_pct'] or 0):>8.2f}  {r['p2p_kwh']:>10,.1f}  {r['peak_import_kw']:>8.1f}"
            )
        self.stdout.write(f"report: {files['html']} ({time.perf_counter() - started:.1f} s)")

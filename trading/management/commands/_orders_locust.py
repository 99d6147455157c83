"""The load of `manage.py bench_orders`: Locust users, each one bench resident with its API token,
placing orders through the REST API as a resident's app would.

Run by the bench in Locust's own processes (`locust -f this --headless --processes N`), never
imported by Django. The bench writes the plan (residents, periods, rate) to the JSON file named by
HAPORI_ORDERS_PLAN; each Locust process writes every request it made, (start, ms, name, ok), to
`requests-<pid>.json` in the plan's `out_dir`, so the bench can cut the run into windows (steady
load, then the gate closure clearing) and compute exact percentiles for each.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events, task

from config.arrivals import PoissonArrivals

PLAN = json.loads(Path(os.environ["HAPORI_ORDERS_PLAN"]).read_text())
OUT_DIR = Path(PLAN["out_dir"])
KEYED_SHARE = 0.5  # half the placements carry an Idempotency-Key, as a retrying app's would
REPLAY_SHARE = 0.1  # of those, this share is sent again (a retry after a lost answer)

_records: list[tuple[float, float, str, bool]] = []
_errors: dict[str, int] = {}  # why requests failed (the answer's status and text): how often
_user_numbers = itertools.count()


@events.request.add_listener
def _record(
    name: str,
    response_time: float,
    exception: BaseException | None,
    start_time: float,
    response: Any = None,
    **kwargs: Any,
) -> None:
    _records.append((start_time, response_time, name, exception is None))
    if exception is not None:
        status = getattr(response, "status_code", 0)
        text = (getattr(response, "text", "") or "")[:160] if status else ""
        why = f"{name} {status}: {text or exception}"[:240]
        _errors[why] = _errors.get(why, 0) + 1


@events.quitting.add_listener
def _write(**kwargs: Any) -> None:
    if _records:
        path = OUT_DIR / f"requests-{os.getpid()}.json"
        path.write_text(json.dumps({"requests": _records, "errors": _errors}))


class Resident(FastHttpUser):
    def wait_time(self) -> float:
        # Poisson, each resident on a clock of its own (config.arrivals): Locust's
        # constant_throughput sent each spawn batch's users together, in bursts.
        return self.arrivals.wait()

    def on_start(self) -> None:
        # One resident per user across every Locust process: process i takes residents
        # i, i + P, i + 2P, ... (P processes), so no two users act as the same resident.
        runner = self.environment.runner
        index = getattr(runner, "worker_index", 0) or 0
        number = index + PLAN["processes"] * next(_user_numbers)
        residents = PLAN["residents"]
        self.resident = residents[number % len(residents)]
        self.rng = random.Random(number)
        self.arrivals = PoissonArrivals(PLAN["rate_per_user"], seed=f"resident {number}")
        # The first order at a random moment, not at spawn. (Locust has patched time.sleep
        # to gevent's: this user waits, the others go on.)
        time.sleep(self.arrivals.wait())
        self.headers = {
            "Authorization": f"Token {self.resident['token']}",
            # The TLS proxy's header: production redirects plain http to https without it.
            "X-Forwarded-Proto": "https",
            "Content-Type": "application/json",
        }

    def _order(self) -> dict[str, Any]:
        """A bid at 5-20 c or, for a home with solar and a battery, an offer at 20-40 c: a
        resident's bids stay below their own offers, so placement never refuses a self-cross."""
        sell_limit = self.resident["sell_kwh"]
        rng = self.rng
        if sell_limit and rng.random() < 0.5:
            side, price = "sell", rng.randint(2000, 3999)
            kwh = rng.randint(100, min(2000, int(sell_limit * 1000)))
        else:
            side, price = "buy", rng.randint(500, 1999)
            kwh = rng.randint(100, 3000)
        return {
            "period": rng.choice(PLAN["periods"]),
            "icp": self.resident["icp"],
            "side": side,
            "energy_kwh": f"{kwh / 1000:.3f}",
            "limit_price_c": f"{price / 100:.2f}",
        }

    @task
    def place(self) -> None:
        body = json.dumps(self._order())
        if self.rng.random() >= KEYED_SHARE:
            self.client.post("/api/orders/", data=body, headers=self.headers, name="place")
            return
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(
            "/api/orders/", data=body, headers=headers, name="place+key", catch_response=True
        ) as first:
            placed = first.json().get("id") if first.status_code == 201 else None
        if placed is None or self.rng.random() >= REPLAY_SHARE:
            return
        with self.client.post(
            "/api/orders/", data=body, headers=headers, name="replay", catch_response=True
        ) as again:
            if again.status_code != 201 or again.json().get("id") != placed:
                again.failure(f"the replay answered {again.status_code}, not order {placed}")

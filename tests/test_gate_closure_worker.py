"""A gate closure on a real Celery worker: the task queued by the tick's own code runs at the
instant (not at the next tick: no beat runs here), clears the period, and the cleared price is
pushed to the wall display's group through the real Redis channel layer.

Real parts: Redis, a `celery -A config worker` process and a file SQLite database it shares
with the setup script (blockchain.tests.worker_settings)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from channels.layers import get_channel_layer

from blockchain.tests.test_app_worker_kill import Worker, wait_for
from trading.live import broadcast

ROOT = Path(__file__).resolve().parents[1]
LEAD_SECONDS = 4.0  # the gate closes this long after the setup has queued it


def _period(db: Path, pk: int) -> tuple[str, str, str | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(
            "SELECT state, state_changed_at, clearing_price_c FROM trading_tradingperiod WHERE id = ?",
            (pk,),
        ).fetchone()


@pytest.mark.slow
def test_a_period_is_cleared_and_shown_at_its_gate_closure(tmp_path):
    queue = f"gate-test-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "shared.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CHAIN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="blockchain.tests.worker_settings",
        HAPORI_WORKER_DB=str(db),
        HAPORI_WORKER_QUEUE=queue,
        CHAIN_RPC_URL="",
    )
    log = tmp_path / "worker.log"
    worker = Worker("gate", env, queue, log)

    async def run() -> tuple[dict, dict, float]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(broadcast.DISPLAY, channel)
        await asyncio.to_thread(worker.wait_ready)
        setup = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "trading.tests.gate_closure_setup", str(LEAD_SECONDS)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        queued = json.loads(setup.stdout.strip().splitlines()[-1])
        while True:
            message = await asyncio.wait_for(layer.receive(channel), LEAD_SECONDS + 20)
            pushed = json.loads(message["text"])
            if pushed["kind"] == "cleared":
                return queued, pushed, time.time()

    try:
        queued, pushed, seen_at = asyncio.run(run())
        state, changed_at, price = wait_for(
            "the period cleared", lambda: _period(db, queued["period"]), 10, logs=[log]
        )
    finally:
        worker.kill()
    assert pushed["data"]["period_id"] == queued["period"]
    assert state == "cleared"
    assert price is not None
    assert pushed["data"]["price_c"] is not None
    # At the instant: not before the gate closed, and on screen well inside the 2 s the issue
    # asks (a minute's tick would have taken up to 60 s).
    assert queued["gate"] <= seen_at < queued["gate"] + 2.0, seen_at - queued["gate"]
    cleared_at = dt.datetime.fromisoformat(changed_at).replace(tzinfo=dt.UTC).timestamp()
    assert queued["gate"] <= cleared_at <= seen_at
    assert "trading.tasks.gate_closure" in log.read_text()

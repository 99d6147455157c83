"""A lab sweep on real Celery workers: two `celery -A config worker` processes, real Redis,
one file SQLite database. Each run's start, its market chunks and its finish are separate
tasks; the chunks of both runs spread over both workers, and each run finishes exactly once,
with the same money as the same scenario run in one process."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from blockchain.tests.test_app_worker_kill import Worker, wait_for
from lab.core import runner
from lab.core.scenario import parse
from lab.services import with_setting
from tests.test_lab import TINY

ROOT = Path(__file__).resolve().parents[1]


def _runs(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, state, chunks, chunks_done, error, summary FROM lab_run ORDER BY id"
        ).fetchall()


@pytest.mark.slow
def test_a_sweep_fans_out_over_every_worker(tmp_path):
    queue = f"lab-test-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "shared.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CHAIN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="blockchain.tests.worker_settings",
        HAPORI_WORKER_DB=str(db),
        HAPORI_WORKER_QUEUE=queue,
        CHAIN_RPC_URL="",
        LAB_RUNS_DIR=str(tmp_path / "lab"),
        LAB_CHUNK_DAYS="1",
        LAB_QUEUE=queue,
    )
    setup = subprocess.run(
        [sys.executable, "-m", "tests.lab_worker_setup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    run_ids = json.loads(setup.stdout.strip().splitlines()[-1])
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [Worker(f"w{i + 1}", env, queue, log) for i, log in enumerate(logs)]
    producer = Celery("lab-test", broker=settings.CELERY_BROKER_URL)
    try:
        for worker in workers:
            worker.wait_ready()
        # A connection of our own: kombu's pools are shared by every Celery app in this
        # process, and another test may have closed them.
        with producer.connection_for_write() as connection:
            for run_id in run_ids:
                producer.send_task(
                    "lab.tasks.run_start", args=[run_id], queue=queue, connection=connection
                )
        wait_for(
            "both runs finished",
            lambda: all(state in ("done", "failed") for _, state, *_ in _runs(db)),
            180,
            logs=logs,
        )
        rows = _runs(db)
        assert [state for _, state, *_ in rows] == ["done", "done"], rows
        assert all(chunks == done == 3 for _, _, chunks, done, _, _ in rows)
        # Every worker cleared market chunks: the study spread over the machines it had.
        for log in logs:
            assert "lab.tasks.run_chunk" in log.read_text()
        # Each run finished once: one finish task per run, sent by whichever chunk landed last.
        finishes = sum(
            len(re.findall(r"lab\.tasks\.run_finish\[[^\]]+\] received", log.read_text()))
            for log in logs
        )
        assert finishes == 2
        for (run_id, _, _, _, _, summary), value in zip(rows, [0, 0.5], strict=True):
            whole = runner.run(
                runner.prepare(parse(with_setting(TINY, "community.mix.battery", value)))
            )
            assert [r["bills_nzd"] for r in json.loads(summary)] == whole.summary[
                "bills_nzd"
            ].tolist()
            assert (tmp_path / "lab" / f"run-{run_id}" / "report.html").is_file()
    finally:
        for worker in workers:
            worker.kill()
        producer.close()
        conn = redis.Redis.from_url(settings.REDIS_URL)
        conn.delete(queue, "unacked", "unacked_index", "unacked_mutex")
        conn.close()

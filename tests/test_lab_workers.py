"""A lab sweep on real Celery workers: two `celery -A config worker` processes, real Redis,
one file SQLite database. Each run's start, its market chunks and its finish are separate
tasks; the chunks of both runs spread over both workers, and each run finishes exactly once,
with the same money as the same scenario run in one process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from lab.core import runner
from lab.core.scenario import parse
from lab.services import with_setting
from tests.test_lab import TINY

ROOT = Path(__file__).resolve().parents[1]


def _worker(name: str, env: dict, queue: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker"),
            *("-n", f"{name}@%h", "-Q", queue, "-l", "info", "--concurrency", "1"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


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
    workers = [_worker(f"w{i + 1}", env, queue, log) for i, log in enumerate(logs)]
    producer = Celery("lab-test", broker=settings.CELERY_BROKER_URL)
    try:
        deadline = time.monotonic() + 60
        while not all(" ready." in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
            time.sleep(0.2)
        # A connection of our own: kombu's pools are shared by every Celery app in this
        # process, and another test may have closed them.
        with producer.connection_for_write() as connection:
            for run_id in run_ids:
                producer.send_task(
                    "lab.tasks.run_start", args=[run_id], queue=queue, connection=connection
                )
        deadline = time.monotonic() + 180
        while not all(state in ("done", "failed") for _, state, *_ in _runs(db)):
            assert time.monotonic() < deadline, [log.read_text()[-3000:] for log in logs]
            time.sleep(0.5)
        rows = _runs(db)
        assert [state for _, state, *_ in rows] == ["done", "done"], rows
        assert all(chunks == done == 3 for _, _, chunks, done, _, _ in rows)
        # Every worker cleared market chunks: the study spread over the machines it had.
        for log in logs:
            assert "lab.tasks.run_chunk" in log.read_text()
        finishes = sum(log.read_text().count("lab.tasks.run_finish[") for log in logs)
        assert finishes >= 2
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
            if worker.poll() is None:
                os.killpg(worker.pid, 9)
                worker.wait(timeout=10)
        producer.close()
        conn = redis.Redis.from_url(settings.REDIS_URL)
        conn.delete(queue, "unacked", "unacked_index", "unacked_mutex")
        conn.close()

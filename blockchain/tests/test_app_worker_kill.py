"""A real Celery worker SIGKILLed mid-commit, holding the operator lock: commits go on soon.

Everything is real: Anvil, Redis (this xdist worker's database), two `celery -A config worker`
processes and a file SQLite database they share (blockchain.tests.worker_settings). The first
worker sends a commit that the chain does not mine (automine off) and waits for its receipt,
holding the operator lock; it is killed with SIGKILL, so nothing of it runs again: no finally,
no release, no acknowledgement. A second worker must then commit that period and the next one
well within the old 120 s lock TTL, and the killed task's message must come round to it again
(the visibility timeout, shortened here with CELERY_VISIBILITY_TIMEOUT).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from blockchain.chain.client import LedgerClient
from blockchain.chain.devchain import DEV_KEY, DevChain
from blockchain.services.operator import LOCK_NAME

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 45  # well under the 120 s the lock used to live
VISIBILITY_TIMEOUT = 5


def rpc(url: str, method: str, params: list | None = None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert "error" not in answer, answer
    return answer["result"]


def wait_for(what: str, condition, timeout: float, *, logs: Sequence[Path] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in logs if p.exists())
    pytest.fail(f"{what}: not within {timeout:.0f} s\n{tails}")


class Commits:
    """The commit rows as the workers wrote them, read straight from the shared SQLite file."""

    def __init__(self, path: Path):
        self.path = path

    def get(self, period_pk: int) -> tuple[str, str] | None:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(
                "SELECT status, tx_hash FROM blockchain_periodcommit WHERE period_id = ?",
                (period_pk,),
            ).fetchone()

    def status(self, period_pk: int) -> str | None:
        row = self.get(period_pk)
        return row[0] if row else None

    def contract(self) -> str:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(
                "SELECT contract_address FROM blockchain_chaindeployment WHERE active"
            ).fetchone()[0]


class Worker:
    def __init__(self, name: str, env: dict, queue: str, log: Path):
        self.name, self.log = name, log
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker"),
                *("-n", f"{name}@%h", "-Q", queue, "-l", "info", "--concurrency", "1"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the main process and its child
        )

    def wait_ready(self) -> None:
        wait_for(
            f"{self.name} ready", lambda: " ready." in self.log.read_text(), 30, logs=[self.log]
        )

    def received(self, task_id: str) -> bool:
        return f"[{task_id}] received" in self.log.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.mark.chain
@pytest.mark.slow
def test_a_worker_killed_mid_commit_holds_up_commits_only_briefly(tmp_path):
    queue = f"kill-test-{uuid.uuid4().hex[:8]}"
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(LOCK_NAME)
    chain = DevChain("anvil").start()
    workers: list[Worker] = []
    producer = Celery("kill-test", broker=settings.CELERY_BROKER_URL)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CHAIN_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="blockchain.tests.worker_settings",
            HAPORI_WORKER_DB=str(tmp_path / "shared.sqlite3"),
            HAPORI_WORKER_QUEUE=queue,
            CHAIN_RPC_URL=chain.url,
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        )
        setup = subprocess.run(
            [sys.executable, "-m", "blockchain.tests.worker_setup"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        ids = json.loads(setup.stdout.strip().splitlines()[-1])
        commits = Commits(tmp_path / "shared.sqlite3")
        logs = [tmp_path / "w1.log", tmp_path / "w2.log"]

        # The first worker sends period A's commit, which the chain holds unmined: the worker
        # waits for the receipt, under the operator lock.
        rpc(chain.url, "evm_setAutomine", [False])
        workers.append(Worker("w1", env, queue, logs[0]))
        workers[0].wait_ready()
        killed_task = producer.send_task(
            "blockchain.tasks.commit_period", args=[ids["a"]], queue=queue
        ).id
        wait_for("A sent", lambda: commits.status(ids["a"]) == "sent", 30, logs=logs)
        sent_tx = commits.get(ids["a"])[1]
        assert conn.exists(LOCK_NAME)

        workers[0].kill()
        killed_at = time.monotonic()
        assert conn.exists(LOCK_NAME), "the dead worker's lock is still there"
        # The node mines what the dead worker sent; the database still says "sent".
        rpc(chain.url, "evm_setAutomine", [True])
        rpc(chain.url, "evm_mine")

        # Meanwhile period B settles and its task goes out; a second worker starts.
        producer.send_task("blockchain.tasks.commit_period", args=[ids["b"]], queue=queue)
        workers.append(Worker("w2", env, queue, logs[1]))

        wait_for(
            "A and B committed by the second worker",
            lambda: commits.status(ids["a"]) == commits.status(ids["b"]) == "committed",
            BOUND_SECONDS - (time.monotonic() - killed_at),
            logs=logs,
        )
        wait_for(
            "the killed task's message handed out again",
            lambda: workers[1].received(killed_task),
            BOUND_SECONDS - (time.monotonic() - killed_at),
            logs=logs,
        )
        assert time.monotonic() - killed_at < BOUND_SECONDS

        # Exactly once on chain: A is the dead worker's own transaction, recorded, not resent.
        assert commits.get(ids["a"])[1] == sent_tx
        client = LedgerClient(chain.url, DEV_KEY)
        contract = commits.contract()
        committed = [
            e.tx_hash for e in client.events(contract, from_block=0) if e.name == "PeriodCommitted"
        ]
        assert len(committed) == 3
        assert sent_tx in committed
    finally:
        for worker in workers:
            worker.kill()
        chain.stop()
        producer.pool.force_close_all()
        conn.delete(LOCK_NAME, queue, "unacked", "unacked_index", "unacked_mutex")
        conn.close()


def test_the_visibility_timeout_outlasts_the_longest_retry_countdown():
    """A waiting retry (held unacknowledged until its countdown ends) is never handed out twice."""
    from blockchain.tasks import BACKOFF_CAP_SECONDS
    from config.celery import VISIBILITY_TIMEOUT_SECONDS, app

    if "CELERY_VISIBILITY_TIMEOUT" in os.environ:
        pytest.skip("the visibility timeout is overridden in this environment")
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS == 600
    assert VISIBILITY_TIMEOUT_SECONDS >= BACKOFF_CAP_SECONDS + 120

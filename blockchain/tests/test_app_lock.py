"""The operator lock against a real Redis: short-lived, renewed while held, gone on exit.

A killed holder cannot run its renewal, so the lock lapses within LOCK_TTL_SECONDS; the real
SIGKILL of a worker mid-commit is in test_app_worker_kill.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.conf import settings

from blockchain.services import operator


@pytest.fixture
def conn():
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(operator.LOCK_NAME)
    yield conn
    conn.delete(operator.LOCK_NAME)


def renewal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("operator-lock-renewal")]


def test_the_operator_lock_lapses_soon_after_its_holder_dies(conn):
    with operator.operator_lock():
        ttl_ms = conn.pttl(operator.LOCK_NAME)
    # Nothing renews a dead holder's lock: this is how long commits can stall after a kill.
    assert 0 < ttl_ms <= 30_000


def test_the_lock_is_renewed_while_the_work_goes_on(conn, monkeypatch):
    monkeypatch.setattr(operator, "LOCK_TTL_SECONDS", 1)
    with operator.operator_lock():
        time.sleep(2.5)  # well past the TTL
        assert conn.exists(operator.LOCK_NAME)
        with pytest.raises(operator.OperatorBusy), operator.operator_lock(wait_seconds=0.2):
            pass
    assert not conn.exists(operator.LOCK_NAME)
    assert not renewal_threads()


def test_the_lock_is_released_and_renewal_stops_when_the_work_fails(conn):
    def commit_that_fails() -> None:
        with operator.operator_lock():
            assert renewal_threads()
            raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        commit_that_fails()
    assert not conn.exists(operator.LOCK_NAME)
    assert not renewal_threads()
    with operator.operator_lock(wait_seconds=0):  # free at once for the next worker
        pass


def test_a_lock_taken_over_is_not_renewed_or_released_by_its_old_holder(conn, monkeypatch):
    monkeypatch.setattr(operator, "LOCK_TTL_SECONDS", 1)
    with operator.operator_lock() as lock:
        # It lapsed (say, the holder was paused past the TTL) and another worker took it.
        conn.set(operator.LOCK_NAME, "someone-else", px=5_000)
        time.sleep(1)  # a few renewal ticks
        assert not lock.owned()
        assert not renewal_threads(), "renewal goes on for a lock that is not ours"
    assert conn.get(operator.LOCK_NAME) == b"someone-else"

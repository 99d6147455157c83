"""The operator account's lock: every send from it happens under one Redis lock.

It keeps nonces from colliding and makes periods land on chain in the order they started. The
lock lives LOCK_TTL_SECONDS and a thread renews it while its holder works, so a worker killed
mid-commit holds up the others for at most that long.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings

log = logging.getLogger(__name__)

LOCK_NAME = "hapori:chain:operator"
# Short, and renewed every third of it while the holder works (operator_lock): a killed worker's
# lock lapses within this, while a live holder keeps it however long a catch-up takes.
LOCK_TTL_SECONDS = 20


class OperatorBusy(Exception):
    """Another worker holds the operator lock; this one steps aside and retries later."""


def _renew_lock(lock: Any, stop: threading.Event, every: float) -> None:
    """Keep the lock's TTL topped up until `stop`; give up once it is no longer ours."""
    while not stop.wait(every):
        try:
            lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            # It lapsed (this process was paused past the TTL) and may be someone else's now:
            # the holder finds out before its next period (commits_catch_up checks `owned`).
            log.error("The operator lock lapsed while held; no longer renewing it.")
            return
        except redis.RedisError as exc:  # Redis away for a moment: try again next tick
            log.warning("Could not renew the operator lock: %s", exc)


@contextlib.contextmanager
def operator_lock(*, wait_seconds: float = 10) -> Iterator[Any]:
    """Hold the operator account's lock; raise OperatorBusy if another worker keeps it.

    The lock expires LOCK_TTL_SECONDS after its last renewal. While the with-block runs, a
    daemon thread renews it every third of that, so work of any length keeps it; a worker that
    is killed stops renewing and its lock lapses within the TTL. On leaving (normally or by an
    exception) the renewal stops and the lock is released.
    """
    ttl = LOCK_TTL_SECONDS
    conn = redis.Redis.from_url(settings.REDIS_URL)
    lock = conn.lock(LOCK_NAME, timeout=ttl, blocking_timeout=wait_seconds, thread_local=False)
    if not lock.acquire():
        conn.close()
        raise OperatorBusy("Another worker is sending from the operator account.")
    stop = threading.Event()
    renewal = threading.Thread(
        target=_renew_lock,
        args=(lock, stop, ttl / 3),
        name="operator-lock-renewal",
        daemon=True,
    )
    renewal.start()
    try:
        yield lock
    finally:
        stop.set()
        renewal.join(timeout=ttl)
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()
        conn.close()

"""A fixed-window counter in the cache (Redis): how often something may happen per hour."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def allow(scope: str, who: str, *, limit: int, window_seconds: int = 3600) -> bool:
    """Count one more event for `who` in `scope`; False once `limit` is passed in this window.

    `who` is hashed, so an email address or IP is never a cache key in the clear.
    """
    key = f"throttle:{scope}:{hashlib.sha256(who.lower().encode()).hexdigest()[:32]}"
    # add() starts the window only if no count exists; incr() is atomic in Redis.
    cache.add(key, 0, timeout=window_seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.add(key, 1, timeout=window_seconds)
        count = 1
    return count <= limit

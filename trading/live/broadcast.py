"""The one place live pushes go out: Channels groups over the Redis channel layer.

Groups: "display" (the wall display and anyone reading the public feed) and "member-<id>" (a
resident's own live power). Messages are {"type": "push", "kind": ..., "data": ...}.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

DISPLAY = "display"


def member_group(member_id: int) -> str:
    return f"member-{member_id}"


def push(group: str, kind: str, data: Any) -> None:
    """Send once the database work it reports is committed (at once outside a transaction):
    a screen never shows a trade or a price that a rollback then takes back. `robust`: a
    channel layer that is down then loses this push, never the caller's committed work."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(
            group, {"type": "push", "kind": kind, "data": data, "sent": time.time()}
        )

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(send, robust=True)
    else:
        send()  # no transaction open: nothing to wait for (and no connection to open)


def to_display(kind: str, data: Any) -> None:
    push(DISPLAY, kind, data)

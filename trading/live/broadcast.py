"""The one place live pushes go out: Channels groups over the Redis channel layer.

Groups: "display" (the wall display and anyone reading the public feed) and "member-<id>" (a
resident's own live power). Messages are {"type": "push", "kind": ..., "data": ...}.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

DISPLAY = "display"


def member_group(member_id: int) -> str:
    return f"member-{member_id}"


def push(group: str, kind: str, data: Any) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group, {"type": "push", "kind": kind, "data": data, "sent": time.time()}
    )


def to_display(kind: str, data: Any) -> None:
    push(DISPLAY, kind, data)

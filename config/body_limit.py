"""An ASGI guard: a request body over the limit is refused before Django buffers any of it.

Django's ASGI handler reads the whole body into memory or a temporary file before a view runs,
so a view's own size check comes too late to spare the server. This answers 413 at once when
Content-Length is over the limit, and cuts a body sent without one (chunked) once it passes it.
A proxy in front should set the same limit, so the bytes never reach daphne at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# ASGI's shapes, as loose as the spec: a scope and messages are dicts of str keys.
Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_big = True  # an unreadable length is refused, not guessed at
        if too_big:
            return await self._refuse(send)
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Django treats a disconnect as an aborted request: nothing is processed.
                    return {"type": "http.disconnect"}
            return message

        return await self.app(scope, bounded_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"The request body is over {self.max_bytes:,} bytes; nothing was read."}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

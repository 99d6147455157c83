"""An ASGI guard: a request body over the limit is refused before Django buffers any of it.

Django's ASGI handler reads the whole body into memory or a temporary file before a view runs,
so a view's own size check comes too late to spare the server. This answers 413 at once when
Content-Length is over the limit, and reads a body sent without one (chunked) only up to the
limit before answering 413 the same way.
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
        if declared is not None:
            # Django reads no more than Content-Length, which is within the limit.
            return await self.app(scope, receive, send)
        # No Content-Length (chunked): read the body here, at most the limit, then hand the
        # app what was read; one byte more is a 413 like a declared one.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        return await self.app(scope, replayed, send)

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

"""HTTP from the ASGI server to Django's WSGI handler on a pool of threads, one hop each way.

a2wsgi, which this replaces on the request path, hands every message across threads and waits
for it: the body's read, the response's start, each body chunk and the end are each a trip from
the handler's thread to the event loop and back. At ~370 orders/s that was four thread wakes a
request and a third of a web process's CPU in the scheduler (perf: finish_task_switch) and in
asyncio's cross-thread futures (py-spy). Here the event loop reads the body first (bounded by
config.body_limit, spooled to disk past SPOOL_BYTES), one thread runs the whole request and
iterates the response, and the loop sends what it made. A large response (a static file, a CSV)
goes out in batches of BATCH_BYTES, each one trip to the loop, the thread waiting for each to be
sent, so memory stays bounded. Everything Django does (the view, the response's close() and its
request_finished signal, which returns the thread's database connection) runs on that one thread.

The environ is a2wsgi's (`build_environ`): its WSGI encoding of the path and headers stands.
"""

from __future__ import annotations

import asyncio
import contextvars
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SPOOL_BYTES = 256 * 1024  # a body past this waits in a temporary file, not in memory
BATCH_BYTES = 256 * 1024  # a response past this goes out in batches of about this much


class WSGIBridge:
    def __init__(self, app: WSGIApp, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"WSGIBridge serves HTTP only, not {scope['type']!r}")
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before its request was whole
        loop = asyncio.get_running_loop()
        exchange = _Exchange(self.app, build_environ(scope, body), loop, send)  # type: ignore[arg-type]
        last = await loop.run_in_executor(
            self.executor, contextvars.copy_context().run, exchange.run
        )
        for message in last:
            await send(message)


async def _read_body(receive: Receive) -> Any:
    """The request's body as a file at its start, or None if the client disconnected."""
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (Django reads it)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            body.close()
            return None
        body.write(message.get("body", b""))
        if not message.get("more_body", False):
            body.seek(0)
            return body


class _Exchange:
    """One request on its handler thread: the app's answer as ASGI messages."""

    def __init__(self, app: WSGIApp, environ: dict[str, Any], loop: Any, send: Send) -> None:
        self.app, self.environ, self.loop, self.send = app, environ, loop, send
        self.start: dict[str, Any] | None = None
        self.started = False  # the start message has gone to the loop
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def run(self) -> list[Message]:
        """Run the app and iterate its answer; return the messages not yet sent (for a small
        answer, all of them: the loop sends them when this returns)."""
        try:
            iterable = self.app(self.environ, self.start_response)
            try:
                for chunk in iterable:
                    self.write(chunk)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        finally:
            self.environ["wsgi.input"].close()
        return self._messages(more_body=False)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])
        self.start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [
                (name.strip().lower().encode("latin1"), value.strip().encode("latin1"))
                for name, value in headers
            ],
        }
        return self.write

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        if self.pending_bytes >= BATCH_BYTES:
            messages = self._messages(more_body=True)
            asyncio.run_coroutine_threadsafe(_send_all(self.send, messages), self.loop).result()

    def _messages(self, *, more_body: bool) -> list[Message]:
        if self.start is None:
            raise RuntimeError("The WSGI app returned a body without calling start_response.")
        messages: list[Message] = [] if self.started else [self.start]
        self.started = True
        body = b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        messages.append({"type": "http.response.body", "body": body, "more_body": more_body})
        return messages


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)

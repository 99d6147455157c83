"""config.wsgi_bridge: HTTP from the event loop to a WSGI app on a thread, driven here through
the ASGI interface itself (an ASGI server's receive and send), with small WSGI apps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from config.wsgi_bridge import BATCH_BYTES, SPOOL_BYTES, WSGIBridge

SCOPE = {
    "type": "http",
    "http_version": "1.1",
    "method": "POST",
    "path": "/api/orders/",
    "query_string": b"a=1",
    "headers": [(b"content-type", b"application/json"), (b"x-thing", b"t")],
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 5555),
}


def _serve(app: Any, body_messages: list[dict[str, Any]], scope: dict | None = None) -> list:
    """Run one request through the bridge; what it sent, in order."""
    sent: list[Mapping[str, Any]] = []
    messages = iter(body_messages)

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(WSGIBridge(app, threads=2)(scope or SCOPE, receive, send))
    return sent


def _echo(environ: dict, start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response(
        "201 Created", [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"])]
    )
    return [
        b"got ",
        body,
        b" ",
        environ["QUERY_STRING"].encode(),
        b" ",
        environ["HTTP_X_THING"].encode(),
    ]


def test_a_small_answer_is_one_start_and_one_body():
    sent = _serve(
        _echo,
        [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.request", "body": b"def"},
        ],
    )
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-path", b"/api/orders/")],
        },
        {"type": "http.response.body", "body": b"got abcdef a=1 t", "more_body": False},
    ]


def test_a_body_past_the_spool_size_reaches_the_app_whole():
    piece = bytes(range(256)) * 1024  # 256 KiB
    parts = [{"type": "http.request", "body": piece, "more_body": True} for _ in range(5)]
    parts.append({"type": "http.request", "body": b"end"})
    seen = {}

    def app(environ, start_response):
        seen["spooled"] = environ["wsgi.input"]._rolled  # past SPOOL_BYTES: on disk
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"ok"]

    _serve(app, parts)
    assert seen["body"] == piece * 5 + b"end"
    assert len(seen["body"]) > SPOOL_BYTES
    assert seen["spooled"]


def test_a_client_gone_before_its_body_is_whole_never_reaches_the_app():
    called = []

    def app(environ, start_response):
        called.append(1)
        start_response("200 OK", [])
        return [b""]

    sent = _serve(app, [{"type": "http.request", "body": b"half", "more_body": True}])
    assert called == []
    assert sent == []


class _Streamed:
    """A large answer, iterated and closed on whichever thread the bridge uses."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.threads: set[str] = set()
        self.closed_on: str | None = None

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Length", str(self.chunks * 4096))])
        return self

    def __iter__(self):
        for i in range(self.chunks):
            self.threads.add(threading.current_thread().name)
            yield bytes([i % 256]) * 4096

    def close(self) -> None:
        self.closed_on = threading.current_thread().name


def test_a_large_answer_goes_out_in_bounded_batches_in_order_and_closes_on_its_thread():
    app = _Streamed(chunks=200)  # 800 KiB: three full batches and the rest
    sent = _serve(app, [{"type": "http.request", "body": b""}])
    assert sent[0]["type"] == "http.response.start"
    bodies = sent[1:]
    assert [m["more_body"] for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert len(bodies) == 4
    assert all(len(m["body"]) <= BATCH_BYTES + 4096 for m in bodies)
    assert b"".join(m["body"] for m in bodies) == b"".join(bytes([i]) * 4096 for i in range(200))
    # One thread iterates and closes it: Django's close() returns that thread's connection.
    assert len(app.threads) == 1
    assert app.closed_on in app.threads
    assert app.closed_on != threading.current_thread().name


def test_an_app_that_fails_before_answering_fails_the_request_and_closes_its_body():
    inputs = []

    def app(environ, start_response):
        inputs.append(environ["wsgi.input"])
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        _serve(app, [{"type": "http.request", "body": b"x"}])
    assert inputs[0].closed


def test_start_response_with_an_error_after_the_start_went_out_reraises_it():
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"x" * BATCH_BYTES  # sends the start and a batch
        try:
            raise KeyError("late")
        except KeyError:
            import sys

            start_response("500 Error", [], sys.exc_info())

    with pytest.raises(KeyError):
        _serve(app, [{"type": "http.request", "body": b""}])


def test_a_body_without_start_response_is_refused():
    with pytest.raises(RuntimeError, match="start_response"):
        _serve(lambda _environ, _start_response: [b"x"], [{"type": "http.request", "body": b""}])


def test_only_http_is_served():
    with pytest.raises(ValueError, match="HTTP only"):
        asyncio.run(WSGIBridge(_echo, threads=1)({"type": "websocket"}, None, None))

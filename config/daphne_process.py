"""Start a real daphne (HTTP and websockets) on a free port, for benchmarks and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from config.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
# Browsers send nothing on our sockets; daphne drops a bigger frame before the app sees it.
WEBSOCKET_MAX_MESSAGE_BYTES = 16 * 1024


def daphne_command(python: str, port: int) -> list[str]:
    """The web process: daphne serving HTTP and websockets, incoming messages capped."""
    size = str(WEBSOCKET_MAX_MESSAGE_BYTES)
    return [
        python,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "--websocket-max-message-size",
        size,
        "--websocket-max-frame-size",
        size,
        "config.asgi:application",
    ]


def start_daphne(
    env: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    process = subprocess.Popen(
        daphne_command(sys.executable, port),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("daphne did not start") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()

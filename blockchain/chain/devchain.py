"""Ganache or Anvil from node_modules on a free port: for tests, benchmarks and make run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from config.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# Account 0 of the public dev mnemonic: a well-known key, never for a real network.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def command(kind: str, port: int, state_dir: Path | None = None) -> list[str]:
    bin_dir = ROOT / "node_modules" / ".bin"
    if kind == "ganache":
        cmd = [
            str(bin_dir / "ganache"),
            "--server.host",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--wallet.mnemonic",
            DEV_MNEMONIC,
            "--chain.chainId",
            "1337",
            "--chain.hardfork",
            "shanghai",
            "--logging.quiet",
        ]
        return cmd + (["--database.dbPath", str(state_dir)] if state_dir else [])
    if kind == "anvil":
        cmd = [
            str(bin_dir / "anvil"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--mnemonic",
            DEV_MNEMONIC,
            "--chain-id",
            "1337",
            "--hardfork",
            "shanghai",
            "--silent",
        ]
        return cmd + (["--state", str(state_dir / "anvil.json")] if state_dir else [])
    raise ValueError(f"unknown dev chain {kind!r}: ganache or anvil")


def rpc_answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 (loopback only)
            return b"result" in response.read()
    except OSError:
        return False


class DevChain:
    def __init__(
        self, kind: str = "ganache", state_dir: Path | None = None, port: int | None = None
    ) -> None:
        self.kind, self.state_dir = kind, state_dir
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DevChain:
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            command(self.kind, self.port, self.state_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not rpc_answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.kind} did not start on port {self.port}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        """Stop the chain and wait until every process of it has gone. npm's anvil is a node
        wrapper that exits at once on SIGTERM while the anvil binary it started still writes its
        state and holds the port: waiting for the wrapper alone let a restart on the same port
        find the old chain still answering."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the wrapper leads the group
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            _signal_group(group, sig)
            deadline = time.monotonic() + grace
            while _group_alive(group) and time.monotonic() < deadline:
                self.process.poll()  # reap the wrapper: a zombie leader keeps the group alive
                time.sleep(0.05)
            if not _group_alive(group):
                break
        self.process.wait()
        self.process = None


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    """Whether any process of the group still runs (a reaped-only zombie leader does not count:
    killpg(0) fails once the group's last member has been reaped)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True

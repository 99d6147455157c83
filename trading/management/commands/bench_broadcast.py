"""`manage.py bench_broadcast --clients N`: websocket fan-out latency through daphne and the
Redis channel layer. Opens N display clients, broadcasts messages stamped with their send time,
and prints JSON {"clients", "messages", "p50_ms", "p99_ms", "dropped"}. Starts its own daphne on a
free port unless --url points at a running one."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import websockets
from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandParser
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from config.benchmarks import database_ready
from config.daphne_process import start_daphne, stop
from trading.live import broadcast


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", type=int, default=500)
        parser.add_argument("--messages", type=int, default=20)
        parser.add_argument("--interval", type=float, default=0.25, help="seconds between messages")
        parser.add_argument("--url", default="", help="ws://host:port of a running daphne")

    def handle(
        self, *args: Any, clients: int, messages: int, interval: float, url: str, **options: Any
    ) -> None:
        process = None
        if not url:
            database_ready()  # the daphne started here serves the display's snapshot from it
            process, port = start_daphne()
            url = f"ws://127.0.0.1:{port}"
        try:
            result = asyncio.run(self.run(url, clients, messages, interval))
        finally:
            if process:
                stop(process)
        self.stdout.write(json.dumps(result))

    async def run(self, url: str, clients: int, messages: int, interval: float) -> dict:
        latencies: list[float] = []
        received = [0]
        sockets: list[ClientConnection] = []
        for start in range(0, clients, 50):  # connect in waves so daphne's accept queue keeps up
            sockets += await asyncio.gather(
                *(
                    websockets.connect(
                        f"{url}/ws/display/", origin=Origin("http://localhost"), max_size=None
                    )
                    for _ in range(start, min(clients, start + 50))
                )
            )
        for ws in sockets:  # each first gets its snapshot
            await ws.recv()

        async def listen(ws: ClientConnection) -> None:
            try:
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("kind") == "bench":
                        latencies.append((time.time() - message["data"]["sent"]) * 1000)
                        received[0] += 1
            except websockets.ConnectionClosed:
                return

        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        await asyncio.sleep(0.5)
        send = sync_to_async(broadcast.to_display)
        for n in range(messages):
            await send("bench", {"n": n, "sent": time.time()})
            await asyncio.sleep(interval)
        deadline = time.monotonic() + 10
        while received[0] < clients * messages and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for ws in sockets:
            await ws.close()
        for task in listeners:
            task.cancel()
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else None
        return {
            "clients": clients,
            "messages": messages,
            "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
            "p99_ms": round(p99, 1) if p99 is not None else None,
            "dropped": clients * messages - received[0],
        }

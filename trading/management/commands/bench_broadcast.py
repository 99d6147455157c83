"""`manage.py bench_broadcast --clients 5000 --rate 4 --seconds 10`: live pushes to many
websocket clients through the site's web server and the Redis channel layer.

For each server asked for (`--server uvicorn|daphne|both`) it starts the web process as
`make run` does (config.web_server: `--workers` processes on one port, by default one per core)
with this command's settings and database, connects `--clients` clients from
`--processes` load processes (config.ws_load; `--live-share` of them residents on /ws/live/
with session cookies made here, the rest wall displays on /ws/display/), pushes `--rate`
messages a second for `--seconds` through trading.live.broadcast, and times each copy from the
sender's `sent` stamp to its arrival. The old configuration, one daphne process, runs as a
row too, with `--old-clients` (500, the issue's figure; 0 skips it). CPU is counted for the
push window on each side: the web processes, and the load processes.

Prints one JSON object as the last line: {"rows": [{"server", "workers", "clients", "pushes",
"p50_ms", "p99_ms", "max_ms", "dropped", "server_cpu_seconds", ...}, ...], ...}. With --url it
measures a server already running there instead (its CPU unknown to this command).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import psutil
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client

from config.benchmarks import cpu_seconds, database_ready
from config.web_server import SERVERS, server_processes, start_web, stop
from config.ws_load import LoadClients, raise_open_files_limit
from coop.models import Member
from trading.live import broadcast

# The old configuration, one daphne process, with the 500 clients: at 5,000 it falls
# further behind with every push and the row would only measure its backlog.
OLD_CLIENTS = 500
LIVE_USERS = 50  # bench residents the live clients log in as, round-robin
DRAIN_SECONDS = 15.0  # after the last push, how long copies may still arrive


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", type=int, default=5000)
        parser.add_argument("--rate", type=float, default=4.0, help="pushes a second")
        parser.add_argument("--seconds", type=float, default=10.0, help="how long to push")
        parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="web processes"
        )
        parser.add_argument("--processes", type=int, default=0, help="load processes (0: auto)")
        parser.add_argument(
            "--live-share", type=float, default=0.1, help="share of clients on /ws/live/"
        )
        parser.add_argument(
            "--old-clients",
            type=int,
            default=OLD_CLIENTS,
            help="clients for the old configuration's row, one daphne (0: no such row)",
        )
        parser.add_argument("--url", default="", help="ws://host:port of a running server")

    def handle(self, *args: Any, **options: Any) -> None:
        clients, rate, seconds = options["clients"], options["rate"], options["seconds"]
        if clients < 1 or rate <= 0 or seconds <= 0:
            raise CommandError("--clients, --rate and --seconds must be positive")
        if not 0 <= options["live_share"] <= 1:
            raise CommandError("--live-share is a share: between 0 and 1")
        limit = raise_open_files_limit()
        if limit < clients + 100:
            raise CommandError(
                f"the open-files limit is {limit}: {clients} clients need at least "
                f"{clients + 100} (ulimit -n; see docs/operations.md)"
            )
        # The servers started here serve snapshots and sessions from this database: it must be
        # there and migrated, and they must read the same one (same settings, same env).
        database_ready()
        live = round(clients * options["live_share"])
        cookies = _session_cookies(min(LIVE_USERS, live)) if live else []
        env = {"DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        plan: list[tuple[str, int, int]] = []  # (server, workers, clients)
        if options["url"]:
            plan.append(("given", 0, clients))
        else:
            servers = SERVERS if options["server"] == "both" else (options["server"],)
            plan += [(server, options["workers"], clients) for server in servers]
            if options["old_clients"]:
                plan.append(("daphne", 1, options["old_clients"]))
        rows = []
        for server, workers, count in plan:
            live_count = round(count * options["live_share"])
            row = self.run_row(
                server, workers, count, live_count, cookies, rate, seconds, options, env
            )
            self.stderr.write(json.dumps(row))
            rows.append(row)
        result = {
            "rate_per_second": rate,
            "seconds": seconds,
            "database": connection.vendor,
            "settings": settings.SETTINGS_MODULE,
            "cpu_cores": os.cpu_count(),
            "open_files_limit": limit,
            "rows": rows,
            "note": (
                "latency: the sender's time.time() stamp in broadcast.push to the kernel's "
                "receive time at the client socket; CPU: the push window (first push to the "
                "last copy in, plus 1 s), web processes vs load processes (niced, separate "
                "processes); "
                f"the workers=1 daphne row is the old configuration, one daphne process, run "
                f"with {options['old_clients']} clients (this code's consumers)"
            ),
        }
        self.stdout.write(json.dumps(result))

    def run_row(
        self,
        server: str,
        workers: int,
        clients: int,
        live: int,
        cookies: list[str],
        rate: float,
        seconds: float,
        options: dict[str, Any],
        env: dict[str, str],
    ) -> dict[str, Any]:
        process = None
        url = options["url"]
        if not url:
            process, port = start_web(env=env, workers=workers, server=server)
            url = f"ws://127.0.0.1:{port}"
        try:
            pids = server_processes(process) if process else []
            started = time.monotonic()
            with LoadClients(
                url,
                clients=clients,
                processes=options["processes"] or None,
                kinds=["bench"],
                live_clients=live,
                cookies=cookies,
            ) as load:
                connect_seconds = time.monotonic() - started
                self.stderr.write(
                    f"{server} x{workers}: {clients} clients connected in {connect_seconds:.1f} s"
                )
                spread = _sockets_per_process(pids[1:])
                memory_mb = _resident_mb(pids)
                server_cpu = sum(cpu_seconds(pids).values())
                pushes = max(1, round(rate * seconds))
                window = time.monotonic()
                for n in range(pushes):
                    # On a schedule, not after a sleep: a slow send does not lower the rate.
                    delay = window + n / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    broadcast.to_display("bench", {"n": n})
                # Asked only once the copies should be in: asking decodes in the load processes.
                time.sleep(1.0)
                load.wait_for("bench", key=pushes - 1, timeout=DRAIN_SECONDS)
                server_cpu = sum(cpu_seconds(pids).values()) - server_cpu
                wall = time.monotonic() - window  # the CPU window, both sides
                result = load.results()
        finally:
            if process:
                stop(process)
        latencies = sorted(result.latencies_ms())
        reached = sum(m.clients_reached() for m in result.messages)
        client_cpu = sum(result.cpu_seconds)
        return {
            "server": server,
            "workers": workers,
            "clients": clients,
            "live_clients": live,
            "load_processes": len(result.cpu_seconds),
            "pushes": pushes,
            "p50_ms": _percentile(latencies, 0.50),
            "p99_ms": _percentile(latencies, 0.99),
            "max_ms": round(latencies[-1], 1) if latencies else None,
            "dropped": clients * pushes - reached,
            "duplicates": result.duplicates(),
            "closed": result.closed,
            "wall_seconds": round(wall, 2),
            "server_cpu_seconds": round(server_cpu, 2) if pids else None,
            "server_cpu_pct_of_core": round(100 * server_cpu / wall, 1) if pids else None,
            "client_cpu_seconds": round(client_cpu, 2),
            "client_cpu_pct_of_core": round(100 * client_cpu / wall, 1),
            "connect_seconds": round(connect_seconds, 1),
            "connect_retries": result.connect_retries,
            "sockets_per_web_process": spread,
            "server_memory_mb": memory_mb,
        }


def _session_cookies(count: int) -> list[str]:
    """Session cookies of `count` bench residents (made once, kept): what a browser that
    logged in sends on /ws/live/."""
    cookies = []
    for n in range(count):
        user, _ = User.objects.get_or_create(username=f"bench-live-{n:03d}")
        Member.objects.get_or_create(
            user=user, defaults={"display_name": user.username, "status": Member.Status.ACTIVE}
        )
        browser = Client()
        browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        name = settings.SESSION_COOKIE_NAME
        cookies.append(f"{name}={browser.cookies[name].value}")
    return cookies


def _resident_mb(pids: list[int]) -> float | None:
    """The web processes' resident memory with every client connected."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20) if pids else None


def _sockets_per_process(pids: list[int]) -> list[int]:
    """How evenly the kernel spread the clients (SO_REUSEPORT) over the web processes."""
    counts = []
    for pid in pids:
        try:
            counts.append(len(psutil.Process(pid).net_connections(kind="tcp")))
        except psutil.NoSuchProcess:
            continue
    return counts


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)

"""`manage.py bench_orders --residents 500 --seconds 30`: order placements a second through the
REST API, and their latency, with the site's production web server and settings.

- Bench residents (trading.bench_community, kept between runs; every second one also gets solar
  and a battery, so it can sell) each with a DRF token, and the next 48 hours of periods open.
- The web server started as production starts it (config.web_server, config.settings.production,
  a generated secret key, DATABASE_URL and REDIS_URL from this environment) on a free port. The
  load client sends X-Forwarded-Proto: https, as the TLS proxy in front would.
- Locust, headless in its own processes (trading/management/commands/_orders_locust.py): one
  user per resident, each placing `--rate / --residents` orders a second at Poisson moments of its
  own (config.arrivals: independent apps, not Locust's spawn batches in step), bids and offers at
  mixed prices in the open periods, half with an Idempotency-Key (a tenth of those sent twice).
- After `--seconds` of steady load, a gate closure clears a period holding `--clearing-orders`
  orders, in a process of its own as the Celery worker runs it, while the load goes on; the
  figures of that window are reported under "during_clearing" (`--no-during-clearing` skips it).

Prints JSON {"orders_per_second", "p50_ms", "p95_ms", "p99_ms", "errors", ..., "during_clearing":
{...}} as the last line. The bench's orders and idempotency keys are deleted at the end (the
residents are kept); the cleared period is a bench period on 4 January 2000, removed too.
On SQLite (a smoke run: production refuses SQLite) the server runs with the dev settings and
DEBUG off; the JSON says which database and settings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.benchmarks import cpu_seconds, database_ready, tables_vacuum
from config.web_server import DEFAULT_SERVER, start_web
from config.web_server import stop as stop_web
from coop.models import ICP, Battery, Member, PVSystem
from trading.bench_community import (
    bench_book_fill,
    bench_members_ensure,
    bench_period,
    bench_periods_remove,
)
from trading.models import IdempotencyKey, Order, Trade, TradingPeriod
from trading.services import periods
from trading.services.orders import max_sell_kwh

ROOT = Path(__file__).resolve().parents[3]
LOCUSTFILE = Path(__file__).with_name("_orders_locust.py")
CLEARING_DAY = dt.date(2000, 1, 4)  # a day no co-op trades (bench_gate_closure has the 3rd)
TARGET_PERIODS = 16  # the load spreads over this many of the next open periods
PLACEMENTS = ("place", "place+key")
AFTER_CLEARING_SECONDS = 10

# The gate closure and clearing, in a process of its own as a Celery worker runs them; it prints
# when the work started and ended (epoch seconds) and the CPU it used.
CLEARING_SCRIPT = """
import json, sys, time
import django
django.setup()
import psutil
from django.db import connection
from trading.services import periods
period_id = int(sys.argv[1])
print("ready", flush=True)  # set up: the parent takes its CPU readings from here
started, cpu = time.time(), time.process_time()
closed = periods.period_close_gate(period_id=period_id)
gate_closed = time.time()
cleared = closed and periods.period_clear(period_id=period_id)
ended = time.time()
db_cpu = None
if connection.vendor == "postgresql":
    backend = psutil.Process(connection.connection.info.backend_pid).cpu_times()
    db_cpu = backend.user + backend.system
print(json.dumps({"started": started, "gate_closed": gate_closed, "ended": ended,
                  "cleared": bool(cleared), "cpu_s": time.process_time() - cpu, "db_cpu_s": db_cpu}))
"""


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--residents", type=int, default=500, help="Locust users, one each")
        parser.add_argument("--seconds", type=int, default=30, help="the steady window")
        parser.add_argument(
            "--rate", type=float, default=0.0, help="orders a second offered (default: 1.1/user)"
        )
        parser.add_argument("--processes", type=int, default=2, help="Locust worker processes")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="web server processes (default: one per core, as production starts them)",
        )
        parser.add_argument("--server", default=None, help="web server kind (config.web_server)")
        parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
        parser.add_argument(
            "--during-clearing",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="then the same load while a gate closure clears a period (default: yes)",
        )
        parser.add_argument(
            "--clearing-orders", type=int, default=20_000, help="orders in the period cleared"
        )
        parser.add_argument("--keep-orders", action="store_true", help="leave the bench's orders")
        parser.add_argument("--url", default="", help="a running server (none is started)")
        parser.add_argument(
            "--server-pid", type=int, default=None, help="with --url: whose CPU to count"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        residents: int = options["residents"]
        seconds: int = options["seconds"]
        if residents < 2 or seconds < 1:
            raise CommandError("--residents must be at least 2 and --seconds at least 1")
        rate = options["rate"] or 1.1 * residents
        database_ready()
        postgres = connection.vendor == "postgresql"
        started = time.perf_counter()
        members = residents_ensure(residents)
        periods.periods_ensure(hours=48)
        self.stderr.write(f"{residents} residents ready in {time.perf_counter() - started:.1f} s")
        clearing = options["during_clearing"]
        # Target periods stay open for the whole run: their gates close after it ends.
        run_seconds = options["warmup"] + seconds + (120 if clearing else 0) + residents / 100
        targets = target_periods(timezone.now() + dt.timedelta(seconds=run_seconds + 300))
        if not targets:
            raise CommandError("no open trading periods ahead to place orders in")
        clearing_period = None
        if clearing:
            bench_periods_remove(day=CLEARING_DAY)
            clearing_period = bench_period(day=CLEARING_DAY, number=1)
            bench_book_fill(clearing_period, members, options["clearing_orders"])
        tables_vacuum(Order, IdempotencyKey, Trade)
        out_dir = Path(tempfile.mkdtemp(prefix="bench-orders-"))
        env = server_env(postgres)
        server = None
        try:
            plan = {
                "out_dir": str(out_dir),
                "processes": options["processes"],
                "rate_per_user": rate / residents,
                "periods": [p.pk for p in targets],
                "residents": resident_plan(members),
            }
            (out_dir / "plan.json").write_text(json.dumps(plan))
            if options["url"]:
                url, server_pid = options["url"].rstrip("/"), options["server_pid"]
                server_name = f"given --url {url}"
            else:
                server = WebServer(env, options["workers"], options["server"])
                url, server_pid, server_name = server.url, server.process.pid, server.name
            result = self.run_load(
                url=url,
                server_pid=server_pid,
                plan_path=out_dir / "plan.json",
                out_dir=out_dir,
                users=residents,
                processes=options["processes"],
                warmup=options["warmup"],
                seconds=seconds,
                clearing_period=clearing_period,
                env=env,
            )
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(out_dir, ignore_errors=True)
            if not options["keep_orders"]:
                bench_orders_remove(members)
        result = {
            **result,
            "residents": residents,
            "offered_per_second": round(rate, 1),
            "database": connection.vendor,
            "server": server_name,
            "server_settings": env["DJANGO_SETTINGS_MODULE"],
            "web_workers": None if options["url"] else options["workers"],
            "locust_processes": options["processes"],
        }
        self.stdout.write(json.dumps(result))

    def run_load(
        self,
        *,
        url: str,
        server_pid: int | None,
        plan_path: Path,
        out_dir: Path,
        users: int,
        processes: int,
        warmup: float,
        seconds: int,
        clearing_period: TradingPeriod | None,
        env: dict[str, str],
    ) -> dict[str, Any]:
        spawn_rate = max(50, users // 2)
        command = [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(spawn_rate),
            "--processes",
            str(processes),
            "--host",
            url,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ]
        log = out_dir / "locust.log"
        with log.open("w") as output:
            locust = subprocess.Popen(
                command,
                cwd=ROOT,
                env={
                    **os.environ,
                    "HAPORI_ORDERS_PLAN": str(plan_path),
                    # Locust puts the locustfile's folder on the path, not the project's.
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
                    ),
                },
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        cpu = CpuMeter(server_pid, locust.pid)
        try:
            time.sleep(users / spawn_rate + warmup)
            if locust.poll() is not None:
                raise CommandError(f"Locust stopped: {_tail(log)}")
            self.stderr.write(f"measuring {seconds} s of steady load")
            steady_start, steady_cpu = time.time(), cpu.read()
            time.sleep(seconds)
            steady_end, steady_cpu_end = time.time(), cpu.read()
            during: tuple[Any, ...] | str | None = None
            if clearing_period is not None:
                self.stderr.write(f"clearing period {clearing_period.pk} under the same load")
                readings: list[dict[str, dict[int, float]]] = []
                try:
                    clearing = _clear_in_own_process(
                        clearing_period.pk, env, lambda: readings.append(cpu.read())
                    )
                except CommandError as exc:
                    during = str(exc)  # reported with the steady figures, not instead of them
                else:
                    # The load goes on until the requests sent during the clearing have been
                    # answered: Locust, stopped, drops the ones in flight.
                    time.sleep(AFTER_CLEARING_SECONDS)
                    during = (clearing, *readings)
        finally:
            locust.send_signal(signal.SIGTERM)  # Locust stops its workers, which write their logs
            try:
                locust.wait(timeout=30)
            except subprocess.TimeoutExpired:
                locust.kill()
                locust.wait()
        records, errors = _records(out_dir)
        if not records:
            raise CommandError(f"Locust made no requests: {_tail(log)}")
        result = {
            **figures(records, steady_start, steady_end),
            **cpu.figures(steady_cpu, steady_cpu_end),
        }
        result["server_cpu_ms_per_order"] = _per_order(result, "server_cpu_s")
        # The commonest reasons requests failed, over the whole run (warm-up included).
        result["error_reasons"] = dict(sorted(errors.items(), key=lambda e: -e[1])[:5])
        if isinstance(during, str):
            result["during_clearing"] = {"error": during}
        elif during is not None:
            clearing, clear_cpu, clear_cpu_end = during
            window = figures(records, clearing["started"], clearing["ended"])
            assert clearing_period is not None
            result["during_clearing"] = {
                **window,
                **cpu.figures(clear_cpu, clear_cpu_end),
                "cleared": clearing["cleared"],
                "clearing_orders": Order.objects.filter(period=clearing_period).count(),
                "trades": Trade.objects.filter(period=clearing_period).count(),
                "gate_closure_s": round(clearing["gate_closed"] - clearing["started"], 3),
                "clearing_s": round(clearing["ended"] - clearing["gate_closed"], 3),
                "clearing_process_cpu_s": round(clearing["cpu_s"], 2),
                # Its database backend's CPU (PostgreSQL), setup included.
                "clearing_db_cpu_s": _rounded(clearing["db_cpu_s"]),
            }
        return result


def residents_ensure(count: int) -> list[Member]:
    """The bench residents; every second one with solar and a battery (added where missing), so
    that the load has sellers as well as buyers."""
    members = bench_members_ensure(count=count)
    sellers = [m for n, m in enumerate(members) if n % 2]
    icps = {icp.member_id: icp for icp in ICP.objects.filter(member__in=sellers)}
    with transaction.atomic():
        have = set(PVSystem.objects.filter(icp__in=icps.values()).values_list("icp_id", flat=True))
        PVSystem.objects.bulk_create(
            [
                PVSystem(icp=icp, capacity_kwp=Decimal("6.6"), inverter_kw=Decimal(5))
                for icp in icps.values()
                if icp.pk not in have
            ]
        )
        have = set(Battery.objects.filter(icp__in=icps.values()).values_list("icp_id", flat=True))
        Battery.objects.bulk_create(
            [
                Battery(icp=icp, capacity_kwh=Decimal("13.5"), power_kw=Decimal(5))
                for icp in icps.values()
                if icp.pk not in have
            ]
        )
    return members


def resident_plan(members: Sequence[Member]) -> list[dict[str, Any]]:
    """What each Locust user needs: its token, its ICP and how much it may sell."""
    tokens = dict(Token.objects.filter(user__member__in=members).values_list("user__member", "key"))
    icps = {
        icp.member_id: icp
        for icp in ICP.objects.filter(member__in=members).prefetch_related(
            "pv_systems", "batteries"
        )
    }
    return [
        {
            "token": tokens[m.pk],
            "icp": icps[m.pk].identifier,
            "sell_kwh": float(max_sell_kwh(icps[m.pk])),
        }
        for m in members
    ]


def target_periods(open_after: dt.datetime) -> list[TradingPeriod]:
    return list(
        TradingPeriod.objects.filter(
            state=TradingPeriod.State.OPEN, gate_closes_at__gt=open_after
        ).order_by("start")[:TARGET_PERIODS]
    )


def bench_orders_remove(members: Sequence[Member]) -> None:
    """The orders the load placed (still open: their periods have not closed) and the
    idempotency keys it stored, then the cleared bench period; the residents stay."""
    with transaction.atomic():
        Order.objects.filter(
            member__in=members, status=Order.Status.OPEN, period__state=TradingPeriod.State.OPEN
        ).delete()
        IdempotencyKey.objects.filter(user__member__in=members).delete()
    bench_periods_remove(day=CLEARING_DAY)


def server_env(postgres: bool) -> dict[str, str]:
    """The web server's environment: production's settings, its checks satisfied as an
    operator would (a fresh secret key, the hosts, the database and Redis of this run)."""
    env = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": os.environ.get("REDIS_URL", settings.REDIS_URL),
        # Placing orders needs no chain; production refuses a chain URL without its own key.
        "CHAIN_RPC_URL": "",
    }
    if "DATABASE_URL" in os.environ:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if postgres:
        env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    else:
        # Production refuses SQLite: a smoke run uses the dev settings, as fast as they go.
        env["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
        env["DJANGO_DEBUG"] = "false"
    return env


class WebServer:
    """The site's web server as production starts it (config.web_server)."""

    def __init__(self, env: dict[str, str], workers: int, server: str | None) -> None:
        self.process, port = start_web(env=env, workers=workers, server=server)
        self.name = f"config.web_server {server or DEFAULT_SERVER}"
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        stop_web(self.process)


class CpuMeter:
    """CPU seconds used by the server's processes, Locust's processes and, on PostgreSQL, the
    database backends serving this database, read at the ends of each window."""

    def __init__(self, server_pid: int | None, locust_pid: int) -> None:
        self.server_pid = server_pid
        self.locust_pid = locust_pid

    def read(self) -> dict[str, dict[int, float]]:
        backends: list[int] = []
        if connection.vendor == "postgresql":
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                    backends = [row[0] for row in cursor.fetchall()]
            except OperationalError:
                pass  # a server that took every connection: its figures say so, not a crash
        return {
            "server": _tree_cpu(self.server_pid),
            "locust": _tree_cpu(self.locust_pid),
            "db": cpu_seconds(backends),
        }

    @staticmethod
    def figures(
        start: dict[str, dict[int, float]], end: dict[str, dict[int, float]]
    ) -> dict[str, float | None]:
        """Seconds each side used between two readings (a process new since the first counts
        from zero)."""
        used: dict[str, float | None] = {}
        for side in ("server", "locust", "db"):
            before = start[side]
            used[f"{side}_cpu_s"] = round(
                sum(cpu - before.get(pid, 0.0) for pid, cpu in end[side].items()), 2
            )
        if connection.vendor != "postgresql":
            used["db_cpu_s"] = None  # SQLite runs inside the server's processes
        return used


def _tree_cpu(pid: int | None) -> dict[int, float]:
    if pid is None:
        return {}
    try:
        root = psutil.Process(pid)
        return cpu_seconds([root.pid, *(p.pid for p in root.children(recursive=True))])
    except psutil.NoSuchProcess:
        return {}


def _clear_in_own_process(
    period_id: int, env: dict[str, str], at_start_and_end: Callable[[], None]
) -> dict[str, Any]:
    """Close the period's gate and clear it in a process of its own (set up first, so the
    window measured is the work's); `at_start_and_end` is called as the work starts and ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", CLEARING_SCRIPT, str(period_id)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    at_start_and_end()
    out, err = process.communicate(timeout=600)
    at_start_and_end()
    if ready != "ready" or process.returncode != 0:
        why = err.strip().splitlines()[-1] if err.strip() else f"exit code {process.returncode}"
        raise CommandError(f"the clearing process failed: {why}")
    clearing: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if not clearing["cleared"]:
        period = TradingPeriod.objects.get(pk=period_id)
        raise CommandError(f"the bench period did not clear: {period.last_error}")
    return clearing


Record = tuple[float, float, str, bool]  # start (epoch s), response ms, request name, ok


def _records(out_dir: Path) -> tuple[list[Record], dict[str, int]]:
    """Every request the Locust processes made, and why those that failed did (how often)."""
    records: list[Record] = []
    errors: dict[str, int] = {}
    for path in out_dir.glob("requests-*.json"):
        written = json.loads(path.read_text())
        records += [(at, ms, name, ok) for at, ms, name, ok in written["requests"]]
        for why, count in written["errors"].items():
            errors[why] = errors.get(why, 0) + count
    return records, errors


def figures(records: Sequence[Record], start: float, end: float) -> dict[str, Any]:
    """The window's placements a second (answered 201), their latency percentiles (every
    placement, refused or not) and its errors (any request not answered as expected)."""
    window = [r for r in records if start <= r[0] < end]
    placements = sorted(r[1] for r in window if r[2] in PLACEMENTS)
    placed = sum(1 for r in window if r[2] in PLACEMENTS and r[3])
    seconds = end - start
    return {
        "orders_per_second": round(placed / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": _percentile(placements, 0.50),
        "p95_ms": _percentile(placements, 0.95),
        "p99_ms": _percentile(placements, 0.99),
        "max_ms": round(placements[-1], 1) if placements else None,
        "errors": sum(1 for r in window if not r[3]),
        "requests": len(window),
        "replays": sum(1 for r in window if r[2] == "replay"),
        "seconds": round(seconds, 2),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)


def _per_order(result: dict[str, Any], key: str) -> float | None:
    placed = result["orders_per_second"] * result["seconds"]
    return round(1000 * result[key] / placed, 2) if placed else None


def _tail(log: Path) -> str:
    return log.read_text()[-2000:]

"""`manage.py bench_gate_closure --members 500 --orders 2000 --clients 500`: from a period's
gate closure to its cleared price on every screen.

Two measures, on bench members (trading.bench_community) and bench periods on 3 January 2000
(a day no co-op trades, removed afterwards):
- to screen (with --clients): a real Celery worker, the site's web server and N wall-display
  websocket clients in their own processes (config.ws_load). The period's gate closure is set a
  few seconds ahead and queued exactly as the minute's tick queues it (an ETA task); each
  client's time is from the gate-closure instant to the `cleared` push reaching it.
- clear and write, in this process: the gate closure, the clearing and its trades and orders
  written (`clear_write_seconds`), then the period metered and settled, its settlement lines
  and summaries written (`settle_write_seconds`), and the two together
  (`clear_and_settle_seconds`): the median of `--repeat` periods (3), each run under "runs".
Prints JSON {"p99_ms_to_screen", "clear_write_seconds", ...} last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.dispatch import Signal
from django.utils import timezone

from config.benchmarks import database_ready, tables_vacuum
from coop.models import Member
from metering.models import Reading
from metering.services.partitions import reading_partitions_ensure
from trading.bench_community import (
    bench_book_fill,
    bench_members_ensure,
    bench_members_remove,
    bench_period,
    bench_periods_remove,
)
from trading.models import (
    MemberPeriodSummary,
    Order,
    SettlementLine,
    Trade,
    TradingPeriod,
)
from trading.services import periods
from trading.services.metered import period_holders
from trading.signals import period_settled

BENCH_DAY = dt.date(2000, 1, 3)
BENCH_QUEUE = f"bench-gate-closure-{os.getpid()}"
ROOT = Path(__file__).resolve().parents[3]


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=500)
        parser.add_argument("--orders", type=int, default=2000)
        parser.add_argument(
            "--clients", type=int, default=0, help="wall displays (0: clearing only)"
        )
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="web processes"
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=3,
            help="periods cleared and settled, one after another (the median is reported)",
        )
        parser.add_argument("--keep", action="store_true", help="keep the bench members")

    def handle(
        self,
        *args: Any,
        members: int,
        orders: int,
        clients: int,
        workers: int,
        repeat: int,
        keep: bool,
        **options: Any,
    ) -> None:
        if members < 2 or orders < 2:
            raise CommandError("--members and --orders must be at least 2")
        if not 1 <= repeat <= 20:
            raise CommandError("--repeat must be 1 to 20")
        database_ready()
        started = time.perf_counter()
        community = bench_members_ensure(count=members)
        self.stderr.write(f"{members} bench members ready in {time.perf_counter() - started:.1f} s")
        bench_periods_remove(day=BENCH_DAY)
        tables_vacuum(Order, Trade, SettlementLine, MemberPeriodSummary)
        result: dict[str, Any] = {
            "members": members,
            "orders": orders,
            "database": connection.vendor,
        }
        try:
            if clients:
                result.update(self.to_screen(community, orders, clients, workers))
            # Periods 10, 11, ... (2 is the screens'); each its own book, cleared and settled
            # in turn. The median, as one run on this machine varies by a fifth either way.
            runs = [_clear_and_settle(community, orders, number=10 + n) for n in range(repeat)]
            for figure in (
                "clear_write_seconds",
                "settle_write_seconds",
                "clear_and_settle_seconds",
            ):
                result[figure] = statistics.median(run[figure] for run in runs)
            result["trades"] = runs[0]["trades"]
            result["settlement_lines"] = runs[0]["settlement_lines"]
            result["runs"] = runs
        finally:
            bench_periods_remove(day=BENCH_DAY)
            if not keep:
                bench_members_remove()
        self.stdout.write(json.dumps(result))

    def to_screen(self, community: list[Member], orders: int, clients: int, workers: int) -> dict:
        from config.web_server import start_web, stop
        from config.ws_load import LoadClients

        env = {
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.dev"
            )
        }
        web, port = start_web(env=env, workers=workers)
        worker = _celery_worker(env)
        try:
            lead = dt.timedelta(seconds=8 + clients / 250)  # time to connect the displays first
            with LoadClients(f"ws://127.0.0.1:{port}", clients=clients, kinds=["cleared"]) as load:
                period = bench_period(day=BENCH_DAY, number=2, gate_closes_at=timezone.now() + lead)
                bench_book_fill(period, community, orders)
                from trading.tasks import _gate_closures_queue

                with _queue(BENCH_QUEUE):
                    queued = _gate_closures_queue()  # the tick's own code: an ETA task
                if not queued:
                    raise CommandError("the gate closure was not queued")
                gate = period.gate_closes_at.timestamp()
                arrivals = load.wait_for(
                    "cleared", key=period.pk, timeout=lead.total_seconds() + 30
                )
            delays = sorted((at - gate) * 1000 for at in arrivals)
        finally:
            stop(worker)
            stop(web)
        period.refresh_from_db()
        if not delays:
            raise CommandError(
                f"no display saw the period cleared ({period.state}: {period.last_error})"
            )
        return {
            "clients": clients,
            "web_processes": workers,
            "p50_ms_to_screen": round(delays[len(delays) // 2], 1),
            "p99_ms_to_screen": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 1),
            "max_ms_to_screen": round(delays[-1], 1),
            "screens_missed": clients - len(delays),
            "trades": Trade.objects.filter(period=period).count(),
            "load_client_cpu_seconds": round(load.cpu_seconds, 2),
        }


@contextlib.contextmanager
def _queue(name: str) -> Iterator[None]:
    """Tasks sent meanwhile go to queue `name`, the bench worker's own: it takes no task of the
    site's (nor the site's workers the bench's)."""
    from config.celery import app

    default = app.conf.task_default_queue
    app.conf.task_default_queue = name
    try:
        yield
    finally:
        app.conf.task_default_queue = default


def _celery_worker(env: dict[str, str]) -> subprocess.Popen:
    """A real worker, as `make run` starts one but on the bench's own queue; ready when it
    answers."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-l",
        "warning",
        "--concurrency",
        "2",
        "-n",
        f"bench-{os.getpid()}@%h",
        "-Q",
        BENCH_QUEUE,
        "--without-gossip",
        "--without-mingle",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    from config.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(
        destination=[f"bench-{os.getpid()}@{os.uname().nodename}"], timeout=0.5
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise CommandError("the Celery worker did not start")
    return process


def _clear_and_settle(community: list[Member], orders: int, *, number: int) -> dict:
    period = bench_period(day=BENCH_DAY, number=number)
    bench_book_fill(period, community, orders)
    start = time.perf_counter()
    if not (
        periods.period_close_gate(period_id=period.pk) and periods.period_clear(period_id=period.pk)
    ):
        period.refresh_from_db()
        raise CommandError(f"the bench period did not clear: {period.last_error}")
    clear_write = time.perf_counter() - start
    _bench_readings(period)
    if not periods.period_meter(period_id=period.pk):
        raise CommandError("the bench period's readings are not all in")
    start = time.perf_counter()
    with _unheard(period_settled):
        settled = periods.period_settle(period_id=period.pk)
    settle_write = time.perf_counter() - start
    if not settled:
        period.refresh_from_db()
        raise CommandError(f"the bench period did not settle: {period.last_error}")
    return {
        "clear_write_seconds": round(clear_write, 3),
        "trades": Trade.objects.filter(period=period).count(),
        "settle_write_seconds": round(settle_write, 3),
        # The figure: clearing, trades, settlement lines and summaries, end to end.
        "clear_and_settle_seconds": round(clear_write + settle_write, 3),
        "settlement_lines": SettlementLine.objects.filter(period=period).count(),
    }


@contextlib.contextmanager
def _unheard(signal: Signal) -> Iterator[None]:
    """No receiver hears `signal` meanwhile: the bench's periods are removed, never committed
    on chain, so no commit task may be queued for them."""
    receivers = signal.receivers
    signal.receivers = []
    signal.sender_receivers_cache.clear()
    try:
        yield
    finally:
        signal.receivers = receivers
        signal.sender_receivers_cache.clear()


def _bench_readings(period: TradingPeriod) -> None:
    """Each held ICP's meter for the period: what it traded, give or take (the rest settles at
    the retailer's price). Every holder's, not only the run's members: a larger community left
    by an earlier bench (bench_orders keeps its residents) settles in the period too."""
    rng = random.Random(period.pk)
    reading_partitions_ensure(first=period.start, last=period.start)
    icps = sorted(period_holders(period))
    Reading.objects.bulk_create(
        [
            Reading(
                icp_id=icp_id,
                interval_start=period.start,
                import_kwh=Decimal(rng.randint(0, 3000)) / 1000,
                export_kwh=Decimal(rng.randint(0, 3000)) / 1000,
                source="bench",
            )
            for icp_id in icps
        ],
        batch_size=5000,
    )

"""Fixtures shared by every app's tests: the named users of the permission tests, and the
path to the real NZ sample data in ../shared/data (tests that need it skip without it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> Iterator[None]:
    """pytest-django's test databases, ended cleanly on PostgreSQL: async tests leave Django
    connections open in executor threads (a Channels consumer's snapshot, sync_to_async),
    which this thread cannot close, and PostgreSQL refuses to drop a database in use. Those
    sessions are ended first, so the test database goes with the run."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            if connections[alias].vendor != "postgresql":
                continue
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared NZ sample data is not at {SHARED_DATA}")
    return SHARED_DATA


def feeder_named(name: str):
    """The LV feeder called `name`, on a 200 kVA transformer of its own (made if need be)."""
    from coop.models import Feeder, Transformer

    transformer, _ = Transformer.objects.get_or_create(
        name=f"T-{name}",
        defaults={
            "rating_kva": Decimal(200),
            "grid_exit_point": "PEN0331",
            "latitude": Decimal("-36.9"),
            "longitude": Decimal("174.81"),
        },
    )
    feeder, _ = Feeder.objects.get_or_create(name=name, defaults={"transformer": transformer})
    return feeder


def make_member(username: str, n: int, *, feeder: str = "F1", staff: bool = False):
    from coop import nz, services

    member = services.member_create(
        username=username,
        email=f"{username}@example.nz",
        password="pw-" + username,
        display_name=username.title(),
        is_staff=staff,
        joined_on=dt.date(2026, 1, 1),
    )
    base = f"{9_000_000_000 + n:010d}UN"
    services.icp_create(
        member=member,
        on=dt.date(2026, 1, 1),
        identifier=base + nz.icp_checksum(base),
        address=f"{n} Test Street, Ellerslie",
        grid_exit_point="PEN0331",
        feeder=feeder_named(feeder),
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
    )
    return member


@pytest.fixture
def resident(db):
    return make_member("resident", 1)


@pytest.fixture
def other_resident(db):
    return make_member("other", 2)


@pytest.fixture
def coop_admin(db):
    return make_member("coopadmin", 3, staff=True)


@pytest.fixture
def resident_client(client, resident):
    client.force_login(resident.user)
    return client


@pytest.fixture
def admin_client_(client, coop_admin):
    client.force_login(coop_admin.user)
    return client


def _tcp_answers(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """(host, port) of a real MQTT broker: Mosquitto on 1883 (CI), else an amqtt broker.

    A laptop without Mosquitto still runs the MQTT adapter against a real broker speaking the
    protocol over TCP: amqtt, started here on a free port.
    """
    import os
    import subprocess
    import sys
    import time
    from urllib.parse import urlparse

    from config.embedded_redis import free_port

    url = urlparse(os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"))
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    if _tcp_answers(host, port):
        yield host, port
        return
    port = free_port()
    config = tmp_path_factory.mktemp("amqtt") / "broker.yaml"
    config.write_text(
        "listeners:\n  default:\n    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    amqtt = Path(sys.executable).parent / "amqtt"
    process = subprocess.Popen(
        [str(amqtt), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while not _tcp_answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("neither Mosquitto nor an embedded amqtt broker could be reached")
        time.sleep(0.1)
    yield "127.0.0.1", port
    process.terminate()
    process.wait(timeout=10)


def make_period(day: dt.date, number: int, **fields):
    """A trading period row of `day` (NZ) with the given fields (state, errors, prices)."""
    from coop import nz
    from trading.models import TradingPeriod

    start = nz.trading_period_start(day, number)
    return TradingPeriod.objects.create(
        trading_date=day,
        number=number,
        start=start,
        end=start + nz.TRADING_PERIOD,
        gate_closes_at=start - dt.timedelta(minutes=5),
        **fields,
    )


FLAT_RATE = [{"kind": "import", "label": "Anytime", "rate_c": Decimal("34.5")}]


def give_flat_tariff(*members) -> None:
    """34.5 c/kWh incl. GST (30 c excl.) any time, 12 c buy-back, from 1 January 2026."""
    from coop import services

    for member in members:
        services.tariff_create(
            icp=member.icps.get(),
            rates=FLAT_RATE,
            retailer="Mercury",
            plan_name="Basic",
            effective_from=dt.date(2026, 1, 1),
            daily_fixed_c=Decimal(180),
            buyback_c=Decimal(12),
        )

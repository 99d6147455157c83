"""Prepare test_app_worker_kill's database (not a test module): run with worker_settings.

Migrates the file database, adds two members and three settled periods, and commits the first
(deploying the contract and registering the members), so what the workers do afterwards is one
commit transaction each. Prints the other two periods' ids as JSON.
"""

import datetime as dt
import json
from decimal import Decimal

import django


def member(username: str, n: int):
    from coop import nz, services

    created = services.member_create(
        username=username,
        email=f"{username}@example.nz",
        password="pw-" + username,
        display_name=username.title(),
        is_staff=False,
        joined_on=dt.date(2026, 1, 1),
    )
    base = f"{9_000_000_000 + n:010d}UN"
    services.icp_create(
        member=created,
        on=dt.date(2026, 1, 1),
        identifier=base + nz.icp_checksum(base),
        address=f"{n} Test Street, Ellerslie",
        grid_exit_point="PEN0331",
        lv_feeder="F1",
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
    )
    return created


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from blockchain.services.commits import commits_catch_up
    from blockchain.tests.test_app_support import settled_period

    call_command("migrate", verbosity=0)
    buyer, seller = member("buyer", 1), member("seller", 2)
    first, a, b = (settled_period(n, buyer, seller) for n in (40, 41, 42))
    commits_catch_up(up_to_period_id=first.pk)
    print(json.dumps({"a": a.pk, "b": b.pk}))


if __name__ == "__main__":
    main()

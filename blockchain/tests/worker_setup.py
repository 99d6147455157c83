"""Prepare test_app_worker_kill's database (not a test module): run with worker_settings.

Migrates the file database, adds two members and three settled periods, and commits the first
(deploying the contract and registering the members), so what the workers do afterwards is one
commit transaction each. Prints the other two periods' ids as JSON.
"""

import json

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from blockchain.services.commits import commits_catch_up
    from blockchain.tests.test_app_support import settled_period
    from conftest import make_member as member  # the suite's own named members

    call_command("migrate", verbosity=0)
    buyer, seller = member("buyer", 1), member("seller", 2)
    first, a, b = (settled_period(n, buyer, seller) for n in (40, 41, 42))
    commits_catch_up(up_to_period_id=first.pk)
    print(json.dumps({"a": a.pk, "b": b.pk}))


if __name__ == "__main__":
    main()

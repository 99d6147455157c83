"""Prepare test_gate_closure_worker's database (not a test module): run with the worker settings.

Migrates the shared file database, makes a bench period whose gate closes a few seconds from
now with a crossing book, and queues its gate closure exactly as the minute's tick does. Prints
{"period", "gate"} as JSON.
"""

import datetime as dt
import json
import sys

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from trading import tasks
    from trading.bench_community import bench_book_fill, bench_members_ensure, bench_period
    from trading.management.commands.bench_gate_closure import BENCH_DAY

    call_command("migrate", verbosity=0)
    members = bench_members_ensure(count=10)
    lead = dt.timedelta(seconds=float(sys.argv[1]))
    period = bench_period(day=BENCH_DAY, number=3, gate_closes_at=timezone.now() + lead)
    bench_book_fill(period, members, 40)
    assert tasks._gate_closures_queue() == 1
    print(json.dumps({"period": period.pk, "gate": period.gate_closes_at.timestamp()}))


if __name__ == "__main__":
    main()

"""Prepare test_lab_workers' database (not a test module): run with the worker settings.

Migrates the shared file database and saves a tiny scenario and a two-value sweep of it, its
runs queued-to-be (not sent: the test sends them). Prints the run ids as JSON.
"""

import json

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from lab.models import Run, Scenario, Sweep
    from lab.services import with_setting
    from tests.test_lab import TINY

    call_command("migrate", verbosity=0)
    scenario = Scenario.objects.create(name="Tiny street", text=TINY)
    sweep = Sweep.objects.create(
        scenario=scenario, setting="community.mix.battery", values=[0, 0.5]
    )
    ids = [
        Run.objects.create(
            scenario=scenario,
            sweep=sweep,
            sweep_value=value,
            name=f"battery {value}",
            text=with_setting(TINY, "community.mix.battery", value),
        ).pk
        for value in sweep.values
    ]
    print(json.dumps(ids))


if __name__ == "__main__":
    main()

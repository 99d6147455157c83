from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand

from coop.schedules import install

# Each app seeds its own part of the demo, in dependency order; a missing module is skipped so
# an app can grow its demo independently.
DEMO_SEEDERS = ["coop.demo", "metering.demo", "trading.demo"]


class Command(BaseCommand):
    help = "Create the demo co-op (Ellerslie, Auckland). Running it again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        install()  # the beat schedule every deployment has (coop.schedules)
        logins = None
        for module_name in DEMO_SEEDERS:
            try:
                module = import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            result = module.seed()
            logins = logins or result
        self.stdout.write(self.style.SUCCESS("Demo co-op ready."))
        if logins:
            admin_user, admin_password = logins["admin"]
            self.stdout.write(f"  admin:     {admin_user} / {admin_password}")
            for user, password in logins["residents"]:
                self.stdout.write(f"  resident:  {user} / {password}")

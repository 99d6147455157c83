from typing import Any

from django.core.management.base import BaseCommand

from coop.schedules import declared, install


class Command(BaseCommand):
    help = "Write every app's periodic tasks as beat schedule rows (missing ones only)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = install()
        for beat in declared():
            mark = "created" if beat.name in created else "present"
            self.stdout.write(f"  {mark:8} {beat.name} ({beat.task})")

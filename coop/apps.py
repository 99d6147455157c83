from django.apps import AppConfig


class CoopConfig(AppConfig):
    name = "coop"
    verbose_name = "Co-op"

    def ready(self) -> None:
        from coop import (
            checks,  # noqa: F401  (registers the system checks)
            lookups,  # noqa: F401  (registers field__any_of)
        )

"""System checks: the exchange's time rules are not optional."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def times_are_stored_in_utc(app_configs, **kwargs):
    if not settings.USE_TZ:
        return [
            Error(
                "USE_TZ must be True: trading periods are stored as UTC instants.",
                id="coop.E001",
            )
        ]
    return []

"""System checks: the exchange's time rules are not optional, and incomplete ICPs are told."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError


@register()
def times_are_stored_in_utc(
    app_configs: Sequence[AppConfig] | None,  # noqa: ARG001  (signature fixed by Django's checks)
    **kwargs: Any,
) -> list[CheckMessage]:
    if not settings.USE_TZ:
        return [
            Error(
                "USE_TZ must be True: trading periods are stored as UTC instants.",
                id="coop.E001",
            )
        ]
    return []


@register(Tags.database)
def held_icps_are_complete(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """`manage.py check --database default` (and migrate): held ICPs with no meter or no tariff
    in force today, by ICP number. Their settlement is held aside until put right."""
    if not databases or "default" not in databases:
        return []
    if app_configs is not None and "coop" not in {app.label for app in app_configs}:
        return []  # `check <other app>`: ICPs are coop's to report
    from coop.completeness import describe, incomplete_icps

    try:
        incomplete = incomplete_icps()
    except DatabaseError:
        return []  # tables not there yet (a first migrate): nothing to say
    return [
        Warning(
            describe(icp, gaps),
            hint="Add the meter (Metering > Meters) or a tariff (on the ICP's page); until then "
            "its settlement is held aside each period.",
            obj=icp,
            id="coop.W001",
        )
        for icp, gaps in incomplete
    ]

"""Alarms on the admin home page: what needs a person, named so they can act on it.

Each app registers a provider (a function returning an Alarm or None) from its admin module;
the admin home (templates/admin/index.html, via the coop_admin template tags) shows what they
return. Coop owns the page and knows nothing of the apps that report to it, so the layering
(coop <- metering <- trading <- blockchain) holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
SHOWN = 20  # items listed per alarm; the rest are counted


@dataclass(frozen=True)
class Alarm:
    title: str
    items: list[str] = field(default_factory=list)
    url: str = ""  # where to act on it (an admin list, filtered)
    more: int = 0  # items beyond those listed


Provider = Callable[[], Alarm | None]
_providers: list[Provider] = []


def register(provider: Provider) -> Provider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def alarm(title: str, items: list[str], url: str = "", total: int | None = None) -> Alarm | None:
    """An Alarm listing the first SHOWN items (of `total`, if more were not even fetched), or
    None when there is nothing to report."""
    total = len(items) if total is None else total
    if not total:
        return None
    shown = list(items[:SHOWN])
    return Alarm(title, shown, url, max(total - len(shown), 0))


def collect() -> list[Alarm]:
    """Every provider's alarm. A provider that fails is itself an alarm, never a broken page."""
    found = []
    for provider in _providers:
        try:
            result = provider()
        except Exception as exc:
            log.exception("admin alarm provider %s failed", provider.__qualname__)
            result = Alarm("An alarm could not be checked", [f"{provider.__qualname__}: {exc}"])
        if result is not None:
            found.append(result)
    return found

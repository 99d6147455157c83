from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

NODE = re.compile(r"^[A-Z]{3}[0-9]{4}$")
KINDS = ("dispatch", "interim", "final")


@dataclass(frozen=True)
class PricePoint:
    """A wholesale price: NZD/MWh excluding GST, for one node and one interval."""

    node: str
    trading_date: dt.date
    trading_period: int
    interval_start: dt.datetime  # UTC
    dollars_per_mwh: Decimal
    kind: str
    source: str


class SourceError(Exception):
    """A price source that timed out or answered with something that is not prices."""


class PriceSource(Protocol):
    """A live price API (trading.prices.live): its name, and one fetch of its latest prices."""

    name: str

    def fetch(self) -> tuple[list[PricePoint], list[str]]:
        """The prices, and a note for each item skipped; SourceError if it has none to give."""
        ...

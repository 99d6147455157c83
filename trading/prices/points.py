from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

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

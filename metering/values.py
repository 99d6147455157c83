"""Values passed between metering's adapters, services and file formats. Pure: no Django.

The quality strings are the values of `metering.models.Reading.Quality` (tests check they
agree); a pure module cannot import the model to name them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

WH = Decimal("0.001")  # readings are kept to the watt-hour
ACTUAL = "actual"  # Reading.Quality.ACTUAL


@dataclass(frozen=True)
class IntervalEnergy:
    """One ICP's import and export in one half hour, on its way to becoming a Reading."""

    icp_id: int
    interval_start: dt.datetime
    import_kwh: Decimal
    export_kwh: Decimal
    quality: str = ACTUAL

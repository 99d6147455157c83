"""The simulated meter: the household model driven by the ICP's own assets and coordinates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from coop import nz
from coop.models import ICP
from metering.household_model import simulate
from metering.houses import spec_for
from metering.values import WH, IntervalEnergy


def interval_energy(icp: ICP, start: dt.datetime, end: dt.datetime) -> list[IntervalEnergy]:
    """Half hours from `start` to `end`, simulated from local midnight so the battery's state
    of charge is the same whichever window is asked for."""
    day, _ = nz.trading_period_of(start)
    halves = simulate(spec_for(icp), nz.trading_day_start(day), end)
    rows = []
    for when, imp, exp in zip(halves.starts, halves.grid_import, halves.grid_export, strict=True):
        instant = when.to_pydatetime()
        if instant >= start:
            rows.append(
                IntervalEnergy(
                    icp.pk,
                    instant,
                    Decimal(repr(float(imp))).quantize(WH),
                    Decimal(repr(float(exp))).quantize(WH),
                )
            )
    return rows

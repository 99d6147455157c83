"""The simulated meter: the household model driven by the ICP's own assets and coordinates.

A home with a battery carries its state of charge from one call to the next: each call starts
from the latest `StorageState` at or before the window (else half charge at local midnight of
its first day), follows the window's `Dispatch` rows, and stores the state at the start of
every half hour it simulated. The state is kept to the watt-hour and the simulation rounds it
so at each half-hour boundary, so a run that starts from a stored state carries on exactly as
the run that stored it: the same window asked twice gives the same energy.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from coop import nz
from coop.models import ICP
from metering.household_model import half_hours, simulate
from metering.houses import spec_for
from metering.models import Dispatch, StorageState
from metering.values import WH, IntervalEnergy

# A state older than this is not carried on (a meter left off for weeks): the window starts
# again from half charge at its local midnight, rather than simulating every day since.
LONGEST_CARRY = dt.timedelta(days=7)
SOC_DECIMALS = 3  # StorageState.soc_kwh


def _kwh(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(WH)


def interval_energy(icp: ICP, start: dt.datetime, end: dt.datetime) -> list[IntervalEnergy]:
    """Half hours from `start` to `end`, the battery carried on from its stored state and
    following the home's dispatch."""
    spec = spec_for(icp)
    battery = spec.battery_kwh > 0 and spec.battery_kw > 0
    soc_start: float | None = None
    if battery:
        state = (
            StorageState.objects.filter(
                icp=icp, interval_start__lte=start, interval_start__gte=start - LONGEST_CARRY
            )
            .order_by("-interval_start")
            .values_list("interval_start", "soc_kwh")
            .first()
        )
        if state is not None:
            sim_start, soc_start = state[0], float(state[1])
        else:
            day, _ = nz.trading_period_of(start)
            sim_start = nz.trading_day_start(day)
    else:
        sim_start = start  # nothing carries over: every half hour stands alone
    starts = half_hours(sim_start, end)
    battery_plan = np.full(len(starts), np.nan)
    ev_plan = np.full(len(starts), np.nan)
    if len(starts):
        position = {when.to_pydatetime(): i for i, when in enumerate(starts)}
        for when, battery_kwh, ev_kwh in Dispatch.objects.filter(
            icp=icp, interval_start__gte=starts[0].to_pydatetime(), interval_start__lt=end
        ).values_list("interval_start", "battery_kwh", "ev_kwh"):
            i = position.get(when)
            if i is not None:
                battery_plan[i], ev_plan[i] = float(battery_kwh), float(ev_kwh)
    halves = simulate(
        spec,
        sim_start,
        end,
        battery_plan=battery_plan,
        ev_plan=ev_plan,
        soc_start_kwh=soc_start,
        soc_decimals=SOC_DECIMALS if battery else None,
    )
    if battery and len(halves.starts):
        _store_states(icp, halves.starts, halves.soc, halves.soc_end)
    rows = []
    for when, imp, exp in zip(halves.starts, halves.grid_import, halves.grid_export, strict=True):
        instant = when.to_pydatetime()
        if instant >= start:
            rows.append(IntervalEnergy(icp.pk, instant, _kwh(imp), _kwh(exp)))
    return rows


def _store_states(icp: ICP, starts: pd.DatetimeIndex, soc: np.ndarray, soc_end: float) -> None:
    """The state at the start of every half hour simulated, and at the end of the last one
    (where the next window starts): inserted, or updated where a state is already stored.
    States more than `LONGEST_CARRY` before the window go."""
    instants = [when.to_pydatetime() for when in starts]
    instants.append(instants[-1] + nz.TRADING_PERIOD)
    values = [*soc.tolist(), soc_end]
    StorageState.objects.bulk_create(
        [
            StorageState(icp=icp, interval_start=when, soc_kwh=_kwh(value))
            for when, value in zip(instants, values, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["icp", "interval_start"],
        update_fields=["soc_kwh"],
    )
    # Only states this recent are ever carried on; older ones would only grow the table.
    StorageState.objects.filter(icp=icp, interval_start__lt=instants[0] - LONGEST_CARRY).delete()

"""The simulated meter: the household model driven by the ICP's own assets and coordinates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from coop import nz
from coop.models import ICP
from metering.household_model import HouseSpec, simulate
from metering.services import IntervalEnergy

KWH = Decimal("0.001")


def spec_for(icp: ICP) -> HouseSpec:
    pv = list(icp.pv_systems.all())
    batteries = list(icp.batteries.all())
    evs = list(icp.evs.all())
    return HouseSpec(
        latitude=float(icp.latitude),
        longitude=float(icp.longitude),
        seed=int(icp.identifier[:10]),
        pv_kwp=float(sum(p.capacity_kwp for p in pv)),
        pv_tilt=float(pv[0].tilt_degrees) if pv else 20.0,
        pv_azimuth=float(pv[0].azimuth_degrees) if pv else 0.0,
        inverter_kw=float(sum(p.inverter_kw for p in pv)),
        battery_kwh=float(sum(b.capacity_kwh for b in batteries)),
        battery_kw=float(sum(b.power_kw for b in batteries)),
        battery_efficiency=float(batteries[0].round_trip_efficiency) if batteries else 0.9,
        battery_min_soc=float(batteries[0].min_state_of_charge) if batteries else 0.1,
        ev_kwh=float(sum(e.battery_kwh for e in evs)),
        ev_charger_kw=float(sum(e.charger_kw for e in evs)),
        ev_plug_in_hour=evs[0].usual_plug_in.hour + evs[0].usual_plug_in.minute / 60
        if evs
        else 18.5,
        ev_departure_hour=evs[0].usual_departure.hour + evs[0].usual_departure.minute / 60
        if evs
        else 7.5,
    )


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
                    Decimal(repr(float(imp))).quantize(KWH),
                    Decimal(repr(float(exp))).quantize(KWH),
                )
            )
    return rows

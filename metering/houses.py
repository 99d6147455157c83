"""A co-op ICP as the household model sees it: its PV, battery and EV as a `HouseSpec`, and the
PV it would have generated. Imports no Django.

Give it ICPs with their assets loaded (`metering.selectors.icps_with_assets`, or the poller's
prefetch); it reads `pv_systems`, `batteries` and `evs` as it finds them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from metering.household_model import HouseSpec, half_hours, pv_kwh
from metering.values import WH

_T_co = TypeVar("_T_co", covariant=True)


class _Related(Protocol[_T_co]):
    """A related manager: `icp.pv_systems` and the like."""

    def all(self) -> Iterable[_T_co]: ...


class _PV(Protocol):
    @property
    def capacity_kwp(self) -> Decimal: ...
    @property
    def tilt_degrees(self) -> Decimal: ...
    @property
    def azimuth_degrees(self) -> Decimal: ...
    @property
    def inverter_kw(self) -> Decimal: ...


class _Battery(Protocol):
    @property
    def capacity_kwh(self) -> Decimal: ...
    @property
    def power_kw(self) -> Decimal: ...
    @property
    def round_trip_efficiency(self) -> Decimal: ...
    @property
    def min_state_of_charge(self) -> Decimal: ...


class _EV(Protocol):
    @property
    def battery_kwh(self) -> Decimal: ...
    @property
    def charger_kw(self) -> Decimal: ...
    @property
    def usual_plug_in(self) -> dt.time: ...
    @property
    def usual_departure(self) -> dt.time: ...


class HouseICP(Protocol):
    """What this module reads of a coop.models.ICP (which it cannot import: no Django)."""

    @property
    def pk(self) -> Any: ...
    @property
    def identifier(self) -> str: ...
    @property
    def latitude(self) -> Decimal: ...
    @property
    def longitude(self) -> Decimal: ...
    @property
    def pv_systems(self) -> _Related[_PV]: ...
    @property
    def batteries(self) -> _Related[_Battery]: ...
    @property
    def evs(self) -> _Related[_EV]: ...


def spec_for(icp: HouseICP) -> HouseSpec:
    """The household model of an ICP: its coordinates, its own seed, and its assets summed."""
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


def estimated_generation(
    icps: Iterable[HouseICP], start_utc: dt.datetime, end_utc: dt.datetime
) -> dict[tuple[int, dt.datetime], Decimal]:
    """{(icp_id, interval_start): kWh} of PV per half hour from the household model, for ICPs
    whose meters see only the grid connection (ICPs without PV are left out)."""
    result: dict[tuple[int, dt.datetime], Decimal] = {}
    starts = half_hours(start_utc, end_utc)
    for icp in icps:
        spec = spec_for(icp)
        if spec.pv_kwp <= 0:
            continue
        for when, kwh in zip(starts, pv_kwh(spec, starts), strict=True):
            result[(icp.pk, when.to_pydatetime())] = Decimal(repr(float(kwh))).quantize(WH)
    return result

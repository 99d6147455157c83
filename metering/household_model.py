"""A New Zealand household, half hour by half hour: load, rooftop PV, battery and EV.

Pure (numpy and pvlib, no Django) and deterministic: the same house, seed and interval always
give the same energy, whatever window is asked for, because every random draw is a hash of
(seed, half-hour index) rather than a position in a stream. That is what lets the simulated
meter adapter answer a poll at any moment consistently, and the demo run for years.

- Load: the mean NZ household day from the GREEN Grid study (Anderson et al. 2018; about 40
  homes in Taranaki and Hawke's Bay, 2014-2018), winter and summer shapes blended by the day of
  the year, scaled to a typical 7,000 kWh a year, times a per-house size and per-half-hour noise.
- PV: pvlib clear-sky irradiance at the house's coordinates (Haurwitz GHI, Erbs split), on the
  plane of the panels, times a daily clearness drawn for the whole suburb (everyone has the same
  weather) and a passing-cloud factor, a performance ratio and the inverter limit.
- Battery: self-consumption: charges from surplus, covers load, keeps its minimum charge;
  or, in a half hour with a plan (the home energy manager's dispatch), charges or discharges
  what the plan says, as far as its state of charge and power allow (the grid takes the rest).
- EV: charges at the charger's power from plug-in until the day's driving is replaced, unless
  a plan says otherwise for the half hour.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pvlib

HALF_HOUR = dt.timedelta(minutes=30)
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

# Mean household power (W) by local half hour: GREEN Grid "Total" circuit, winter and summer.
WINTER_W = np.array(
    [
        726,
        678,
        671,
        664,
        645,
        626,
        633,
        637,
        684,
        801,
        881,
        968,
        1194,
        1613,
        1905,
        1853,
        1555,
        1311,
        1212,
        1197,
        1121,
        1097,
        1068,
        1058,
        1064,
        1014,
        991,
        967,
        947,
        922,
        927,
        1008,
        1214,
        1462,
        1904,
        2179,
        2265,
        2266,
        2178,
        2105,
        2012,
        1995,
        1834,
        1610,
        1377,
        1141,
        958,
        818,
    ],
    dtype=float,
)
SUMMER_W = np.array(
    [
        499,
        468,
        446,
        438,
        426,
        412,
        399,
        394,
        424,
        535,
        524,
        523,
        568,
        764,
        914,
        973,
        897,
        835,
        788,
        771,
        732,
        772,
        756,
        744,
        772,
        755,
        748,
        713,
        701,
        677,
        686,
        716,
        750,
        798,
        914,
        999,
        1044,
        1129,
        1058,
        1021,
        1008,
        987,
        986,
        927,
        830,
        733,
        631,
        547,
    ],
    dtype=float,
)
# The study's homes used about 8,400 kWh a year; a typical NZ house uses about 7,000.
TYPICAL_SCALE = 0.77
PERFORMANCE_RATIO = 0.80
EV_DAILY_KWH = 7.0  # ~12,000 km a year at 0.2 kWh/km


@dataclass(frozen=True)
class HouseSpec:
    latitude: float
    longitude: float
    seed: int
    pv_kwp: float = 0.0
    pv_tilt: float = 20.0
    pv_azimuth: float = 0.0  # degrees east of north: 0 faces north, the best in NZ
    inverter_kw: float = 0.0
    battery_kwh: float = 0.0
    battery_kw: float = 0.0
    battery_efficiency: float = 0.9
    battery_min_soc: float = 0.1
    ev_kwh: float = 0.0
    ev_charger_kw: float = 0.0
    ev_plug_in_hour: float = 18.5
    ev_departure_hour: float = 7.5
    weather_seed: int = 2026  # shared by the whole community


@dataclass(frozen=True)
class HalfHours:
    """Energy per half hour (kWh, floats; callers quantise at the edge)."""

    starts: pd.DatetimeIndex
    load: np.ndarray
    pv: np.ndarray
    battery_charge: np.ndarray
    battery_discharge: np.ndarray
    ev: np.ndarray
    grid_import: np.ndarray
    grid_export: np.ndarray
    # The battery's state of charge (kWh) at the start of each half hour, and after the last
    # one; zeros without a battery.
    soc: np.ndarray = field(default_factory=lambda: np.zeros(0))
    soc_end: float = 0.0


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a good 64-bit hash, vectorised; the source of every random draw."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(seed: int, index: np.ndarray, stream: int) -> np.ndarray:
    key = np.uint64((seed * 1_000_003 + stream * 7919) % (2**63))
    return (_mix(index.astype(np.uint64) ^ _mix(np.array([key]))[0]) >> np.uint64(11)) / float(
        2**53
    )


def _normal(seed: int, index: np.ndarray, stream: int) -> np.ndarray:
    u1 = np.clip(_uniform(seed, index, stream), 1e-12, 1)
    u2 = _uniform(seed, index, stream + 1)
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def half_hours(start: dt.datetime, end: dt.datetime) -> pd.DatetimeIndex:
    first = EPOCH + ((start - EPOCH) // HALF_HOUR) * HALF_HOUR
    return pd.date_range(first, end, freq="30min", inclusive="left", tz="UTC")


def house_size(seed: int) -> float:
    """A house's size relative to the typical one (lognormal, median 1)."""
    return float(np.exp(0.18 * _normal(seed, np.array([0]), 90)[0]))


def mean_load_kwh(starts: pd.DatetimeIndex) -> np.ndarray:
    """The typical NZ household's mean load per half hour (kWh): the GREEN Grid day, winter
    and summer blended by the day of the year, with no house size or noise."""
    local = starts.tz_convert("Pacific/Auckland")
    slot = (local.hour * 2 + local.minute // 30).to_numpy()
    winter = (1 + np.cos(2 * np.pi * (local.day_of_year.to_numpy() - 196) / 365.25)) / 2
    watts = winter * WINTER_W[slot] + (1 - winter) * SUMMER_W[slot]
    return watts * TYPICAL_SCALE / 1000 * 0.5


def load_kwh(spec: HouseSpec, starts: pd.DatetimeIndex) -> np.ndarray:
    index = ((starts - pd.Timestamp(EPOCH)) // pd.Timedelta(minutes=30)).to_numpy()
    noise = np.exp(0.35 * _normal(spec.seed, index, 1) - 0.35**2 / 2)
    return mean_load_kwh(starts) * house_size(spec.seed) * noise


_NS_PER_HALF_HOUR = 30 * 60 * 10**9
_HALF_HOURS_A_DAY = 48


def _poa_w_m2(
    latitude: float, longitude: float, tilt: float, azimuth: float, starts: pd.DatetimeIndex
) -> np.ndarray:
    """Clear-sky irradiance on the panels' plane (W/m2) at the middle of each half hour.
    Worked out a UTC day at a time and kept (_poa_day): the meters' polls, the energy
    manager's forecasts and the network forecast ask for the same days of the same home again
    and again, each a window one half hour on from the last (pvlib's solar position was a
    third of a simulated week's time)."""
    ns = starts.asi8
    if len(ns) == 0 or (ns % _NS_PER_HALF_HOUR).any():  # not on the half hours: as asked
        return _poa(latitude, longitude, tilt, azimuth, starts)
    half_hour = ns // _NS_PER_HALF_HOUR
    day, slot = np.divmod(half_hour, _HALF_HOURS_A_DAY)
    poa = np.empty(len(ns))
    for d in np.unique(day):
        here = day == d
        poa[here] = _poa_day(latitude, longitude, tilt, azimuth, int(d))[slot[here]]
    return poa


@functools.lru_cache(maxsize=8192)  # 48 floats each: homes x days, a few MB at most
def _poa_day(
    latitude: float, longitude: float, tilt: float, azimuth: float, day: int
) -> np.ndarray:
    """_poa for the 48 half hours of UTC day `day` (days since 1970-01-01). Read-only: shared."""
    first = pd.Timestamp(day * _HALF_HOURS_A_DAY * _NS_PER_HALF_HOUR, tz="UTC")
    starts = pd.date_range(first, periods=_HALF_HOURS_A_DAY, freq="30min")
    poa = _poa(latitude, longitude, tilt, azimuth, starts)
    poa.setflags(write=False)
    return poa


def _poa(
    latitude: float, longitude: float, tilt: float, azimuth: float, starts: pd.DatetimeIndex
) -> np.ndarray:
    mid = starts + pd.Timedelta(minutes=15)
    site = pvlib.location.Location(latitude, longitude, tz="UTC")
    sun = site.get_solarposition(mid)
    ghi = pvlib.clearsky.haurwitz(sun["apparent_zenith"])["ghi"]
    split = pvlib.irradiance.erbs(ghi, sun["zenith"], mid)
    return (
        pvlib.irradiance.get_total_irradiance(
            tilt,
            azimuth,
            sun["apparent_zenith"],
            sun["azimuth"],
            split["dni"],
            ghi,
            split["dhi"],
        )["poa_global"]
        .fillna(0)
        .to_numpy(dtype=float, copy=True)
    )


def pv_kwh(spec: HouseSpec, starts: pd.DatetimeIndex) -> np.ndarray:
    if spec.pv_kwp <= 0:
        return np.zeros(len(starts))
    mid = starts + pd.Timedelta(minutes=15)
    poa = _poa_w_m2(spec.latitude, spec.longitude, spec.pv_tilt, spec.pv_azimuth, starts)
    # Weather: one clearness per local day for the whole suburb, and passing cloud per half hour.
    local_day = mid.tz_convert("Pacific/Auckland").normalize()
    day_index = ((local_day.tz_localize(None) - pd.Timestamp("2020-01-01")).days).to_numpy()
    clear_day = _uniform(spec.weather_seed, day_index, 10)
    daily = 0.25 + 0.80 * np.sqrt(clear_day)  # mostly sunny, some overcast days
    half_hour_index = ((starts - pd.Timestamp(EPOCH)) // pd.Timedelta(minutes=30)).to_numpy()
    passing = 1 - 0.35 * _uniform(spec.weather_seed, half_hour_index, 20) * (1 - clear_day)
    kw = np.clip(
        poa / 1000 * spec.pv_kwp * PERFORMANCE_RATIO * np.minimum(daily, 1) * passing,
        0,
        spec.inverter_kw or spec.pv_kwp,
    )
    return kw * 0.5


def ev_kwh(spec: HouseSpec, starts: pd.DatetimeIndex) -> np.ndarray:
    if spec.ev_kwh <= 0 or spec.ev_charger_kw <= 0:
        return np.zeros(len(starts))
    local = starts.tz_convert("Pacific/Auckland")
    hour = (local.hour + local.minute / 60).to_numpy()
    # Hours since plug-in, counted across midnight for an evening plug-in.
    since = (hour - spec.ev_plug_in_hour) % 24
    window = (spec.ev_departure_hour - spec.ev_plug_in_hour) % 24
    charging_hours = EV_DAILY_KWH / spec.ev_charger_kw
    full = since + 0.5 <= charging_hours
    partial = (since < charging_hours) & ~full
    energy = np.where(full, spec.ev_charger_kw * 0.5, 0.0)
    energy = np.where(partial, (charging_hours - since) * spec.ev_charger_kw, energy)
    return np.where(since < window, energy, 0.0)


def _plan(plan: np.ndarray | None, n: int, what: str) -> np.ndarray:
    if plan is None:
        return np.full(n, np.nan)
    values = np.asarray(plan, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"{what} has {values.shape} values for {n} half hours")
    return values


def simulate(
    spec: HouseSpec,
    start: dt.datetime,
    end: dt.datetime,
    *,
    battery_plan: np.ndarray | None = None,
    ev_plan: np.ndarray | None = None,
    soc_start_kwh: float | None = None,
    soc_decimals: int | None = None,
) -> HalfHours:
    """Every half hour from `start` to `end` (UTC).

    The battery starts at `soc_start_kwh` (kWh at `start`), else at half charge, so without
    one ask for whole days from local midnight when its state matters. Where `battery_plan[i]`
    is a number (kWh at the battery's AC terminals, + charge, - discharge) the battery does
    that, clipped to what its power, state of charge and minimum charge allow; NaN (or no
    plan) is self-consumption. Where `ev_plan[i]` is a number it replaces the EV's habit for
    that half hour (clipped to the charger). `soc_decimals` rounds the state of charge at each
    half-hour boundary, so that a run restarted from a stored (rounded) state carries on
    exactly as the run that stored it."""
    starts = half_hours(start, end)
    n = len(starts)
    battery_target = _plan(battery_plan, n, "battery_plan")
    ev_target = _plan(ev_plan, n, "ev_plan")
    ev = ev_kwh(spec, starts)
    if ev_plan is not None:
        has_ev = spec.ev_kwh > 0 and spec.ev_charger_kw > 0
        most = spec.ev_charger_kw * 0.5 if has_ev else 0.0
        ev = np.where(np.isnan(ev_target), ev, np.clip(np.nan_to_num(ev_target), 0, most))
    load = load_kwh(spec, starts) + ev
    pv = pv_kwh(spec, starts)
    net = load - pv
    charge = np.zeros(n)
    discharge = np.zeros(n)
    soc_at = np.zeros(n)
    soc_end = 0.0
    if spec.battery_kwh > 0 and spec.battery_kw > 0:
        floor = spec.battery_kwh * spec.battery_min_soc
        soc = spec.battery_kwh * 0.5
        if soc_start_kwh is not None:
            soc = min(max(float(soc_start_kwh), 0.0), spec.battery_kwh)
        step = spec.battery_kw * 0.5
        one_way = spec.battery_efficiency**0.5

        def settle(value: float) -> float:
            if soc_decimals is None:
                return value
            return min(max(round(value, soc_decimals), 0.0), spec.battery_kwh)

        for i, need in enumerate(net):  # sequential: the state of charge carries over
            soc = settle(soc)
            soc_at[i] = soc
            target = battery_target[i]
            if not np.isnan(target):
                # The plan, at the AC terminals; the power limit applies there.
                if target > 0:
                    taken = max(min(target, step, (spec.battery_kwh - soc) / one_way), 0.0)
                    charge[i] = taken
                    soc += taken * one_way
                elif target < 0:
                    given = max(min(-target, step, (soc - floor) * one_way), 0.0)
                    discharge[i] = given
                    soc -= given / one_way
            elif need < 0:
                stored = min(-need * one_way, step * one_way, spec.battery_kwh - soc)
                charge[i] = stored / one_way
                soc += stored
            elif need > 0:
                drawn = min(need / one_way, step, soc - floor)
                discharge[i] = max(drawn, 0) * one_way
                soc -= max(drawn, 0)
        soc_end = settle(soc)
    grid = net + charge - discharge
    return HalfHours(
        starts=starts,
        load=load,
        pv=pv,
        battery_charge=charge,
        battery_discharge=discharge,
        ev=ev,
        grid_import=np.clip(grid, 0, None),
        grid_export=np.clip(-grid, 0, None),
        soc=soc_at,
        soc_end=soc_end,
    )

"""Random plausible NZ homes for the home energy manager's bench and tests, deterministic for a
seed: about 60% with 3-8 kWp of PV, about 40% with a 10-13.5 kWh / 5 kW battery (most of them
beside PV), about 20% with a 7.4 kW EV charger and an evening-to-morning session needing
5-15 kWh; household load of about 0.4-2.5 kW with a morning and a larger evening peak; a
time-of-use buy price of 20/30/40 c plus a time-value spike early in the evening, and a sell
price of 8-17 c (always below the buy price)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trading.hems.lp import EVSession, Home

PERIODS_PER_DAY = 48
PV_SHARE = 0.6
BATTERY_WITH_PV, BATTERY_WITHOUT_PV = 0.55, 0.175  # 0.6*0.55 + 0.4*0.175 = 0.40
EV_SHARE = 0.2
EV_KW = 7.4

Array = npt.NDArray[np.float64]


def _hours(periods: int, start_hour: float) -> Array:
    """The local hour of day at the middle of each half hour."""
    return (start_hour + 0.5 * np.arange(periods, dtype=np.float64) + 0.25) % 24


def _bump(hours: Array, centre: float, width: float) -> Array:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def tariff(periods: int, start_hour: float = 0.0) -> tuple[Array, Array]:
    """The time-of-use buy and sell prices (c/kWh): night 23-07 20 c / 8 c, shoulder 30 c /
    12 c, peaks 07-09 and 17-21 40 c / 17 c."""
    h = _hours(periods, start_hour)
    peak = ((h >= 7) & (h < 9)) | ((h >= 17) & (h < 21))
    night = (h >= 23) | (h < 7)
    buy = np.where(peak, 40.0, np.where(night, 20.0, 30.0))
    sell = np.where(peak, 17.0, np.where(night, 8.0, 12.0))
    return buy, sell


def homes(n: int, periods: int = 96, seed: int = 1, *, start_hour: float = 0.0) -> list[Home]:
    """`n` homes over `periods` half hours from `start_hour` (local), keys H0001... An EV
    session running past either end of the horizon keeps the share of its need that falls
    inside (by plugged-in time)."""
    if n < 0 or periods < 0:
        raise ValueError(f"n and periods must be >= 0, not {n} and {periods}")
    rng = np.random.default_rng(seed)
    h = _hours(periods, start_hour)
    day = np.floor((start_hour + 0.5 * np.arange(periods)) / 24)
    days = int(day[-1]) + 1 if periods else 0
    buy0, sell = tariff(periods, start_hour)

    # Load, kW: a base, a morning and a larger evening peak, noise; about 0.4-2.5 kW.
    base = rng.uniform(0.35, 0.6, (n, 1))
    morning = rng.uniform(0.3, 0.9, (n, 1)) * _bump(h, 7.5, 1.0)
    evening = rng.uniform(0.8, 1.8, (n, 1)) * _bump(h, 18.5, 1.6)
    noise = rng.lognormal(0.0, 0.15, (n, periods))
    load_kw = np.clip((base + morning + evening) * noise, 0.3, 2.6)

    # PV, kW: a clear-sky arch from 06:30 to 18:30, a cloudiness for each day, some noise.
    has_pv = rng.random(n) < PV_SHARE
    kwp = np.where(has_pv, rng.uniform(3.0, 8.0, n), 0.0)
    arch = np.clip(np.sin(np.pi * (h - 6.5) / 12.0), 0.0, None) ** 1.3 * 0.8
    clear = rng.uniform(0.3, 1.0, (n, max(days, 1)))[:, day.astype(int)] if periods else 0.0
    flicker = np.clip(rng.normal(1.0, 0.1, (n, periods)), 0.6, 1.2)
    pv_kw = kwp[:, None] * arch * clear * flicker

    # The evening spike: a network time-value price on top of the tariff, its size by feeder.
    spike_at = rng.uniform(17.5, 19.0, max(days, 1))[day.astype(int)] if periods else 0.0
    spike = rng.uniform(10.0, 40.0, max(days, 1))[day.astype(int)] if periods else 0.0
    feeder = rng.uniform(0.5, 1.5, n)
    in_spike = (h >= spike_at) & (h < spike_at + 1.0)

    has_battery = rng.random(n) < np.where(has_pv, BATTERY_WITH_PV, BATTERY_WITHOUT_PV)
    capacity = rng.choice([10.0, 13.5], n)
    reserve = capacity * rng.uniform(0.1, 0.2, n)
    soc = reserve + (capacity - reserve) * rng.uniform(0.0, 0.7, n)
    has_ev = rng.random(n) < EV_SHARE

    out = []
    for i in range(n):
        sessions: tuple[EVSession, ...] = ()
        if has_ev[i]:
            sessions = _sessions(rng, periods, start_hour, days)
        out.append(
            Home(
                key=f"H{i + 1:04d}",
                load_kwh=load_kw[i] * 0.5,
                pv_kwh=pv_kw[i] * 0.5,
                buy_c=buy0 + in_spike * spike * feeder[i],
                sell_c=sell,
                battery_kwh=float(capacity[i]) if has_battery[i] else 0.0,
                battery_kw=5.0 if has_battery[i] else 0.0,
                round_trip=0.9,
                reserve_kwh=float(reserve[i]) if has_battery[i] else 0.0,
                soc_kwh=float(soc[i]) if has_battery[i] else 0.0,
                ev_kw=EV_KW if has_ev[i] else 0.0,
                ev_sessions=sessions,
            )
        )
    return out


def _sessions(
    rng: np.random.Generator, periods: int, start_hour: float, days: int
) -> tuple[EVSession, ...]:
    """One session a night, plugged in at 17:30-20:00 and out at 06:30-08:00 next morning,
    for the nights from the one before the horizon to its last."""
    found = []
    for night in range(-1, days):
        plug = (night * 24 + rng.uniform(17.5, 20.0) - start_hour) * 2
        unplug = ((night + 1) * 24 + rng.uniform(6.5, 8.0) - start_hour) * 2
        need = rng.uniform(5.0, 15.0)
        a, b = round(plug), round(unplug)
        lo, hi = max(a, 0), min(b, periods)
        if hi - lo < 1 or b <= a:
            continue
        found.append(EVSession(start=lo, end=hi, need_kwh=round(need * (hi - lo) / (b - a), 3)))
    return tuple(found)

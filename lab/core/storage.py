"""The battery and EV strategies of a backtest, over every home and trading period of a study
span: no battery use, the rule-based self-consumption battery, and the home energy manager
(trading.hems.lp's LP, run day by day with a receding horizon); and the EV's charging, "dumb"
(full power from plug-in) or left to the energy manager.

Every strategy turns the homes' household load and PV (kWh per half hour, (homes, periods),
the EV excluded and the inverter limit already applied to the PV) into `Flows`: what each home
charges, discharges, imports, exports and curtails in each period, and its battery's state of
charge. The cheap strategies are numpy over all homes at once, so a year of 1,000 homes takes
seconds; the energy manager solves one LP per batch of homes and day.

Batteries charge and discharge at one-way efficiency sqrt(round trip), keep `battery_reserve`
of their capacity back, and move at most battery_kw for half an hour per period, as
trading.hems.lp models them, so the strategies differ only in their decisions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from itertools import repeat

import numpy as np
import numpy.typing as npt

from lab.core.calendar import Calendar
from lab.core.community import HomeSpec
from trading.hems import lp
from trading.hems.lp import EVSession

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

HOURS = lp.HOURS_PER_PERIOD
SLOTS_PER_DAY = 48
EXPORT_KW = 10.0  # the distributor's usual export limit for a home's inverter
BALANCE_TOLERANCE_KWH = 1e-9
# Homes per HiGHS call in the energy manager, measured over 20 days of 100 homes (67 planned):
# 5.2 s one per call, 4.2 s two, 3.6-3.8 s three to eight, 4.9 s 16, 7.2 s all 67. Small
# batches also leave a day several to share between worker processes.
HEM_BATCH = 6


@dataclass(frozen=True, eq=False)
class Flows:
    """Each home's energy flows, kWh per half hour, (homes, periods); `soc` is the battery's
    state of charge (kWh) at the end of each period, 0 for homes without a battery."""

    load: Array
    pv: Array
    ev: Array
    charge: Array
    discharge: Array
    grid_import: Array
    grid_export: Array
    curtailed: Array
    soc: Array

    def __post_init__(self) -> None:
        shape = self.load.shape
        for f in fields(self):
            values = getattr(self, f.name)
            if values.ndim != 2 or values.shape != shape:
                raise ValueError(
                    f"Flows.{f.name} has shape {values.shape}; every flow must be "
                    f"(homes, periods) like load, {shape}"
                )

    @property
    def net(self) -> Array:
        """Import less export: what each home takes from the grid, kWh per period."""
        return self.grid_import - self.grid_export

    def check_balance(self) -> None:
        """Raise ValueError if, in some home and period, what is used (load, EV, charge,
        export, curtailed PV) differs from what is supplied (PV, discharge, import)."""
        used = self.load + self.ev + self.charge + self.grid_export + self.curtailed
        supplied = self.pv + self.discharge + self.grid_import
        residual = np.abs(used - supplied)
        worst = int(np.argmax(residual)) if residual.size else 0
        if residual.size and not residual.flat[worst] <= BALANCE_TOLERANCE_KWH:
            home, period = np.unravel_index(worst, residual.shape)
            raise ValueError(
                f"the energy balance fails by {residual.flat[worst]:.3g} kWh at home index "
                f"{home}, period {period}: load + ev + charge + grid_export + curtailed must "
                "equal pv + discharge + grid_import"
            )


def ev_sessions(cal: Calendar, homes: Sequence[HomeSpec]) -> list[list[EVSession]]:
    """Each EV home's charging sessions over the span, as periods [start, end) of `cal` and the
    kWh needed by the end; no sessions for homes without an EV.

    The EV is plugged in from the first whole half hour at or after ev_plug_in_hour and must
    have its ev_kwh_per_day by the start of the half hour holding ev_depart_hour; when it
    departs no later in the day than it arrives, that is the next morning. The night cut by
    either end of the span keeps the share of the need that its periods inside make up, so
    the span's sessions need ev_kwh_per_day for each of its days. On daylight-saving days a
    time is the first period of the day whose wall-clock slot is at or after it."""
    return [_sessions_of(cal, home) if home.has_ev else [] for home in homes]


def _sessions_of(cal: Calendar, home: HomeSpec) -> list[EVSession]:
    for name in ("ev_plug_in_hour", "ev_depart_hour"):
        hour = getattr(home, name)
        if not 0 <= hour < 24:
            raise ValueError(f"home {home.key}: {name} must be in [0, 24), not {hour}")
    if not home.ev_charger_kw > 0:
        raise ValueError(
            f"home {home.key}: an EV needs ev_charger_kw > 0, not {home.ev_charger_kw}"
        )
    plug_slot = math.ceil(home.ev_plug_in_hour * 2)
    depart_slot = math.floor(home.ev_depart_hour * 2)
    plug, depart = _first_at(cal, plug_slot), _first_at(cal, depart_slot)
    need = float(home.ev_kwh_per_day)
    if depart_slot > plug_slot:  # plugged in by day: each session within its day
        return [EVSession(int(a), int(b), need) for a, b in zip(plug, depart, strict=True) if b > a]
    nominal = depart_slot + SLOTS_PER_DAY - plug_slot  # the night's length in periods
    nights = [(0, int(depart[0]), need * min(int(depart[0]) / nominal, 1.0))]
    nights += [(int(a), int(b), need) for a, b in zip(plug[:-1], depart[1:], strict=True)]
    last = cal.periods - int(plug[-1])
    nights.append((int(plug[-1]), cal.periods, need * min(last / nominal, 1.0)))
    return [EVSession(a, b, n) for a, b, n in nights if b > a and n > 0]


def _first_at(cal: Calendar, slot: int) -> npt.NDArray[np.int64]:
    """Each day's first period whose wall-clock slot is `slot` or later (the next day's start
    when none is), (days,)."""
    starts = cal.day_starts()
    later = np.where(cal.slot >= slot, np.arange(cal.periods), cal.periods)
    return np.minimum(np.minimum.reduceat(later, starts[:-1]), starts[1:]).astype(np.int64)


def ev_on_arrival(
    cal: Calendar, homes: Sequence[HomeSpec], sessions: Sequence[Sequence[EVSession]]
) -> Array:
    """Dumb charging, kWh per period (homes, periods): each EV draws its charger's full power
    from the start of each session until the session's need is met."""
    if len(sessions) != len(homes):
        raise ValueError(f"{len(sessions)} session lists for {len(homes)} homes: give one each")
    ev = np.zeros((len(homes), cal.periods))
    for h, (home, own) in enumerate(zip(homes, sessions, strict=True)):
        if not own:
            continue
        start, end, need = _session_arrays(home, own, cal.periods)
        lengths = end - start
        first = np.repeat(start, lengths)
        period = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        step = home.ev_charger_kw * HOURS
        ev[h, first + period] = np.clip(np.repeat(need, lengths) - step * period, 0.0, step)
    return ev


def _session_arrays(
    home: HomeSpec, own: Sequence[EVSession], periods: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Array]:
    """Starts, ends (cut to the span) and needs of one home's sessions, checked to be in order
    and not overlapping."""
    start = np.clip([s.start for s in own], 0, periods).astype(np.int64)
    end = np.clip([s.end for s in own], 0, periods).astype(np.int64)
    end = np.maximum(end, start)
    if (start[1:] < end[:-1]).any():
        raise ValueError(
            f"home {home.key}: its EV sessions overlap or are out of order; give them sorted "
            "by start, each ending before the next starts"
        )
    return start, end, np.array([s.need_kwh for s in own], dtype=np.float64)


def no_battery(
    homes: Sequence[HomeSpec],
    load: Array,
    pv: Array,
    ev: Array,
    *,
    export_kw: float = EXPORT_KW,
) -> Flows:
    """No battery use: the grid covers load + EV beyond the PV, the PV surplus is exported up
    to `export_kw` and curtailed beyond."""
    load, pv, ev = _profiles(homes, load=load, pv=pv, ev=ev)
    charge, discharge, soc = np.zeros(load.shape), np.zeros(load.shape), np.zeros(load.shape)
    return _flows(load, pv, ev, charge, discharge, None, soc, export_kw)


def self_consumption(
    homes: Sequence[HomeSpec],
    load: Array,
    pv: Array,
    ev: Array,
    *,
    soc0_fraction: float = 0.5,
    export_kw: float = EXPORT_KW,
) -> Flows:
    """The rule-based battery: it charges from the PV surplus and discharges to cover the
    home's deficit (load + EV beyond the PV, never to the grid), within its power, its
    capacity and its reserve; the grid takes and gives the rest. Each battery starts at
    `soc0_fraction` of its capacity."""
    load, pv, ev = _profiles(homes, load=load, pv=pv, ev=ev)
    if not 0 <= soc0_fraction <= 1:
        raise ValueError(f"soc0_fraction must be in [0, 1], not {soc0_fraction}")
    # np.zeros leaves untouched pages to the kernel: homes without a battery cost no memory.
    charge, discharge, soc = np.zeros(load.shape), np.zeros(load.shape), np.zeros(load.shape)
    rows = _battery_rows(homes)
    if rows.size:
        batteries = _Batteries([homes[i] for i in rows], soc0_fraction)
        # A block of periods at a time, transposed so each period's batteries are contiguous,
        # keeps the working set in cache and off the year-long arrays.
        for first in range(0, load.shape[1], _BLOCK_PERIODS):
            block = slice(first, first + _BLOCK_PERIODS)
            surplus = pv[rows, block] - load[rows, block] - ev[rows, block]
            c, d, s = batteries.run(np.ascontiguousarray(surplus.T))
            charge[rows, block], discharge[rows, block], soc[rows, block] = c.T, d.T, s.T
    return _flows(load, pv, ev, charge, discharge, None, soc, export_kw)


_BLOCK_PERIODS = 2048


class _Batteries:
    """Self-consumption batteries, run a period at a time over all of them at once."""

    def __init__(self, homes: Sequence[HomeSpec], soc0_fraction: float) -> None:
        self.capacity = np.array([h.battery_kwh for h in homes])
        self.step = np.array([h.battery_kw for h in homes]) * HOURS
        self.reserve = np.array([h.battery_reserve for h in homes]) * self.capacity
        self.eta = np.sqrt(np.array([h.battery_round_trip for h in homes]))
        self.inv_eta = 1.0 / self.eta
        self.soc = soc0_fraction * self.capacity

    def run(self, surplus: Array) -> tuple[Array, Array, Array]:
        """Charge, discharge and end-of-period soc, (periods, batteries), for the PV surplus
        (negative: a deficit) of each battery's home; the soc carries on to the next call."""
        charge, discharge = np.empty_like(surplus), np.empty_like(surplus)
        soc = np.empty_like(surplus)
        deficit = -surplus
        s, eta, inv_eta, step = self.soc, self.eta, self.inv_eta, self.step
        room, stored = np.empty_like(s), np.empty_like(s)
        for t in range(len(surplus)):
            # At most one of the two is positive: a surplus charges, a deficit discharges.
            c, d = charge[t], discharge[t]
            np.multiply(np.subtract(self.capacity, s, out=room), inv_eta, out=room)
            np.minimum(np.minimum(surplus[t], step, out=c), room, out=c)
            np.maximum(c, 0.0, out=c)
            np.multiply(np.subtract(s, self.reserve, out=stored), eta, out=stored)
            np.minimum(np.minimum(deficit[t], step, out=d), stored, out=d)
            np.maximum(d, 0.0, out=d)
            s = soc[t] = s + c * eta - d * inv_eta
        self.soc = s.copy()
        return charge, discharge, soc


def _battery_rows(homes: Sequence[HomeSpec]) -> npt.NDArray[np.intp]:
    for home in homes:
        if home.battery_kwh > 0:
            if not 0 < home.battery_round_trip <= 1:
                raise ValueError(
                    f"home {home.key}: battery_round_trip must be in (0, 1], not "
                    f"{home.battery_round_trip}"
                )
            if not 0 <= home.battery_reserve < 1 or home.battery_kw < 0:
                raise ValueError(
                    f"home {home.key}: battery_reserve must be in [0, 1) and battery_kw >= 0, "
                    f"not {home.battery_reserve} and {home.battery_kw}"
                )
    return np.array([i for i, h in enumerate(homes) if h.battery_kwh > 0], dtype=np.intp)


def energy_manager(
    cal: Calendar,
    homes: Sequence[HomeSpec],
    load: Array,
    pv: Array,
    sessions: Sequence[Sequence[EVSession]],
    buy_c: Array,
    sell_c: Array,
    *,
    horizon_days: int = 2,
    wear_c: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    soc0_fraction: float = 0.5,
    export_kw: float = EXPORT_KW,
) -> Flows:
    """The home energy manager, backtested with perfect foresight of load and PV: each day it
    plans that day and the next `horizon_days - 1` with trading.hems.lp (`wear_c` c/kWh of
    battery throughput, the stored energy at the horizon's end valued at the mean sell price),
    applies the first day's battery and EV schedule, and carries the state of charge and the
    EV energy delivered so far into the next day's plan. Homes with neither a battery nor an
    EV session are as in `no_battery`.

    `buy_c` and `sell_c` are c/kWh excl. GST, (periods,) or (homes, periods). A night the
    horizon cuts needs in it only what its periods beyond could not deliver at full power.
    `workers` > 1 shares each day's batches of homes between that many processes (the plans
    are the same either way). `progress(done_days, total_days)` is called after each day. A
    home-day whose LP fails is run as self-consumption (logged as a warning)."""
    load, pv = _profiles(homes, load=load, pv=pv)
    buy, sell = _profiles(
        homes, buy_c=_per_home(buy_c, load.shape), sell_c=_per_home(sell_c, load.shape)
    )
    if len(sessions) != len(homes):
        raise ValueError(f"{len(sessions)} session lists for {len(homes)} homes: give one each")
    if horizon_days < 1 or workers < 1:
        raise ValueError(f"horizon_days and workers must be >= 1, not {horizon_days} and {workers}")
    if not 0 <= soc0_fraction <= 1:
        raise ValueError(f"soc0_fraction must be in [0, 1], not {soc0_fraction}")
    managed = _Managed(homes, load, pv, sessions, buy, sell, wear_c, export_kw)
    managed.soc_now[:] = soc0_fraction * managed.capacity
    starts = cal.day_starts()
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 and managed.rows else None
    try:
        for day in range(cal.days):
            first, end = int(starts[day]), int(starts[min(day + horizon_days, cal.days)])
            applied = int(starts[day + 1]) - first
            batches = list(_batches(managed.plan_inputs(first, end)))
            if pool is not None:
                schedules = list(pool.map(_plan_batch, batches, repeat(applied)))
            else:
                schedules = [_plan_batch(batch, applied) for batch in batches]
            for batch, planned in zip(batches, schedules, strict=True):
                managed.apply(batch, planned, first, day)
            if progress is not None:
                progress(day + 1, cal.days)
    finally:
        if pool is not None:
            pool.shutdown()
    m = managed
    return _flows(load, pv, m.ev, m.charge, m.discharge, m.curtail, m.soc, export_kw)


_Schedule = tuple[str, str, Array, Array, Array, Array, Array]  # status, reason, c, d, e, cu, soc


def _plan_batch(homes: list[tuple[int, lp.Home]], periods: int) -> list[_Schedule]:
    """One HiGHS solve for a batch of homes: each plan's first `periods` (what is applied)."""
    plans = lp.plan_many([home for _, home in homes], batched=True)
    return [
        (
            p.status,
            p.reason,
            p.charge[:periods],
            p.discharge[:periods],
            p.ev[:periods],
            p.curtail[:periods],
            p.soc[1 : periods + 1],
        )
        for p in plans
    ]


def _batches(
    inputs: list[tuple[int, lp.Home]],
) -> Iterator[list[tuple[int, lp.Home]]]:
    for i in range(0, len(inputs), HEM_BATCH):
        yield inputs[i : i + HEM_BATCH]


class _Managed:
    """The energy manager's state over the span: the homes it plans for (rows), what it has
    applied so far and each battery's state of charge now."""

    def __init__(
        self,
        homes: Sequence[HomeSpec],
        load: Array,
        pv: Array,
        sessions: Sequence[Sequence[EVSession]],
        buy: Array,
        sell: Array,
        wear_c: float,
        export_kw: float,
    ) -> None:
        periods = load.shape[1]
        batteries = set(_battery_rows(homes).tolist())
        self.homes, self.load, self.pv, self.buy, self.sell = homes, load, pv, buy, sell
        self.wear_c, self.export_kw = wear_c, export_kw
        self.sessions = [
            _session_arrays(home, own, periods) if own else None
            for home, own in zip(homes, sessions, strict=True)
        ]
        self.rows = [h for h in range(len(homes)) if h in batteries or self.sessions[h]]
        self.capacity = np.array([h.battery_kwh for h in homes], dtype=np.float64)
        self.soc_now = np.zeros(len(homes))
        self.ev, self.charge = np.zeros_like(load), np.zeros_like(load)
        self.discharge, self.curtail = np.zeros_like(load), np.zeros_like(load)
        self.soc = np.zeros_like(load)

    def plan_inputs(self, first: int, end: int) -> list[tuple[int, lp.Home]]:
        """Each planned home's LP over the periods [first, end)."""
        return [(h, self._home(h, first, end)) for h in self.rows]

    def _home(self, h: int, first: int, end: int) -> lp.Home:
        spec, window = self.homes[h], slice(first, end)
        return lp.Home(
            key=spec.key,
            load_kwh=self.load[h, window],
            pv_kwh=self.pv[h, window],
            buy_c=self.buy[h, window],
            sell_c=self.sell[h, window],
            battery_kwh=spec.battery_kwh,
            battery_kw=spec.battery_kw,
            round_trip=spec.battery_round_trip,
            reserve_kwh=spec.battery_reserve * spec.battery_kwh,
            soc_kwh=float(self.soc_now[h]),
            ev_kw=spec.ev_charger_kw,
            ev_sessions=self._sessions_in(h, first, end),
            export_kw=self.export_kw,
            wear_c=self.wear_c,
        )

    def _sessions_in(self, h: int, first: int, end: int) -> tuple[EVSession, ...]:
        """The home's sessions overlapping [first, end), relative to `first`: each needs what
        is left after what was delivered before `first`, less what the periods beyond `end`
        could still deliver at full power."""
        arrays = self.sessions[h]
        if arrays is None:
            return ()
        start, stop, need = arrays
        step = self.homes[h].ev_charger_kw * HOURS
        inside = range(int(np.searchsorted(stop, first, "right")), int(np.searchsorted(start, end)))
        out = []
        for k in inside:
            a, b = int(start[k]), int(stop[k])
            left = need[k] - (self.ev[h, a:first].sum() if a < first else 0.0)
            needed = max(left - step * max(b - end, 0), 0.0)
            out.append(EVSession(max(a, first) - first, min(b, end) - first, needed))
        return tuple(out)

    def apply(
        self,
        batch: list[tuple[int, lp.Home]],
        schedules: list[_Schedule],
        first: int,
        day: int,
    ) -> None:
        """Keep each home's schedule for the day from `first` and carry its state of charge."""
        for (h, home), (status, reason, c, d, e, cu, soc) in zip(batch, schedules, strict=True):
            if status != "optimal":
                logger.warning("%s, day %d: self-consumption instead (%s)", home.key, day, reason)
            period = slice(first, first + len(c))
            self.charge[h, period], self.discharge[h, period] = c, d
            self.ev[h, period], self.curtail[h, period] = e, cu
            if home.has_battery:
                self.soc[h, period] = soc
                self.soc_now[h] = soc[-1]


def _profiles(homes: Sequence[HomeSpec], **arrays: Array) -> list[Array]:
    """The named arrays as float64, each checked to be (homes, periods) like the first and
    finite."""
    out: list[Array] = []
    for name, given in arrays.items():
        values = np.asarray(given, dtype=np.float64)
        periods = out[0].shape[1] if out else values.shape[-1] if values.ndim else 0
        if values.shape != (len(homes), periods):
            raise ValueError(
                f"{name} has shape {values.shape}; it must be (homes, periods) = "
                f"({len(homes)}, {periods})"
            )
        if not np.isfinite(values).all():
            raise ValueError(f"{name} has a NaN or infinite value; fill or drop those periods")
        out.append(values)
    return out


def _per_home(values: Array, shape: tuple[int, ...]) -> Array:
    """A price for every home and period: (periods,) is the same for every home."""
    values = np.asarray(values, dtype=np.float64)
    return np.broadcast_to(values, shape) if values.shape == shape[1:] else values


def _flows(
    load: Array,
    pv: Array,
    ev: Array,
    charge: Array,
    discharge: Array,
    curtail: Array | None,
    soc: Array,
    export_kw: float,
) -> Flows:
    """The flows once the batteries and EVs are decided: the grid takes or gives what is left,
    export above `export_kw` curtailed (on top of any PV `curtail` the plan chose to shed)."""
    # In place: a year of 1,000 homes is 140 MB an array.
    rest = np.subtract(pv, load)
    rest -= ev
    rest -= charge
    rest += discharge
    if curtail is not None:
        rest -= curtail
    surplus = np.maximum(rest, 0.0)
    grid_export = np.minimum(surplus, export_kw * HOURS)
    grid_import = np.maximum(np.negative(rest, out=rest), 0.0, out=rest)
    curtailed = np.subtract(surplus, grid_export, out=surplus)
    if curtail is not None:
        curtailed += curtail
    return Flows(
        load=load,
        pv=pv,
        ev=ev,
        charge=charge,
        discharge=discharge,
        grid_import=grid_import,
        grid_export=grid_export,
        curtailed=curtailed,
        soc=soc,
    )

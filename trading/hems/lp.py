"""The home energy manager's plan: one linear programme per home over the trading periods of
the horizon, solved with HiGHS (scipy.optimize.linprog), and the rule-based self-consumption
schedule it is measured against and falls back to.

Energies are kWh per half hour, prices c/kWh excluding GST. Per home and period t:

    balance   load + c + e + ge + curtail = pv + d + gi                      (equality)
    battery   s[t] = s[t-1] + eta*c[t] - d[t]/eta,  eta = sqrt(round_trip)  (equality)
              min(reserve, s0) <= s <= capacity,  c, d <= battery_kw/2
              d <= load + e  unless the battery may export
    EV        e <= ev_kw/2 while plugged in;  sum(e over session k) + u[k] >= need[k]
    grid      gi <= fuse_kw/2,  ge <= export_kw/2,  curtail <= pv
    minimise  sum(gi*buy - ge*sell) + wear*sum(c + d) + penalty*sum(u) - end_value*s[T]

`curtail` (PV the inverter sheds) is not in the brief's balance: without it a PV surplus above
the export limit and what the battery and EV can take makes the LP infeasible, which real
export-limited inverters resolve exactly so. It costs nothing, so with sell > 0 it is used
only when exporting, storing or charging the EV cannot take the PV. The EV targets are soft (u, at `penalty_c`):
a need that cannot be met is missed as little as possible, never an infeasible solve.

What is stored at the horizon end is valued at `end_value_c`, by default the mean sell price
over the horizon: a cautious value, about what it would fetch exported, so the plan neither
dumps the battery at the end nor fills it from the grid on the strength of a guess.

The dual of the battery balance row of period t is d(objective)/d(rhs) in scipy's convention
(see `linprog`'s `eqlin.marginals`): one more kWh appearing in the battery at the end of t
lowers the cost when storing is worth something, so the marginal is negative and
`hold_value_c` is its negation. It can be negative: a full battery that has to get rid of an
extra kWh pays wear (and losses) to do so. Ties (degenerate LPs) make the dual one of several.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import linprog  # type: ignore[import-untyped]

Array = npt.NDArray[np.float64]

HOURS_PER_PERIOD = 0.5
PENALTY_C = 1000.0  # c/kWh of unmet EV need
PER_HOME_RETRY_LIMIT_S = 5.0  # time limit of each home's own LP when a batch fails

_ARRAYS = ("load_kwh", "pv_kwh", "buy_c", "sell_c")


@dataclass(frozen=True)
class EVSession:
    """Plugged in over the periods [start, end) of the horizon, needing `need_kwh` by the end.
    Periods outside the horizon are dropped (the need stays: it is missed if it cannot fit)."""

    start: int
    end: int
    need_kwh: float


@dataclass(frozen=True, eq=False)
class Home:
    """One home's forecast, prices and equipment over a horizon of T half hours. The arrays
    are stored as 1-D float64 (lists are accepted) and must all have length T. Compared by
    identity: numpy arrays have no single truth value to compare by."""

    key: str
    load_kwh: Array  # household load, the EV excluded
    pv_kwh: Array
    buy_c: Array
    sell_c: Array
    battery_kwh: float = 0.0
    battery_kw: float = 0.0
    round_trip: float = 0.9
    reserve_kwh: float = 0.0
    soc_kwh: float = 0.0
    may_export_battery: bool = False
    ev_kw: float = 0.0
    ev_sessions: tuple[EVSession, ...] = ()
    fuse_kw: float = 15.0
    export_kw: float = 10.0
    wear_c: float = 2.0
    end_value_c: float | None = None
    penalty_c: float = PENALTY_C

    def __post_init__(self) -> None:
        lengths = set()
        for name in _ARRAYS:
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.ndim != 1:
                raise ValueError(f"{self.key}: {name} must be 1-D, not of shape {values.shape}")
            object.__setattr__(self, name, values)
            lengths.add(len(values))
        if len(lengths) > 1:
            raise ValueError(f"{self.key}: the forecasts and prices differ in length")
        if not 0 < self.round_trip <= 1:
            raise ValueError(f"{self.key}: round_trip must be in (0, 1], not {self.round_trip}")
        object.__setattr__(self, "ev_sessions", tuple(self.ev_sessions))

    @property
    def periods(self) -> int:
        return len(self.load_kwh)

    @property
    def has_battery(self) -> bool:
        return self.battery_kwh > 0

    @property
    def eta(self) -> float:
        """The one-way efficiency, charging and discharging alike."""
        return math.sqrt(self.round_trip)

    @property
    def end_value(self) -> float:
        """c/kWh of what is stored at the horizon end (default: the mean sell price)."""
        if self.end_value_c is not None:
            return float(self.end_value_c)
        return float(self.sell_c.mean()) if self.periods else 0.0

    def sessions_clipped(self) -> list[tuple[int, int, float]]:
        """(start, end, need) of each EV session, its periods cut to the horizon."""
        t = self.periods
        return [
            (min(max(s.start, 0), t), min(max(s.end, 0), t), float(s.need_kwh))
            for s in self.ev_sessions
        ]

    def plugged(self) -> Array:
        """1.0 in the periods the EV is plugged in (in some session), else 0.0."""
        mask = np.zeros(self.periods)
        for a, b, _ in self.sessions_clipped():
            mask[a:b] = 1.0
        return mask


@dataclass(frozen=True, eq=False)
class Plan:
    """A home's schedule over the horizon: kWh per half hour, soc with T+1 entries."""

    key: str
    status: str  # "optimal", "fallback" (see `reason`) or "self_consumption"
    reason: str
    charge: Array
    discharge: Array
    ev: Array
    grid_import: Array
    grid_export: Array
    soc: Array
    cost_c: float  # sum(gi*buy - ge*sell): no wear, no end value
    baseline_cost_c: float  # the same for self_consumption(home)
    ev_short_kwh: float
    hold_value_c: Array  # c/kWh of one more kWh stored at the end of period t
    offer_floor_c: Array  # hold_value/eta + wear: export from the battery only above this
    bid_cap_c: Array  # hold_value*eta - wear: charge from the grid only below this
    curtail: Array = field(default_factory=lambda: np.zeros(0))  # PV shed, kWh per period

    @property
    def saving_c(self) -> float:
        return self.baseline_cost_c - self.cost_c


def energy_cost_c(home: Home, grid_import: Array, grid_export: Array) -> float:
    """sum(gi*buy - ge*sell), c; NaN when a price is not finite."""
    with np.errstate(invalid="ignore"):
        return float(grid_import @ home.buy_c - grid_export @ home.sell_c)


def ev_short_kwh(home: Home, ev: Array) -> float:
    """The EV need left unmet by the charging `ev`, summed over the sessions."""
    return float(sum(max(need - ev[a:b].sum(), 0.0) for a, b, need in home.sessions_clipped()))


def objective_c(home: Home, p: Plan) -> float:
    """What the LP minimises, for any plan of `home`: energy cost, battery wear, the penalty
    on unmet EV need, less the value of what is stored at the end."""
    throughput = float(p.charge.sum() + p.discharge.sum())
    return (
        p.cost_c
        + home.wear_c * throughput
        + home.penalty_c * p.ev_short_kwh
        - home.end_value * float(p.soc[-1])
    )


def _prices_of_holding(home: Home, hold: Array) -> tuple[Array, Array]:
    return hold / home.eta + home.wear_c, hold * home.eta - home.wear_c


def self_consumption(home: Home) -> Plan:
    """The rule-based baseline: the EV charges at full power from each session's start until
    its need is met; the battery charges from the PV surplus and discharges to cover the home's
    deficit (never to the grid) down to the reserve; the rest goes to or comes from the grid,
    PV beyond the export limit is curtailed. Without duals, a stored kWh is held at the end
    value (`hold_value_c`), the least it is worth."""
    t_count = home.periods
    ev = np.zeros(t_count)
    if home.ev_sessions:
        room = home.ev_kw * HOURS_PER_PERIOD * home.plugged()
        for a, b, need in home.sessions_clipped():
            take = np.minimum(room[a:b], max(need, 0.0))
            # Full power from the start: what is left of the need before each period, capped.
            before = np.concatenate(([0.0], np.cumsum(take)[:-1]))
            give = np.clip(np.minimum(take, max(need, 0.0) - before), 0.0, None)
            ev[a:b] += give
            room[a:b] -= give
    net = home.pv_kwh - home.load_kwh - ev
    charge = np.zeros(t_count)
    discharge = np.zeros(t_count)
    soc = np.zeros(t_count + 1)
    if home.has_battery:
        eta, step = home.eta, home.battery_kw * HOURS_PER_PERIOD
        cap, reserve = home.battery_kwh, home.reserve_kwh
        s = soc[0] = home.soc_kwh
        ch, dis, st = charge.tolist(), discharge.tolist(), soc.tolist()
        for t, surplus in enumerate(net.tolist()):
            if surplus >= 0:
                ch[t] = c = max(min(surplus, step, (cap - s) / eta), 0.0)
                s += c * eta
            else:
                dis[t] = d = max(min(-surplus, step, (s - reserve) * eta), 0.0)
                s -= d / eta
            st[t + 1] = s
        charge, discharge, soc = np.array(ch), np.array(dis), np.array(st)
    rest = net - charge + discharge
    grid_import = np.clip(-rest, 0.0, None)
    grid_export = np.clip(rest, 0.0, home.export_kw * HOURS_PER_PERIOD)
    curtail = np.clip(rest, 0.0, None) - grid_export
    cost = energy_cost_c(home, grid_import, grid_export)
    hold = np.full(t_count, home.end_value if home.has_battery else 0.0)
    floor, cap_c = _prices_of_holding(home, hold)
    return Plan(
        key=home.key,
        status="self_consumption",
        reason="",
        charge=charge,
        discharge=discharge,
        ev=ev,
        grid_import=grid_import,
        grid_export=grid_export,
        soc=soc,
        cost_c=cost,
        baseline_cost_c=cost,
        ev_short_kwh=ev_short_kwh(home, ev),
        hold_value_c=hold,
        offer_floor_c=floor,
        bid_cap_c=cap_c,
        curtail=curtail,
    )


@dataclass
class _Block:
    """One home's part of an LP: its columns, rows and where each variable sits."""

    home: Home
    n: int
    cost: Array
    lb: Array
    ub: Array
    eq: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Array]  # rows, cols, values
    b_eq: Array
    ineq: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Array]
    b_ub: Array
    gi: int
    ge: int
    cu: int
    c: int = -1  # -1: no such variables
    d: int = -1
    s: int = -1
    e: int = -1
    u: int = -1


def _build(home: Home) -> _Block:
    t_count = home.periods
    t = np.arange(t_count, dtype=np.int64)
    half = HOURS_PER_PERIOD
    sessions = home.sessions_clipped()
    batt, has_ev = home.has_battery, bool(sessions)
    eta = home.eta

    gi, ge, cu = 0, t_count, 2 * t_count
    n = 3 * t_count
    c = d = s = e = u = -1
    if batt:
        c, d, s = n, n + t_count, n + 2 * t_count
        n += 3 * t_count
    if has_ev:
        e, u = n, n + t_count
        n += t_count + len(sessions)

    cost = np.zeros(n)
    lb = np.zeros(n)
    ub = np.zeros(n)
    cost[gi : gi + t_count] = home.buy_c
    cost[ge : ge + t_count] = -home.sell_c
    ub[gi : gi + t_count] = home.fuse_kw * half
    ub[ge : ge + t_count] = home.export_kw * half
    ub[cu : cu + t_count] = np.clip(home.pv_kwh, 0.0, None)

    # Balance rows 0..T-1: gi - ge - curtail (- c + d) (- e) = load - pv.
    rows = [t, t, t]
    cols = [gi + t, ge + t, cu + t]
    vals = [np.ones(t_count), -np.ones(t_count), -np.ones(t_count)]
    b_eq = [home.load_kwh - home.pv_kwh]
    ineq_rows: list[npt.NDArray[np.int64]] = []
    ineq_cols: list[npt.NDArray[np.int64]] = []
    ineq_vals: list[Array] = []
    b_ub: list[Array] = []
    n_ub = 0

    if batt:
        step = home.battery_kw * half
        cost[c : c + t_count] = home.wear_c
        cost[d : d + t_count] = home.wear_c
        if t_count:
            cost[s + t_count - 1] -= home.end_value
        ub[c : c + 2 * t_count] = step
        lb[s : s + t_count] = min(home.reserve_kwh, home.soc_kwh)
        ub[s : s + t_count] = home.battery_kwh
        rows += [t, t]
        cols += [c + t, d + t]
        vals += [-np.ones(t_count), np.ones(t_count)]
        # Battery rows T..2T-1: s[t] - s[t-1] - eta*c[t] + d[t]/eta = 0 (s0 for t = 0).
        r = t_count + t
        rows += [r, r[1:], r, r]
        cols += [s + t, s + t[:-1], c + t, d + t]
        vals += [
            np.ones(t_count),
            -np.ones(max(t_count - 1, 0)),
            np.full(t_count, -eta),
            np.full(t_count, 1 / eta),
        ]
        first = np.zeros(t_count)
        if t_count:
            first[0] = home.soc_kwh
        b_eq.append(first)
        if not home.may_export_battery:
            # d - e <= load: the battery serves the home (and its EV), not the grid.
            ineq_rows += [t, t] if has_ev else [t]
            ineq_cols += [d + t, e + t] if has_ev else [d + t]
            ineq_vals += [np.ones(t_count), -np.ones(t_count)] if has_ev else [np.ones(t_count)]
            b_ub.append(home.load_kwh.copy())
            n_ub += t_count

    if has_ev:
        rows.append(t)
        cols.append(e + t)
        vals.append(-np.ones(t_count))
        ub[e : e + t_count] = home.ev_kw * half * home.plugged()
        lb[u : u + len(sessions)] = 0.0
        ub[u : u + len(sessions)] = np.inf
        cost[u : u + len(sessions)] = home.penalty_c
        # -sum(e[a:b]) - u[k] <= -need[k]
        for k, (a, b, _) in enumerate(sessions):
            span = np.arange(a, b, dtype=np.int64)
            ineq_rows.append(np.full(len(span) + 1, n_ub + k, dtype=np.int64))
            ineq_cols.append(np.concatenate((e + span, [u + k])).astype(np.int64))
            ineq_vals.append(-np.ones(len(span) + 1))
        b_ub.append(-np.array([need for _, _, need in sessions], dtype=np.float64))
        n_ub += len(sessions)

    return _Block(
        home=home,
        n=n,
        cost=cost,
        lb=lb,
        ub=ub,
        eq=(_ints(rows), _ints(cols), _floats(vals)),
        b_eq=_floats(b_eq),
        ineq=(_ints(ineq_rows), _ints(ineq_cols), _floats(ineq_vals)),
        b_ub=_floats(b_ub),
        gi=gi,
        ge=ge,
        cu=cu,
        c=c,
        d=d,
        s=s,
        e=e,
        u=u,
    )


def _ints(parts: Sequence[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _floats(parts: Sequence[Array]) -> Array:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def _solve(blocks: Sequence[_Block], time_limit: float) -> tuple[Array, Array] | str:
    """Solve the blocks as one block-diagonal LP: (x, equality marginals), or why not."""
    col0 = np.cumsum([0] + [b.n for b in blocks])
    eq0 = np.cumsum([0] + [len(b.b_eq) for b in blocks])
    ub0 = np.cumsum([0] + [len(b.b_ub) for b in blocks])
    n, n_eq, n_ub = int(col0[-1]), int(eq0[-1]), int(ub0[-1])
    if n == 0:  # empty horizons and nothing else: nothing to decide
        return np.zeros(0), np.zeros(n_eq)

    def matrix(part: str, row0: npt.NDArray[np.int64], n_rows: int) -> sparse.csr_array:
        triples = [getattr(b, part) for b in blocks]
        rows = np.concatenate([r + row0[i] for i, (r, _, _) in enumerate(triples)])
        cols = np.concatenate([k + col0[i] for i, (_, k, _) in enumerate(triples)])
        vals = np.concatenate([v for _, _, v in triples])
        return sparse.coo_array((vals, (rows, cols)), shape=(n_rows, n)).tocsr()

    bounds = np.column_stack(
        (np.concatenate([b.lb for b in blocks]), np.concatenate([b.ub for b in blocks]))
    )
    try:
        res = linprog(
            np.concatenate([b.cost for b in blocks]),
            A_ub=matrix("ineq", ub0, n_ub) if n_ub else None,
            b_ub=np.concatenate([b.b_ub for b in blocks]) if n_ub else None,
            A_eq=matrix("eq", eq0, n_eq),
            b_eq=np.concatenate([b.b_eq for b in blocks]),
            bounds=bounds,
            method="highs",
            options={"time_limit": float(time_limit)},
        )
    except Exception as exc:  # any failure falls back, with its reason
        return f"linprog refused the problem: {exc}"
    if res.status != 0 or res.x is None:
        return f"linprog status {res.status}: {res.message}"
    return np.asarray(res.x, dtype=np.float64), np.asarray(res.eqlin.marginals, dtype=np.float64)


def _plan_of(block: _Block, x: Array, marginals: Array, baseline: Plan) -> Plan:
    home, t_count = block.home, block.home.periods
    x = np.clip(x, block.lb, block.ub)
    zeros = np.zeros(t_count)

    def part(offset: int) -> Array:
        return x[offset : offset + t_count].copy() if offset >= 0 else zeros.copy()

    grid_import, grid_export = part(block.gi), part(block.ge)
    ev = part(block.e)
    if block.s >= 0:
        soc = np.concatenate(([home.soc_kwh], part(block.s)))
        hold = -marginals[t_count : 2 * t_count]
    else:
        soc, hold = np.zeros(t_count + 1), zeros.copy()
    floor, cap = _prices_of_holding(home, hold)
    return Plan(
        key=home.key,
        status="optimal",
        reason="",
        charge=part(block.c),
        discharge=part(block.d),
        ev=ev,
        grid_import=grid_import,
        grid_export=grid_export,
        soc=soc,
        cost_c=energy_cost_c(home, grid_import, grid_export),
        baseline_cost_c=baseline.cost_c,
        ev_short_kwh=ev_short_kwh(home, ev),
        hold_value_c=hold,
        offer_floor_c=floor,
        bid_cap_c=cap,
        curtail=part(block.cu),
    )


def plan(home: Home, *, time_limit: float = 5.0) -> Plan:
    """The cheapest schedule for `home` (status "optimal"), or, if the LP cannot be built or
    solved in `time_limit` seconds, the self-consumption schedule with status "fallback" and
    the reason."""
    baseline = self_consumption(home)
    try:
        block = _build(home)
    except Exception as exc:  # any failure falls back, with its reason
        return replace(baseline, status="fallback", reason=f"the LP could not be built: {exc}")
    solved = _solve([block], time_limit)
    if isinstance(solved, str):
        return replace(baseline, status="fallback", reason=solved)
    return _plan_of(block, *solved, baseline)


def plan_many(
    homes: Sequence[Home], *, batched: bool = False, time_limit: float = 30.0
) -> list[Plan]:
    """`plan` for each home, in order. Unbatched, each home is its own LP with `time_limit`.
    Batched, all are one block-diagonal LP with `time_limit`, the solution split back per home
    (the homes share nothing, so each part is that home's optimum); if the batch fails, each
    home is solved alone (at most PER_HOME_RETRY_LIMIT_S each), so one bad home costs the
    others only time."""
    if not batched:
        return [plan(h, time_limit=time_limit) for h in homes]
    plans: list[Plan | None] = [None] * len(homes)
    blocks: list[tuple[int, _Block]] = []
    for i, home in enumerate(homes):
        try:
            blocks.append((i, _build(home)))
        except Exception:  # falls back in plan(), with the reason
            plans[i] = plan(home, time_limit=time_limit)  # falls back, with the reason
    if blocks:
        solved = _solve([b for _, b in blocks], time_limit)
        if isinstance(solved, str):
            retry = min(time_limit, PER_HOME_RETRY_LIMIT_S)
            for i, block in blocks:
                plans[i] = plan(block.home, time_limit=retry)
        else:
            x, marginals = solved
            col = row = 0
            for i, block in blocks:
                plans[i] = _plan_of(
                    block,
                    x[col : col + block.n],
                    marginals[row : row + len(block.b_eq)],
                    self_consumption(block.home),
                )
                col += block.n
                row += len(block.b_eq)
    return [p for p in plans if p is not None]

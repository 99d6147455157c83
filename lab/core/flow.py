"""A linearised (sensitivity) power-flow model of a Network, for a year of trading periods at once.

`trading.timevalue.grid.solve` runs a full AC power flow per period, about 30 ms each: a year
(17,520 periods) of a 1,000-home community for several designs is too slow that way. This module
derives, once, each transformer's sensitivities from pandapower solves of the very net that
`grid.solve` builds, then evaluates every period with a few matrix products (pure: numpy and
pandapower, no Django).

The model. Lines, transformers (their magnetising branch included) and the stiff 11 kV grid are
all linear: every customer bus voltage V, the transformer's LV and HV currents and each feeder's
head current are exactly affine in the customers' load currents I (complex):

    V = w + Z @ I        (w: the no-load voltages, Z: dV/dI, the sensitivity matrix)

Only the loads are not linear: constant-power loads draw I = -conj(S / V). The linear model
evaluates I at a seed voltage (no load, or `operating_kw`) and takes one product with Z: that is
accurate to about 0.2% in voltage but 2.6% in transformer loading at heavy load (a lower voltage
draws more current). So the model re-evaluates the load currents at its own voltages and takes
the product again, CORRECTIONS times, a fixed count with no per-period iteration or convergence
test. Measured on a 1,000-connection, 40-transformer network from 5 kW import to 4 kW export per
home, the loading error after 0, 1 and 2 corrections is 2.6%, 0.15% and 0.004%.

Transformers are coupled only through the 11 kV external grid, whose voltage pandapower holds
fixed, so each transformer's sub-network is its own block: Z is (n, n) for its n connections.

Reactive power follows `grid.solve`: an importing connection draws Q = P * tan(acos(pf)), an
exporting one is at unity power factor (its inverter), Q = 0.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.timevalue import grid
from trading.timevalue.grid import FlowResults, Network

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.intp]

# Re-evaluations of the load currents at the model's own voltages (see the module docstring).
CORRECTIONS = 2
# Central differences of +-1 kW: small enough that the derivative is the no-load one (the error
# is second order in the step, ~1e-6 relative), large against the solves' tolerance below.
STEP_MW = 1e-3
TOLERANCE_MVA = 1e-10
# Periods evaluated together: a block's working arrays stay in the processor's cache.
CHUNK_PERIODS = 2048
_ONE_THREAD_PRODUCT = 65536  # see _product
LOADING_FLOOR_PCT = 10.0  # check(): relative loading errors only where pandapower's exceeds this

# The pandapower options of grid.solve, with a tolerance tight enough for finite differences.
_RUNPP_OPTIONS: dict[str, Any] = {
    "algorithm": "nr",
    "calculate_voltage_angles": False,
    "check_connectivity": False,
    "tolerance_mva": TOLERANCE_MVA,
}
# The topology is the same in every solve of a build: pandapower may reuse its matrices.
_RECYCLE = {"bus_pq": True, "trafo": False, "gen": False}

# Rows of a block's terminal quantities, after its customer voltages (see _Block).
_BUSBAR, _LV_CURRENT, _HV_CURRENT, _FEEDER_HEADS = 0, 1, 2, 3


@dataclass(frozen=True)
class _Block:
    """One transformer's sub-network. Complex currents are in MVA per pu of voltage, conj(S / V):
    so |current| / rating is pandapower's loading, and P + jQ = V * conj(current).

    `no_load` and the rows of `sensitivity` are, in order: the n customer bus voltages (pu of
    lv_kv), then the LV busbar voltage, the current into the transformer at its LV side, the
    current into it at its HV side, and each of its feeders' head current (out of the busbar)."""

    connections: IntArray  # rows of net_kw, feeder by feeder
    feeders: IntArray  # rows of FlowResults, in Network.feeders order
    feeder_connections: tuple[slice, ...]  # per feeder: its span of `connections`
    rating_mva: float
    hv_voltage: complex  # the HV bus: the external grid's, fixed
    no_load: ComplexArray  # (n + 3 + len(feeders),)
    sensitivity: ComplexArray  # (n + 3 + len(feeders), n): d(row) / d(load current)
    seed_voltage: ComplexArray  # (n,): where the load currents are first evaluated
    conj_no_load: ComplexArray  # conj(no_load), conj(sensitivity): see _evaluate_block
    conj_sensitivity: ComplexArray


@dataclass(frozen=True)
class _Flows:
    """One evaluation: per transformer and per feeder, (rows, periods)."""

    loading_pct: FloatArray  # per transformer
    p_lv_mw: FloatArray  # per transformer: P into it from its LV busbar (> 0: reverse flow)
    transformer_loss_mw: FloatArray
    feeder_kw: FloatArray  # per feeder: its connections' net import
    v_min_pu: FloatArray  # per feeder
    v_max_pu: FloatArray
    line_loss_mw: FloatArray


@dataclass(frozen=True)
class LinearFlow:
    """A Network's sensitivity model, from `build`. `solve` and `transformer_loading_pct` take
    net_kw shaped (len(network.connections), periods), import positive, as `grid.solve` does."""

    network: Network
    power_factor: float
    blocks: tuple[_Block, ...]  # in Network.transformers order

    def solve(self, net_kw: npt.ArrayLike) -> FlowResults:
        """The power flow of every period, as `grid.solve` reports it (every period converged)."""
        flows = self._evaluate(_checked_net_kw(self.network, net_kw))
        return _flow_results(self.network, flows)

    def transformer_loading_pct(self, net_kw: npt.ArrayLike) -> FloatArray:
        """Each transformer's loading, % of its rating: (transformers, periods), in
        Network.transformers order."""
        return self._evaluate(_checked_net_kw(self.network, net_kw)).loading_pct

    def _evaluate(self, net_kw: FloatArray) -> _Flows:
        n_transformers, n_feeders = len(self.blocks), len(self.network.feeders)
        periods = net_kw.shape[1]
        flows = _Flows(
            loading_pct=np.empty((n_transformers, periods)),
            p_lv_mw=np.empty((n_transformers, periods)),
            transformer_loss_mw=np.empty((n_transformers, periods)),
            feeder_kw=np.empty((n_feeders, periods)),
            v_min_pu=np.empty((n_feeders, periods)),
            v_max_pu=np.empty((n_feeders, periods)),
            line_loss_mw=np.empty((n_feeders, periods)),
        )
        tan_phi = math.tan(math.acos(self.power_factor))
        for row, block in enumerate(self.blocks):
            for start in range(0, periods, CHUNK_PERIODS):
                columns = slice(start, start + CHUNK_PERIODS)
                kw = net_kw[block.connections, columns]
                _evaluate_block(block, kw, tan_phi, flows, row, columns)
        return flows


def _checked_net_kw(network: Network, net_kw: npt.ArrayLike) -> FloatArray:
    loads = np.asarray(net_kw, dtype=float)
    n_connections = len(network.connections)
    if loads.ndim != 2 or loads.shape[0] != n_connections:
        raise ValueError(
            f"net_kw must be shaped (connections={n_connections}, periods), one row per "
            f"connection in Network.connections order, not {loads.shape}"
        )
    if not np.isfinite(loads).all():
        raise ValueError("net_kw has NaN or infinite values")
    return loads


def _evaluate_block(
    block: _Block,
    kw: FloatArray,
    tan_phi: float,
    flows: _Flows,
    row: int,
    columns: slice,
) -> None:
    """Write one transformer's row and its feeders' rows of `flows`, for these periods.

    A constant-power load S draws the injection I = -conj(S / V). Rather than conjugate whole
    arrays at every step, the steps alternate between V and conj(V): from V, -S / V is conj(I),
    and conj(V) = conj(w) + conj(Z) @ conj(I); from conj(V), -conj(S) / conj(V) is I. The results
    are only used through |x| and Re(x * conj(y)), the same for conjugated quantities."""
    n = len(block.connections)
    p_mw = kw / 1000
    q_mvar = tan_phi * np.maximum(p_mw, 0.0)  # exports at unity power factor, as in grid.solve
    # -conj(S) and -S: the loads to divide by conj(V) and by V.
    loads = (-p_mw + 1j * q_mvar, -p_mw - 1j * q_mvar)
    state = block.seed_voltage[:, None]  # V, to begin with
    conjugated = False
    for _ in range(CORRECTIONS):
        current = loads[not conjugated] / state  # I from conj(V), conj(I) from V
        conjugated = not conjugated
        z = block.conj_sensitivity[:n] if conjugated else block.sensitivity[:n]
        state = _product(z, current)
        state += block.conj_no_load[:n, None] if conjugated else block.no_load[:n, None]
    current = loads[not conjugated] / state
    conjugated = not conjugated
    rows = _product(block.conj_sensitivity if conjugated else block.sensitivity, current)
    rows += (block.conj_no_load if conjugated else block.no_load)[:, None]
    # From here on, each quantity is used through |x| or Re(x * conj(y)) alone.
    customer_vm = np.abs(rows[:n])
    busbar_v = rows[n + _BUSBAR]
    lv_current, hv_current = rows[n + _LV_CURRENT], rows[n + _HV_CURRENT]
    heads = rows[n + _FEEDER_HEADS :]
    hv_voltage = block.hv_voltage.conjugate() if conjugated else block.hv_voltage

    flows.loading_pct[row, columns] = np.maximum(np.abs(lv_current), np.abs(hv_current)) * (
        100 / block.rating_mva
    )
    p_lv = (busbar_v * np.conj(lv_current)).real
    flows.p_lv_mw[row, columns] = p_lv
    flows.transformer_loss_mw[row, columns] = (hv_voltage * np.conj(hv_current)).real + p_lv
    head_p = (busbar_v[None, :] * np.conj(heads)).real
    busbar_vm = np.abs(busbar_v)
    for position, (feeder_row, mine) in enumerate(
        zip(block.feeders, block.feeder_connections, strict=True)
    ):
        feeder_kw = kw[mine].sum(axis=0)
        flows.feeder_kw[feeder_row, columns] = feeder_kw
        # A feeder's line losses: what enters at its head less what its connections take.
        flows.line_loss_mw[feeder_row, columns] = head_p[position] - feeder_kw / 1000
        # A feeder without connections reports its busbar voltage, as grid.solve does.
        vm = customer_vm[mine]
        flows.v_min_pu[feeder_row, columns] = vm.min(axis=0) if len(vm) else busbar_vm
        flows.v_max_pu[feeder_row, columns] = vm.max(axis=0) if len(vm) else busbar_vm


def _product(matrix: ComplexArray, x: ComplexArray) -> ComplexArray:
    """matrix @ x, a few periods at a time: OpenBLAS (numpy's BLAS) runs a complex product of
    m * n * k <= 65536 on one thread, and on these small matrices its threads cost more than they
    give: measured here, a year's solve took 0.8-1.2 s on one thread, 2.7-8 s threaded whenever
    the other core was busy (its idle threads spin, taking turns from the work between
    products). A large block's products are worth threading: they get slices of 16 at least."""
    out = np.empty((matrix.shape[0], x.shape[1]), dtype=complex)
    step = max(16, _ONE_THREAD_PRODUCT // max(1, matrix.size))
    for start in range(0, x.shape[1], step):
        columns = slice(start, start + step)
        np.matmul(matrix, x[:, columns], out=out[:, columns])
    return out


def _flow_results(network: Network, flows: _Flows) -> FlowResults:
    """`flows` per feeder, with grid.solve's own conventions (every period converged)."""
    return grid.feeder_results(
        network,
        flows.feeder_kw,
        flows.v_min_pu,
        flows.v_max_pu,
        flows.line_loss_mw,
        flows.loading_pct,
        flows.p_lv_mw,
        flows.transformer_loss_mw,
        np.ones(flows.feeder_kw.shape[1], dtype=bool),
    )


class _Solver:
    """The pandapower net of a Network, solved for given loads, its results read as one vector:
    the customer bus voltages, then per transformer its busbar voltage, then per transformer its
    LV current, then its HV current, then per feeder its head current (see _Block)."""

    def __init__(self, network: Network) -> None:
        import pandapower  # type: ignore[import-untyped]  # on first use: it costs about 2.5 s
        import pandapower.powerflow  # type: ignore[import-untyped]

        self._pp = pandapower
        self.not_converged = pandapower.powerflow.LoadflowNotConverged
        built = grid.build_net(network)
        net = built.net
        self._net = net
        self._options = {**_RUNPP_OPTIONS, "numba": importlib.util.find_spec("numba") is not None}
        self._fresh = True

        bus_row = net.bus.index.get_indexer
        self._customer_rows = bus_row([built.connection_bus[c.key] for c in network.connections])
        self._busbar_rows = bus_row([built.lv_bus[t.key] for t in network.transformers])
        self._trafo_rows = net.trafo.index.get_indexer(
            [built.trafo[t.key] for t in network.transformers]
        )
        # A feeder's head: its lines that leave the busbar (first segments, direct services).
        feeder_row = {f.key: i for i, f in enumerate(network.feeders)}
        heads = [(built.segment_line[s.key], s.feeder) for s in network.segments if not s.upstream]
        heads += [
            (built.service_line[c.key], c.feeder) for c in network.connections if not c.segment
        ]
        self._head_rows = net.line.index.get_indexer([line for line, _ in heads])
        self._head_feeder = np.array([feeder_row[f] for _, f in heads], dtype=np.intp)
        self._head_from_rows = bus_row(net.line["from_bus"].to_numpy()[self._head_rows])
        self._n_feeders = len(network.feeders)

    def run(self, p_mw: FloatArray, q_mvar: FloatArray) -> ComplexArray:
        """The vector at these loads (MW, Mvar per connection); raises `not_converged`."""
        net = self._net
        net.load["p_mw"] = p_mw
        net.load["q_mvar"] = q_mvar
        try:
            if self._fresh:
                self._pp.runpp(net, init="flat", **self._options)
            else:
                self._pp.runpp(net, init="results", recycle=dict(_RECYCLE), **self._options)
        except self.not_converged:
            self._fresh = True  # the net holds the failed iterate: start the next one afresh
            raise
        self._fresh = False
        res_bus, res_line = net.res_bus, net.res_line
        v = res_bus["vm_pu"].to_numpy() * np.exp(1j * np.deg2rad(res_bus["va_degree"].to_numpy()))
        busbar_v = v[self._busbar_rows]
        lines = res_line.iloc[self._head_rows]
        head_s = lines["p_from_mw"].to_numpy() + 1j * lines["q_from_mvar"].to_numpy()
        heads = np.zeros(self._n_feeders, dtype=complex)
        np.add.at(heads, self._head_feeder, np.conj(head_s / v[self._head_from_rows]))
        trafo = net.res_trafo.iloc[self._trafo_rows]
        lv_s = trafo["p_lv_mw"].to_numpy() + 1j * trafo["q_lv_mvar"].to_numpy()
        hv_s = trafo["p_hv_mw"].to_numpy() + 1j * trafo["q_hv_mvar"].to_numpy()
        return np.concatenate(
            [
                v[self._customer_rows],
                busbar_v,
                np.conj(lv_s / busbar_v),
                np.conj(hv_s / self.hv_voltages()),
                heads,
            ]
        )

    def hv_voltages(self) -> ComplexArray:
        """Each transformer's HV bus voltage in the last solve: the external grid's, fixed."""
        trafo = self._net.res_trafo.iloc[self._trafo_rows]
        angle = np.deg2rad(trafo["va_hv_degree"].to_numpy())
        return np.asarray(trafo["vm_hv_pu"].to_numpy() * np.exp(1j * angle), dtype=complex)


@dataclass(frozen=True)
class _Place:
    """Where one transformer's block sits: in the Network and in _Solver's vector."""

    connections: IntArray  # rows of net_kw, feeder by feeder
    feeder_connections: tuple[slice, ...]  # per feeder: its span of `connections`
    feeders: IntArray  # rows of FlowResults
    vector_rows: IntArray  # its customers, busbar, LV and HV currents, feeder heads


def _places(network: Network) -> list[_Place]:
    n_connections, n_transformers = len(network.connections), len(network.transformers)
    transformer_row = {t.key: i for i, t in enumerate(network.transformers)}
    feeder_row = {f.key: i for i, f in enumerate(network.feeders)}
    feeder_trafo = np.array([transformer_row[f.transformer] for f in network.feeders], dtype=int)
    connection_feeder = np.array([feeder_row[c.feeder] for c in network.connections], dtype=int)
    connection_trafo = feeder_trafo[connection_feeder] if n_connections else connection_feeder
    places = []
    for b in range(n_transformers):
        feeders = np.flatnonzero(feeder_trafo == b)
        connections = np.flatnonzero(connection_trafo == b)
        # Feeder by feeder, so that each feeder's customers are one slice of the block's.
        connections = connections[np.argsort(connection_feeder[connections], kind="stable")]
        counts = [int(np.count_nonzero(connection_feeder[connections] == f)) for f in feeders]
        ends = np.cumsum(counts, dtype=int)
        starts = ends - counts
        terminals = n_connections + n_transformers * np.arange(3) + b
        heads = n_connections + 3 * n_transformers + feeders
        places.append(
            _Place(
                connections=connections,
                feeder_connections=tuple(
                    slice(int(a), int(z)) for a, z in zip(starts, ends, strict=True)
                ),
                feeders=feeders,
                vector_rows=np.concatenate([connections, terminals, heads]),
            )
        )
    return places


def build(
    network: Network, *, power_factor: float = 0.97, operating_kw: npt.ArrayLike | None = None
) -> LinearFlow:
    """Derive `network`'s sensitivity model from pandapower solves of grid.build_net's net.

    Sensitivities by central finite differences of full pandapower solves, not from pandapower's
    Jacobian: the quantities are exactly affine in the load currents, so their derivatives at no
    load are the sensitivities at every load, and differences of pandapower's own results carry
    its transformer and line models (magnetising branch, line charging) without re-deriving them
    or reading its private internals. Blocks are independent, so one solve perturbs one
    connection of every transformer at once: 2 x (most connections on one transformer) + 1
    solves, about 1 s for 1,000 connections on 40 transformers.

    `operating_kw` (per connection, import positive) is where the load currents are first
    evaluated; by default no load. The corrections make the result nearly independent of it.
    """
    if not (math.isfinite(power_factor) and 0 < power_factor <= 1):
        raise ValueError(f"power factor {power_factor} is not in (0, 1]")
    n_connections = len(network.connections)
    solver = _Solver(network)  # validates the network
    places = _places(network)
    zero = np.zeros(n_connections)
    no_load = solver.run(zero, zero)
    hv_v = solver.hv_voltages()
    no_load_v = no_load[:n_connections]
    sensitivity = [
        np.zeros((len(place.vector_rows), len(place.connections)), dtype=complex)
        for place in places
    ]
    for slot in range(max((len(place.connections) for place in places), default=0)):
        filled = [b for b, place in enumerate(places) if len(place.connections) > slot]
        step = np.zeros(n_connections)
        step[[places[b].connections[slot] for b in filled]] = STEP_MW
        derivative = (solver.run(step, zero) - solver.run(-step, zero)) / (2 * STEP_MW)
        for b in filled:
            # y = no_load + G @ I and, at no load, dI_k/dP_k = -1 / conj(V_k): G = dy/dP * -conj(V_k)
            k = places[b].connections[slot]
            sensitivity[b][:, slot] = derivative[places[b].vector_rows] * -np.conj(no_load_v[k])

    seed_v = no_load_v
    if operating_kw is not None:
        seed_v = _operating_voltages(solver, network, operating_kw, power_factor)
    blocks = tuple(
        _Block(
            connections=place.connections,
            feeders=place.feeders,
            feeder_connections=place.feeder_connections,
            rating_mva=t.rating_kva / 1000,
            hv_voltage=complex(hv_v[b]),
            no_load=no_load[place.vector_rows],
            sensitivity=sensitivity[b],
            seed_voltage=seed_v[place.connections],
            conj_no_load=np.conj(no_load[place.vector_rows]),
            conj_sensitivity=np.conj(sensitivity[b]),
        )
        for b, (place, t) in enumerate(zip(places, network.transformers, strict=True))
    )
    return LinearFlow(network=network, power_factor=power_factor, blocks=blocks)


def _operating_voltages(
    solver: _Solver, network: Network, operating_kw: npt.ArrayLike, power_factor: float
) -> ComplexArray:
    n_connections = len(network.connections)
    kw = np.asarray(operating_kw, dtype=float)
    if kw.shape != (n_connections,) or not np.isfinite(kw).all():
        raise ValueError(
            f"operating_kw must be {n_connections} finite kW values, one per connection in "
            f"Network.connections order (shaped {kw.shape})"
        )
    p_mw = kw / 1000
    q_mvar = math.tan(math.acos(power_factor)) * np.maximum(p_mw, 0.0)
    try:
        solved = solver.run(p_mw, q_mvar)
    except solver.not_converged:
        raise ValueError(
            "operating_kw: pandapower's power flow does not converge there; give a lighter, "
            "typical load (or none: no load)"
        ) from None
    return solved[:n_connections]


def sample_periods(net_kw: FloatArray, samples: int, seed: int) -> IntArray:
    """`samples` periods of net_kw (or all of them, if fewer): those of the highest total import
    and highest total export, the rest at random; in time order."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, not {samples}")
    periods = net_kw.shape[1]
    total = net_kw.sum(axis=0)
    extremes = list(dict.fromkeys([int(np.argmax(total)), int(np.argmin(total))]))[:samples]
    rest = np.setdiff1d(np.arange(periods), extremes)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(rest, size=min(samples - len(extremes), len(rest)), replace=False)
    return np.sort(np.concatenate([extremes, drawn]).astype(np.intp))


def check(
    network: Network, flow: LinearFlow, net_kw: npt.ArrayLike, *, samples: int = 48, seed: int = 0
) -> dict[str, float]:
    """Compare `flow` with pandapower (grid.solve) on `samples` periods of net_kw (see
    sample_periods). Errors are maxima over the feeders and the periods pandapower solved:

    - max_voltage_error_pct: |V_lin - V_pp| / V_pp * 100 of the feeders' min and max voltages;
    - max_loading_error_pct: of transformer loading, in % of pandapower's, where that is > 10%
      (NaN if it never is); max_loading_error_points: in percentage points, everywhere;
    - max_reverse_flow_error_kw, max_losses_error_kw: per feeder, in kW;
    - seconds_full, seconds_linear: grid.solve and flow.solve of the same sampled periods.
    """
    if flow.network != network:
        raise ValueError("flow was built for another network: build(network) first")
    loads = _checked_net_kw(network, net_kw)
    if loads.shape[1] == 0:
        raise ValueError("net_kw has no periods to check")
    periods = sample_periods(loads, samples, seed)
    sampled = loads[:, periods]

    started = time.perf_counter()
    full = grid.solve(network, sampled, power_factor=flow.power_factor)
    seconds_full = time.perf_counter() - started
    started = time.perf_counter()
    linear = flow.solve(sampled)
    seconds_linear = time.perf_counter() - started

    solved = full.converged[0] if len(network.feeders) else np.ones(len(periods), dtype=bool)

    def worst(errors: Sequence[FloatArray]) -> float:
        values = [e[:, solved] for e in errors if e[:, solved].size]
        return float(max(v.max() for v in values)) if values else 0.0

    voltage_errors = [
        np.abs(getattr(linear, name) - getattr(full, name)) / getattr(full, name) * 100
        for name in ("v_min_pu", "v_max_pu")
    ]
    loading_points = np.abs(linear.loading_pct - full.loading_pct)
    loaded = full.loading_pct > LOADING_FLOOR_PCT
    loaded[:, ~solved] = False
    return {
        "periods_checked": float(solved.sum()),
        "max_voltage_error_pct": worst(voltage_errors),
        "max_loading_error_pct": (
            float((loading_points[loaded] / full.loading_pct[loaded]).max() * 100)
            if loaded.any()
            else math.nan
        ),
        "max_loading_error_points": worst([loading_points]),
        "max_reverse_flow_error_kw": worst([np.abs(linear.reverse_flow_kw - full.reverse_flow_kw)]),
        "max_losses_error_kw": worst([np.abs(linear.losses_kw - full.losses_kw)]),
        "seconds_full": seconds_full,
        "seconds_linear": seconds_linear,
    }

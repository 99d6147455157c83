"""A low-voltage network in plain terms (transformers, feeders, cable segments, connections),
built once as a pandapower net and solved for every trading period of a horizon.

Pure: numpy, pandas and pandapower only, no Django. pandapower is imported inside the functions
that need it, never at module top: importing it costs about 2.5 s, which whoever only describes
or validates a Network (Django loading the app, a form checking a network) should not pay.

The model. One external grid (vm_pu 1.0) holds the HV side of the transformers: one HV bus
shared by all of them (one per distinct `hv_kv`, should they differ). Each transformer has an
LV busbar; its feeders start there. A segment is a feeder cable section from its upstream
segment's far end (or the busbar) to a pole or pillar bus at its own far end. A connection is an
ICP (or an aggregate of non-member customers): a service cable from its segment's far end (or the
busbar) to its own customer bus, with one load there: positive p is import, negative p export.

Voltages. An LV bus's nominal voltage is its transformer's LV winding voltage `lv_kv` (0.415 kV
by default) and pandapower's vm_pu is relative to that, so it sits near 1.0 at no load.
NZ's nominal customer voltage is 230 V phase (400 V line), to be held within 230 V ± 6% (the
Electricity (Safety) Regulations 2010), so FlowResults carries both: `v_min_pu`/`v_max_pu` in pu
of lv_kv (pandapower's vm_pu) and `v_min_customer_pu`/`v_max_customer_pu` = vm_pu * lv_kv / 0.400,
in pu of 230 V, the figures to hold against NZ_VOLTAGE_LIMITS_PU (a 0.415 kV transformer puts
its busbar at about 1.0375 of them at no load).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from coop.cables import CABLE_TYPES  # pandapower's standard LV line types, by name

CUSTOMER_NOMINAL_KV = 0.400  # NZ: 230 V phase, 400 V line
NZ_VOLTAGE_LIMITS_PU = (0.94, 1.06)  # of 230 V: 230 V ± 6%

PFE_KW_PER_KVA = 0.0025  # transformer iron (no-load) losses, kW per kVA of rating
I0_PERCENT = 0.3  # transformer no-load (magnetising) current, % of rated current

# Every period after the first successful one reuses pandapower's internal matrices (admittance
# matrix, lookups) and only refreshes the bus P and Q: the topology does not change over a horizon.
_RECYCLE = {"bus_pq": True, "trafo": False, "gen": False}

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class NetworkError(ValueError):
    """A Network that cannot be built: the message names the object (by key) and says why."""


@dataclass(frozen=True)
class TransformerSpec:
    """A distribution transformer, HV (11 kV) to LV."""

    key: str
    rating_kva: float
    hv_kv: float = 11.0
    lv_kv: float = 0.415
    vk_percent: float = 4.0
    vkr_percent: float = 1.2


@dataclass(frozen=True)
class FeederSpec:
    """An LV feeder, leaving its transformer's LV busbar."""

    key: str
    transformer: str  # transformer key


@dataclass(frozen=True)
class SegmentSpec:
    """A feeder cable section; its far end is a pole or pillar bus."""

    key: str
    feeder: str
    upstream: str | None  # segment key; None: starts at its feeder's transformer LV busbar
    length_m: float
    cable_type: str  # a key of CABLE_TYPES


@dataclass(frozen=True)
class ConnectionSpec:
    """An ICP (or an aggregate of non-member customers) and its service cable."""

    key: str
    feeder: str
    segment: str | None  # segment key; None: service cable straight from the LV busbar
    service_length_m: float
    service_cable_type: str  # a key of CABLE_TYPES


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _check_keys(kind: str, keys: Iterable[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if not isinstance(key, str) or not key:
            raise NetworkError(f"{kind} {key!r}: a key must be a non-empty string")
        if key in seen:
            raise NetworkError(f"{kind} {key!r}: duplicate key")
        seen.add(key)


def _check_cable(kind: str, key: str, cable_type: str) -> None:
    if cable_type not in CABLE_TYPES:
        raise NetworkError(
            f"{kind} {key!r}: unknown cable type {cable_type!r} (known: {', '.join(CABLE_TYPES)})"
        )


@dataclass(frozen=True)
class Network:
    """A whole LV network. Objects refer to each other by key; `validate()` checks it is one
    radial network that `solve()` can build."""

    transformers: tuple[TransformerSpec, ...]
    feeders: tuple[FeederSpec, ...]
    segments: tuple[SegmentSpec, ...]
    connections: tuple[ConnectionSpec, ...]

    def validate(self) -> None:
        """Raise NetworkError, naming the object, if the network cannot be built."""
        _check_keys("transformer", (t.key for t in self.transformers))
        _check_keys("feeder", (f.key for f in self.feeders))
        _check_keys("segment", (s.key for s in self.segments))
        _check_keys("connection", (c.key for c in self.connections))

        for t in self.transformers:
            if not _positive(t.rating_kva):
                raise NetworkError(f"transformer {t.key!r}: rating {t.rating_kva} kVA is not > 0")
            if not (_positive(t.hv_kv) and _positive(t.lv_kv) and t.hv_kv > t.lv_kv):
                raise NetworkError(
                    f"transformer {t.key!r}: voltages {t.hv_kv}/{t.lv_kv} kV are not HV > LV > 0"
                )
            if not (_positive(t.vk_percent) and 0 <= t.vkr_percent < t.vk_percent):
                raise NetworkError(
                    f"transformer {t.key!r}: impedance vk {t.vk_percent}%, vkr {t.vkr_percent}% "
                    "is not 0 <= vkr < vk"
                )

        transformer_keys = {t.key for t in self.transformers}
        for f in self.feeders:
            if f.transformer not in transformer_keys:
                raise NetworkError(f"feeder {f.key!r}: unknown transformer {f.transformer!r}")

        feeder_keys = {f.key for f in self.feeders}
        segments = {s.key: s for s in self.segments}
        for s in self.segments:
            if s.feeder not in feeder_keys:
                raise NetworkError(f"segment {s.key!r}: unknown feeder {s.feeder!r}")
            if not _positive(s.length_m):
                raise NetworkError(f"segment {s.key!r}: length {s.length_m} m is not > 0")
            _check_cable("segment", s.key, s.cable_type)
            if s.upstream is not None:
                upstream = segments.get(s.upstream)
                if upstream is None:
                    raise NetworkError(
                        f"segment {s.key!r}: unknown upstream segment {s.upstream!r}"
                    )
                if upstream.feeder != s.feeder:
                    raise NetworkError(
                        f"segment {s.key!r}: upstream segment {s.upstream!r} is on feeder "
                        f"{upstream.feeder!r}, not on {s.feeder!r}"
                    )

        # Each segment has one upstream, so the segments form a forest unless following the
        # upstream links from some segment comes back to a segment already on that path.
        reaches_busbar: set[str] = set()
        for s in self.segments:
            path: list[str] = []
            key: str | None = s.key
            while key is not None and key not in reaches_busbar:
                if key in path:
                    loop = [*path[path.index(key) :], key]
                    raise NetworkError(
                        f"segment {key!r}: the segments loop ({' -> '.join(loop)}) and never reach "
                        "the transformer"
                    )
                path.append(key)
                key = segments[key].upstream
            reaches_busbar.update(path)

        for c in self.connections:
            if c.feeder not in feeder_keys:
                raise NetworkError(f"connection {c.key!r}: unknown feeder {c.feeder!r}")
            if c.segment is not None:
                segment = segments.get(c.segment)
                if segment is None:
                    raise NetworkError(f"connection {c.key!r}: unknown segment {c.segment!r}")
                if segment.feeder != c.feeder:
                    raise NetworkError(
                        f"connection {c.key!r}: segment {c.segment!r} is on feeder "
                        f"{segment.feeder!r}, not on {c.feeder!r}"
                    )
            if not _positive(c.service_length_m):
                raise NetworkError(
                    f"connection {c.key!r}: service length {c.service_length_m} m is not > 0"
                )
            _check_cable("connection", c.key, c.service_cable_type)


@dataclass(frozen=True)
class FlowResults:
    """Power-flow results per feeder and period: arrays shaped (len(feeders), periods), rows in
    Network.feeders order. Where `converged` is False every power-flow value of that period is
    NaN (net_kw, the input, stays). A feeder without connections reports its busbar voltage."""

    feeders: tuple[str, ...]
    net_kw: FloatArray  # sum of its connections' net load (import positive)
    loading_pct: FloatArray  # its transformer's loading, % of rating (pandapower's loading_percent)
    v_min_pu: FloatArray  # over its customer (connection) buses, pu of the transformer's lv_kv
    v_max_pu: FloatArray
    reverse_flow_kw: FloatArray  # max(0, P from the LV busbar up into its transformer), kW
    losses_kw: FloatArray  # its lines' losses + its share (by |net_kw|) of its transformer's
    converged: BoolArray  # False where that period's power flow failed (same in every row)
    v_min_customer_pu: FloatArray  # v_min_pu * lv_kv / 0.400: pu of 230 V, vs NZ_VOLTAGE_LIMITS_PU
    v_max_customer_pu: FloatArray


@dataclass
class BuiltNet:
    """A Network's pandapower net and where each of its objects sits in it (pandapower indices)."""

    net: Any  # pandapower.pandapowerNet (pandapower ships no type information)
    trafo: dict[str, int]  # transformer key -> net.trafo index
    lv_bus: dict[str, int]  # transformer key -> its LV busbar, net.bus index
    segment_bus: dict[str, int]  # segment key -> the bus at its far end
    segment_line: dict[str, int]  # segment key -> net.line index
    connection_bus: dict[str, int]  # connection key -> its customer bus
    service_line: dict[str, int]  # connection key -> its service cable, net.line index
    load: dict[str, int]  # connection key -> net.load index


def build_net(network: Network) -> BuiltNet:
    """Validate `network` and build its pandapower net, every load at 0 kW."""
    network.validate()
    return _build(network)


def _pandapower() -> Any:
    """pandapower, imported here on first use rather than at module top: it costs about 2.5 s."""
    import pandapower  # type: ignore[import-untyped]
    import pandapower.powerflow  # type: ignore[import-untyped]

    return pandapower


def _build(network: Network) -> BuiltNet:
    pp = _pandapower()

    net = pp.create_empty_network(name="LV network")
    hv_bus: dict[float, int] = {}
    for t in network.transformers:
        if t.hv_kv not in hv_bus:
            hv_bus[t.hv_kv] = pp.create_bus(net, vn_kv=t.hv_kv, name=f"HV {t.hv_kv:g} kV")
            pp.create_ext_grid(net, hv_bus[t.hv_kv], vm_pu=1.0, name=f"grid {t.hv_kv:g} kV")
    lv_bus: dict[str, int] = {}
    trafo: dict[str, int] = {}
    for t in network.transformers:
        lv_bus[t.key] = pp.create_bus(net, vn_kv=t.lv_kv, name=t.key)
        trafo[t.key] = pp.create_transformer_from_parameters(
            net,
            hv_bus=hv_bus[t.hv_kv],
            lv_bus=lv_bus[t.key],
            sn_mva=t.rating_kva / 1000,
            vn_hv_kv=t.hv_kv,
            vn_lv_kv=t.lv_kv,
            vkr_percent=t.vkr_percent,
            vk_percent=t.vk_percent,
            pfe_kw=PFE_KW_PER_KVA * t.rating_kva,
            i0_percent=I0_PERCENT,
            name=t.key,
        )
    feeder_trafo = {f.key: f.transformer for f in network.feeders}
    lv_kv = {t.key: t.lv_kv for t in network.transformers}

    def new_buses(keys: list[str], feeders: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        vn_kv = [lv_kv[feeder_trafo[f]] for f in feeders]
        index = pp.create_buses(net, len(keys), vn_kv=vn_kv, name=keys)
        return dict(zip(keys, (int(i) for i in index), strict=True))

    def new_lines(
        keys: list[str],
        from_bus: list[int],
        to_bus: list[int],
        length_m: list[float],
        std: list[str],
    ) -> dict[str, int]:
        if not keys:
            return {}
        length_km = np.asarray(length_m, dtype=float) / 1000
        index = pp.create_lines(net, from_bus, to_bus, length_km, std_type=std, name=keys)
        return dict(zip(keys, (int(i) for i in index), strict=True))

    segments, connections = network.segments, network.connections
    # All the segments' buses first: a segment may be listed before its upstream one.
    segment_bus = new_buses([s.key for s in segments], [s.feeder for s in segments])
    segment_line = new_lines(
        [s.key for s in segments],
        [
            lv_bus[feeder_trafo[s.feeder]] if s.upstream is None else segment_bus[s.upstream]
            for s in segments
        ],
        [segment_bus[s.key] for s in segments],
        [s.length_m for s in segments],
        [s.cable_type for s in segments],
    )
    connection_bus = new_buses([c.key for c in connections], [c.feeder for c in connections])
    service_line = new_lines(
        [c.key for c in connections],
        [
            lv_bus[feeder_trafo[c.feeder]] if c.segment is None else segment_bus[c.segment]
            for c in connections
        ],
        [connection_bus[c.key] for c in connections],
        [c.service_length_m for c in connections],
        [c.service_cable_type for c in connections],
    )
    load: dict[str, int] = {}
    if connections:
        index = pp.create_loads(
            net,
            [connection_bus[c.key] for c in connections],
            p_mw=0.0,
            q_mvar=0.0,
            name=[c.key for c in connections],
        )
        load = dict(zip((c.key for c in connections), (int(i) for i in index), strict=True))
    return BuiltNet(
        net=net,
        trafo=trafo,
        lv_bus=lv_bus,
        segment_bus=segment_bus,
        segment_line=segment_line,
        connection_bus=connection_bus,
        service_line=service_line,
        load=load,
    )


def solve(network: Network, net_kw: npt.ArrayLike, power_factor: float = 0.97) -> FlowResults:
    """Run an AC power flow (Newton-Raphson) for each period of `net_kw`.

    `net_kw` is shaped (len(network.connections), periods): each connection's net import in kW
    per period, negative for export. Importing connections draw reactive power at
    `power_factor` lagging; exporting ones are at unity (inverters), q = 0. The net is built
    once; each period only sets the loads and reruns the flow from the last solution. A period
    whose flow does not converge is marked so in `converged`, its values NaN, and the next
    period starts afresh.
    """
    loads = np.asarray(net_kw, dtype=float)
    n_connections, n_feeders = len(network.connections), len(network.feeders)
    if loads.ndim != 2 or loads.shape[0] != n_connections:
        raise ValueError(
            f"net_kw must be shaped (connections={n_connections}, periods), not {loads.shape}"
        )
    if not np.isfinite(loads).all():
        raise ValueError("net_kw has NaN or infinite values")
    if not (math.isfinite(power_factor) and 0 < power_factor <= 1):
        raise ValueError(f"power factor {power_factor} is not in (0, 1]")
    network.validate()
    periods = loads.shape[1]

    feeder_row = {f.key: i for i, f in enumerate(network.feeders)}
    connection_feeder = np.array([feeder_row[c.feeder] for c in network.connections], dtype=int)
    feeder_kw = np.zeros((n_feeders, periods))
    np.add.at(feeder_kw, connection_feeder, loads)
    if n_feeders == 0 or periods == 0:
        return _empty_results(network, feeder_kw)

    built = _build(network)
    pp = _pandapower()
    not_converged = pp.powerflow.LoadflowNotConverged

    net = built.net
    options: dict[str, Any] = {
        "algorithm": "nr",
        "calculate_voltage_angles": False,
        "numba": importlib.util.find_spec("numba") is not None,
        # Radial and connected by construction (validate() rules out orphans and loops).
        "check_connectivity": False,
        # 1 W of mismatch is plenty for kW loads and saves about one Newton iteration in two.
        "tolerance_mva": 1e-6,
    }

    # Rows of the result tables to record, in pandapower's row order (= creation order).
    bus_row = net.bus.index.get_indexer
    customer_rows = bus_row([built.connection_bus[c.key] for c in network.connections])
    busbar_rows = bus_row([built.lv_bus[f.transformer] for f in network.feeders])
    line_feeder = np.array(
        [feeder_row[s.feeder] for s in network.segments]
        + [feeder_row[c.feeder] for c in network.connections],
        dtype=int,
    )
    line_rows = net.line.index.get_indexer(
        [*built.segment_line.values(), *built.service_line.values()]
    )
    trafo_rows = net.trafo.index.get_indexer([built.trafo[t.key] for t in network.transformers])
    load_rows = net.load.index.get_indexer([built.load[c.key] for c in network.connections])
    assert (load_rows == np.arange(n_connections)).all()

    p_mw = loads / 1000
    q_mvar = np.where(p_mw > 0, p_mw * math.tan(math.acos(power_factor)), 0.0)
    n_transformers = len(network.transformers)
    customer_vm = np.full((n_connections, periods), np.nan)
    busbar_vm = np.full((n_feeders, periods), np.nan)
    line_loss_mw = np.full((len(line_rows), periods), np.nan)
    trafo_loading = np.full((n_transformers, periods), np.nan)
    trafo_p_lv_mw = np.full((n_transformers, periods), np.nan)
    trafo_loss_mw = np.full((n_transformers, periods), np.nan)
    converged = np.zeros(periods, dtype=bool)

    fresh = True  # no usable previous solution: build pandapower's internals, flat start
    for t in range(periods):
        net.load["p_mw"] = p_mw[:, t]
        net.load["q_mvar"] = q_mvar[:, t]
        try:
            if fresh:
                pp.runpp(net, init="flat", **options)
            else:
                pp.runpp(net, init="results", recycle=dict(_RECYCLE), **options)
        except not_converged:
            net["_ppc"] = None  # its voltages are the failed iterate's: start the next one afresh
            fresh = True
            continue
        fresh = False
        converged[t] = True
        vm = net.res_bus["vm_pu"].to_numpy()
        customer_vm[:, t] = vm[customer_rows]
        busbar_vm[:, t] = vm[busbar_rows]
        line_loss_mw[:, t] = net.res_line["pl_mw"].to_numpy()[line_rows]
        res_trafo = net.res_trafo
        trafo_loading[:, t] = res_trafo["loading_percent"].to_numpy()[trafo_rows]
        trafo_p_lv_mw[:, t] = res_trafo["p_lv_mw"].to_numpy()[trafo_rows]
        trafo_loss_mw[:, t] = res_trafo["pl_mw"].to_numpy()[trafo_rows]

    # Per feeder.
    v_min = np.empty((n_feeders, periods))
    v_max = np.empty((n_feeders, periods))
    for row in range(n_feeders):
        mine = connection_feeder == row
        vm_f = customer_vm[mine] if mine.any() else busbar_vm[row : row + 1]
        v_min[row] = vm_f.min(axis=0)
        v_max[row] = vm_f.max(axis=0)

    feeder_line_loss_mw = np.zeros((n_feeders, periods))
    np.add.at(feeder_line_loss_mw, line_feeder, line_loss_mw)
    return feeder_results(
        network,
        feeder_kw,
        v_min,
        v_max,
        feeder_line_loss_mw,
        trafo_loading,
        trafo_p_lv_mw,
        trafo_loss_mw,
        converged,
    )


def feeder_results(
    network: Network,
    feeder_kw: FloatArray,
    v_min: FloatArray,
    v_max: FloatArray,
    line_loss_mw: FloatArray,
    trafo_loading_pct: FloatArray,
    trafo_p_lv_mw: FloatArray,
    trafo_loss_mw: FloatArray,
    converged: BoolArray,
) -> FlowResults:
    """A power flow's results per feeder, whoever solved it (this module's pandapower, or the
    lab's linearised model): feeder arrays (feeders, periods) for net load, customer voltages
    (pu of lv_kv) and line losses; transformer arrays (transformers, periods) for loading, P
    from the LV side and losses, of which each feeder carries its share by |net load|."""
    n_feeders, periods = feeder_kw.shape
    n_transformers = len(network.transformers)
    transformer_row = {t.key: i for i, t in enumerate(network.transformers)}
    feeder_trafo = np.array([transformer_row[f.transformer] for f in network.feeders], dtype=int)
    abs_kw = np.abs(feeder_kw)
    trafo_abs_kw = np.zeros((n_transformers, periods))
    np.add.at(trafo_abs_kw, feeder_trafo, abs_kw)
    feeders_on_trafo = np.bincount(feeder_trafo, minlength=n_transformers)
    total = trafo_abs_kw[feeder_trafo]
    share = np.divide(
        abs_kw,
        total,
        out=np.repeat(1.0 / feeders_on_trafo[feeder_trafo], periods).reshape(n_feeders, periods),
        where=total > 0,
    )
    losses_kw = 1000 * (line_loss_mw + share * trafo_loss_mw[feeder_trafo])
    losses_kw[:, ~converged] = np.nan

    lv_ratio = np.array(
        [network.transformers[i].lv_kv / CUSTOMER_NOMINAL_KV for i in feeder_trafo]
    )[:, None]
    return FlowResults(
        feeders=tuple(f.key for f in network.feeders),
        net_kw=feeder_kw,
        loading_pct=trafo_loading_pct[feeder_trafo],
        v_min_pu=v_min,
        v_max_pu=v_max,
        reverse_flow_kw=np.maximum(0.0, 1000 * trafo_p_lv_mw[feeder_trafo]),
        losses_kw=losses_kw,
        converged=np.repeat(converged[None, :], n_feeders, axis=0),
        v_min_customer_pu=v_min * lv_ratio,
        v_max_customer_pu=v_max * lv_ratio,
    )


def _empty_results(network: Network, feeder_kw: FloatArray) -> FlowResults:
    shape = feeder_kw.shape
    return FlowResults(
        feeders=tuple(f.key for f in network.feeders),
        net_kw=feeder_kw,
        loading_pct=np.zeros(shape),
        v_min_pu=np.zeros(shape),
        v_max_pu=np.zeros(shape),
        reverse_flow_kw=np.zeros(shape),
        losses_kw=np.zeros(shape),
        converged=np.ones(shape, dtype=bool),
        v_min_customer_pu=np.zeros(shape),
        v_max_customer_pu=np.zeros(shape),
    )

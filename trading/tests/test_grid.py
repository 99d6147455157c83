"""The LV power flow (trading.timevalue.grid) checked against hand calculations and against
pandapower's own results, its validation, its handling of a period that cannot converge, and the
synthetic networks and loads it is benchmarked on. No database."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trading.timevalue.grid import (
    CABLE_TYPES,
    CUSTOMER_NOMINAL_KV,
    ConnectionSpec,
    FeederSpec,
    Network,
    NetworkError,
    SegmentSpec,
    TransformerSpec,
    build_net,
    solve,
)
from trading.timevalue.synthetic import generated_loads, generated_network

ROOT = Path(__file__).resolve().parents[2]
SQRT3 = math.sqrt(3)


@pytest.fixture(scope="module")
def pp():
    """pandapower, imported when a test needs it (about 2 s) rather than at collection."""
    import pandapower  # type: ignore[import-untyped]

    return pandapower


def one_cable(cable="NAYY 4x50 SE", length_m=150.0, rating_kva=300.0):
    """One 11/0.415 kV transformer, one feeder, one connection on one service cable straight from
    the LV busbar: the only cable in the network."""
    return Network(
        transformers=(TransformerSpec("T1", rating_kva),),
        feeders=(FeederSpec("F1", "T1"),),
        segments=(),
        connections=(ConnectionSpec("C1", "F1", None, length_m, cable),),
    )


def run(pp, network, kw, power_factor=0.97):
    """pandapower's own solution of one period, on the net that solve() builds."""
    built = build_net(network)
    p = np.asarray(kw, dtype=float) / 1000
    q = np.where(p > 0, p * math.tan(math.acos(power_factor)), 0.0)
    built.net.load["p_mw"] = p
    built.net.load["q_mvar"] = q
    pp.runpp(built.net, calculate_voltage_angles=False, numba=False)
    return built


def street(homes=4, length_m=60.0, cable="NAYY 4x150 SE"):
    """A 200 kVA transformer, one feeder of three segments, `homes` connections at its far end."""
    return Network(
        transformers=(TransformerSpec("T1", 200),),
        feeders=(FeederSpec("F1", "T1"),),
        segments=(
            SegmentSpec("S1", "F1", None, length_m, cable),
            SegmentSpec("S2", "F1", "S1", length_m, cable),
            SegmentSpec("S3", "F1", "S2", length_m, cable),
        ),
        connections=tuple(
            ConnectionSpec(f"C{i}", "F1", "S3", 15, "NAYY 4x50 SE") for i in range(homes)
        ),
    )


# 1. The drop along one cable, by hand.


def test_drop_along_a_cable_matches_the_hand_calculation(pp):
    cable, length_m, p_kw, pf = "NAYY 4x50 SE", 150.0, 40.0, 0.95
    network = one_cable(cable, length_m)
    built = run(pp, network, [p_kw], power_factor=pf)
    res = built.net.res_bus
    v_busbar_kv = res.vm_pu[built.lv_bus["T1"]] * 0.415
    v_home_kv = res.vm_pu[built.connection_bus["C1"]] * 0.415

    std = pp.load_std_type(built.net, cable, "line")
    r = std["r_ohm_per_km"] * length_m / 1000
    x = std["x_ohm_per_km"] * length_m / 1000
    s_kva = p_kw / pf
    sin_phi = math.sqrt(1 - pf**2)
    # ΔV ≈ √3·I·(R cosφ + X sinφ), I = S / (√3·V) at the load end: iterate from the busbar.
    v_kv = v_busbar_kv
    for _ in range(20):
        i_ka = s_kva / 1000 / (SQRT3 * v_kv)
        drop_kv = SQRT3 * i_ka * (r * pf + x * sin_phi)
        v_kv = v_busbar_kv - drop_kv
    assert 0.005 < drop_kv / 0.415 < 0.05  # a real, few-percent drop
    assert v_busbar_kv - v_home_kv == pytest.approx(drop_kv, rel=0.01)

    # solve() reports the same home voltage, in pu of 0.415 kV and of 400 V.
    flow = solve(network, [[p_kw]], power_factor=pf)
    assert flow.v_min_pu[0, 0] == pytest.approx(v_home_kv / 0.415, abs=1e-6)
    assert flow.v_max_pu[0, 0] == pytest.approx(v_home_kv / 0.415, abs=1e-6)
    assert flow.v_min_customer_pu[0, 0] == pytest.approx(v_home_kv / CUSTOMER_NOMINAL_KV, abs=1e-6)
    assert flow.net_kw[0, 0] == p_kw
    assert flow.converged.all()


# 2. Loading, reverse flow, voltage rise and drop, losses.


def test_a_load_near_the_rating_loads_the_transformer_near_100_percent(pp):
    network = one_cable("NAYY 4x150 SE", 10, rating_kva=200)
    flow = solve(network, [[190.0]])  # 196 kVA at 0.97
    pandapower_loading = run(pp, network, [190.0]).net.res_trafo.loading_percent.iloc[0]
    assert 95 < flow.loading_pct[0, 0] < 105
    assert flow.loading_pct[0, 0] == pytest.approx(pandapower_loading, abs=1e-4)
    assert flow.reverse_flow_kw[0, 0] == 0


def test_midday_export_flows_back_up_and_raises_the_far_end_evening_load_drops_it():
    network = street(homes=4)
    flow = solve(network, np.array([[-5.0, 3.0]] * 4))  # midday: PV export; evening: load
    midday, evening = 0, 1
    assert flow.net_kw[0].tolist() == [-20.0, 12.0]
    assert 15 < flow.reverse_flow_kw[0, midday] < 20  # 20 kW exported less the losses
    assert flow.v_max_pu[0, midday] > 1.0
    assert flow.reverse_flow_kw[0, evening] == 0
    assert flow.v_min_pu[0, evening] < 1.0
    assert flow.v_max_pu[0, evening] < 1.0
    assert (flow.losses_kw > 0).all()
    assert flow.converged.all()


def test_feeders_losses_add_up_to_the_networks_split_by_their_load(pp):
    network = Network(
        transformers=(TransformerSpec("T1", 300),),
        feeders=(FeederSpec("F1", "T1"), FeederSpec("F2", "T1")),
        segments=(
            SegmentSpec("F1S1", "F1", None, 80, "94-AL1/15-ST1A 0.4"),
            SegmentSpec("F2S1", "F2", None, 40, "NAYY 4x120 SE"),
        ),
        connections=(
            ConnectionSpec("C1", "F1", "F1S1", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C2", "F1", "F1S1", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C3", "F2", "F2S1", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C4", "F2", None, 10, "NAYY 4x50 SE"),
        ),
    )
    kw = [10.0, 20.0, -6.0, 4.0]
    flow = solve(network, np.array(kw)[:, None])
    net = run(pp, network, kw).net
    line_loss = 1000 * net.res_line.pl_mw.to_numpy()
    trafo_loss = 1000 * net.res_trafo.pl_mw.iloc[0]
    assert flow.net_kw[:, 0].tolist() == [30.0, -2.0]
    assert flow.losses_kw[:, 0].sum() == pytest.approx(line_loss.sum() + trafo_loss, rel=1e-6)
    # F1's lines are the segment F1S1 and the service cables of C1 and C2 (lines 0, 2, 3).
    f1_lines = line_loss[[0, 2, 3]].sum()
    assert flow.losses_kw[0, 0] == pytest.approx(f1_lines + trafo_loss * 30 / 32, rel=1e-6)
    # Both feeders see their (shared) transformer.
    assert flow.loading_pct[0, 0] == flow.loading_pct[1, 0] > 0


# 3. validate() names what is wrong.


def good():
    return Network(
        transformers=(TransformerSpec("T1", 200), TransformerSpec("T2", 300)),
        feeders=(FeederSpec("F1", "T1"), FeederSpec("F2", "T2")),
        segments=(
            SegmentSpec("S1", "F1", None, 50, "NAYY 4x150 SE"),
            SegmentSpec("S2", "F1", "S1", 50, "NAYY 4x150 SE"),
            SegmentSpec("S3", "F2", None, 50, "48-AL1/8-ST1A 0.4"),
        ),
        connections=(
            ConnectionSpec("C1", "F1", "S2", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C2", "F2", "S3", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C3", "F2", None, 20, "NAYY 4x50 SE"),
        ),
    )


def with_transformer(i, **changes):
    n = good()
    items = list(n.transformers)
    items[i] = replace(items[i], **changes)
    return replace(n, transformers=tuple(items))


def with_feeder(i, **changes):
    n = good()
    items = list(n.feeders)
    items[i] = replace(items[i], **changes)
    return replace(n, feeders=tuple(items))


def with_segment(i, **changes):
    n = good()
    items = list(n.segments)
    items[i] = replace(items[i], **changes)
    return replace(n, segments=tuple(items))


def with_connection(i, **changes):
    n = good()
    items = list(n.connections)
    items[i] = replace(items[i], **changes)
    return replace(n, connections=tuple(items))


def test_a_good_network_validates():
    good().validate()
    assert solve(good(), np.ones((3, 1))).converged.all()


@pytest.mark.parametrize(
    ("network", "key", "why"),
    [
        (with_transformer(1, rating_kva=0), "T2", "rating"),
        (with_transformer(0, rating_kva=-200), "T1", "rating"),
        (with_segment(1, length_m=0), "S2", "length"),
        (with_connection(0, service_length_m=-5), "C1", "length"),
        (with_segment(2, cable_type="NAYY 4x240 SE"), "S3", "cable type"),
        (with_connection(1, service_cable_type="copper"), "C2", "cable type"),
        (with_feeder(1, transformer="T9"), "F2", "unknown transformer"),
        (with_segment(1, upstream="S9"), "S2", "unknown upstream"),
        (with_segment(1, upstream="S3"), "S2", "feeder"),  # S3 is on F2
        (with_segment(0, upstream="S2"), "S1", "loop"),  # S1 -> S2 -> S1
        (with_segment(0, upstream="S1"), "S1", "loop"),
        (with_segment(0, feeder="F7"), "S1", "unknown feeder"),
        (with_connection(2, feeder="F3"), "C3", "unknown feeder"),
        (with_connection(0, segment="S3"), "C1", "feeder"),  # S3 is on F2
        (with_connection(0, segment="S8"), "C1", "unknown segment"),
        (with_connection(1, key="C1"), "C1", "duplicate"),
        (with_segment(2, key="S1"), "S1", "duplicate"),
        (with_transformer(1, key="T1"), "T1", "duplicate"),
        (with_feeder(1, key="F1"), "F1", "duplicate"),
    ],
)
def test_validate_names_the_bad_object(network, key, why):
    with pytest.raises(NetworkError) as raised:
        network.validate()
    assert f"'{key}'" in str(raised.value)
    assert why in str(raised.value)
    with pytest.raises(NetworkError):
        solve(network, np.zeros((len(network.connections), 1)))


def test_a_loop_names_both_segments():
    with pytest.raises(NetworkError, match="S1 -> S2 -> S1"):
        with_segment(0, upstream="S2").validate()


def test_solve_checks_the_load_shape_and_power_factor():
    with pytest.raises(ValueError, match="shaped"):
        solve(good(), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        solve(good(), np.full((3, 1), np.nan))
    with pytest.raises(ValueError, match="power factor"):
        solve(good(), np.zeros((3, 1)), power_factor=1.2)


def test_every_cable_type_is_a_pandapower_line_type(pp):
    net = pp.create_empty_network()
    for std_type, label in CABLE_TYPES.items():
        assert pp.std_type_exists(net, std_type, "line")
        assert label


# 4. A period that cannot converge.


def test_a_period_that_cannot_converge_is_marked_and_the_others_still_solve():
    network = street(homes=3)
    kw = np.array([[1.0, 50_000.0, 2.0, -3.0], [1.5, 1.0, 2.5, -3.0], [0.5, 1.0, 2.0, -3.0]])
    flow = solve(network, kw)
    assert flow.converged[0].tolist() == [True, False, True, True]
    for values in (flow.loading_pct, flow.v_min_pu, flow.v_max_pu, flow.losses_kw):
        assert np.isnan(values[:, 1]).all()
        assert np.isfinite(values[:, [0, 2, 3]]).all()
    assert flow.net_kw[0, 1] == 50_002.0  # the input, still there
    # The periods after the failure are what they would be on their own.
    alone = solve(network, kw[:, 2:])
    assert np.allclose(flow.v_min_pu[:, 2:], alone.v_min_pu, atol=1e-6)
    assert np.allclose(flow.losses_kw[:, 2:], alone.losses_kw, rtol=1e-4)


# 5. The synthetic network and loads.


def test_the_synthetic_network_is_plausible_and_deterministic():
    network = generated_network(101, 4, seed=3)
    network.validate()
    assert network == generated_network(101, 4, seed=3)
    assert network != generated_network(101, 4, seed=4)
    assert len(network.transformers) == 4
    assert len(network.connections) == 101
    assert {t.rating_kva for t in network.transformers} <= {200, 300}
    per_transformer = {t.key: 0 for t in network.transformers}
    feeder_transformer = {f.key: f.transformer for f in network.feeders}
    for c in network.connections:
        per_transformer[feeder_transformer[c.feeder]] += 1
        assert 10 <= c.service_length_m <= 30
        assert c.service_cable_type == "NAYY 4x50 SE"
    assert max(per_transformer.values()) - min(per_transformer.values()) <= 1
    for t in network.transformers:
        assert 2 <= list(feeder_transformer.values()).count(t.key) <= 4
    for f in network.feeders:
        mine = [s for s in network.segments if s.feeder == f.key]
        assert 3 <= len(mine) <= 8
        assert all(30 <= s.length_m <= 80 for s in mine)
        assert len({s.cable_type for s in mine}) == 1
        assert mine[0].cable_type in {"NAYY 4x150 SE", "94-AL1/15-ST1A 0.4"}


def test_the_synthetic_loads_look_like_households():
    network = generated_network(200, 4)
    kw = generated_loads(network, 96)
    assert kw.shape == (200, 96)
    assert np.array_equal(kw, generated_loads(network, 96))
    assert not np.array_equal(kw, generated_loads(network, 96, seed=2))
    night = kw[:, 4:8].mean()  # 02:00-04:00
    evening = kw[:, 36:39].mean()  # 18:00-19:30
    midday = kw[:, 24:28]  # 12:00-14:00
    assert 0.3 < night < 0.7
    assert 1.6 < evening < 2.6
    exporters = midday.mean(axis=1) < -1.5
    assert 0.2 < exporters.mean() < 0.5
    assert -3.5 < midday.min() < -2.0


def test_solve_on_a_synthetic_network_returns_finite_arrays_of_the_right_shape():
    network = generated_network(40, 2)
    flow = solve(network, generated_loads(network, 6, seed=5))
    shape = (len(network.feeders), 6)
    assert flow.feeders == tuple(f.key for f in network.feeders)
    for name in (
        "net_kw",
        "loading_pct",
        "v_min_pu",
        "v_max_pu",
        "reverse_flow_kw",
        "losses_kw",
        "v_min_customer_pu",
        "v_max_customer_pu",
    ):
        values = getattr(flow, name)
        assert values.shape == shape, name
        assert np.isfinite(values).all(), name
    assert flow.converged.shape == shape
    assert flow.converged.all()
    assert (flow.v_min_pu <= flow.v_max_pu).all()
    assert (flow.reverse_flow_kw >= 0).all()


def test_the_cores_import_neither_django_nor_pandapower_until_they_solve():
    code = (
        "import sys, trading.timevalue.grid, trading.timevalue.synthetic;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'pandapower'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

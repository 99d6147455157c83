"""The linearised power flow (lab.core.flow) checked against pandapower's full AC power flow
(trading.timevalue.grid.solve): over a year-like range of loads on a 1,000-connection network, at
no load, on a weak overhead street, on feeders and transformers without connections; and its
shapes, monotonicity and refusals. No database."""

import math

import numpy as np
import pytest

from lab.core.flow import build, check, sample_periods
from trading.timevalue.grid import (
    ConnectionSpec,
    FeederSpec,
    Network,
    SegmentSpec,
    TransformerSpec,
    solve,
)
from trading.timevalue.synthetic import generated_loads, generated_network

TOLERANCE_PCT = 0.5  # the model's target: within 0.5% of pandapower


def year_like_loads(network, days, seed):
    """`days` days spread evenly over a year of generated household loads, scaled to NZ's
    extremes: winter evening peaks of about 4-5 kW per home, summer midday PV export of 3-4 kW."""
    base = generated_loads(network, 48 * days, seed=seed)
    day_of_year = (np.arange(base.shape[1]) // 48) * 365 / days
    winter = np.cos(2 * np.pi * (day_of_year - 172) / 365)  # +1 at the June solstice
    return np.where(base > 0, base * (1.3 + 0.3 * winter), base * (1.2 - 0.1 * winter))


def coincident_extremes(network, seed):
    """Two periods harder than any the generated homes make: every home importing 3-5 kW at
    once, and every home exporting 3-4 kW at once."""
    rng = np.random.default_rng(seed)
    n = len(network.connections)
    return np.column_stack([rng.uniform(3, 5, n), -rng.uniform(3, 4, n)])


def two_feeders():
    """T1 with feeder F1 (two segments, C1 at its far end, C2 midway) and feeder F2 (C3 alone,
    straight off the busbar); T2 with C4, C5 on one segment."""
    return Network(
        transformers=(TransformerSpec("T1", 200), TransformerSpec("T2", 300)),
        feeders=(FeederSpec("F1", "T1"), FeederSpec("F2", "T1"), FeederSpec("F3", "T2")),
        segments=(
            SegmentSpec("S1", "F1", None, 60, "NAYY 4x150 SE"),
            SegmentSpec("S2", "F1", "S1", 60, "NAYY 4x150 SE"),
            SegmentSpec("S3", "F3", None, 80, "94-AL1/15-ST1A 0.4"),
        ),
        connections=(
            ConnectionSpec("C1", "F1", "S2", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C2", "F1", "S1", 15, "NAYY 4x50 SE"),
            ConnectionSpec("C3", "F2", None, 25, "NAYY 4x50 SE"),
            ConnectionSpec("C4", "F3", "S3", 20, "NAYY 4x50 SE"),
            ConnectionSpec("C5", "F3", "S3", 10, "NAYY 4x50 SE"),
        ),
    )


def weak_street(homes=8):
    """A long thin overhead street (15 mm² ACSR, 4 x 100 m) on a 100 kVA transformer: drops of
    several percent, where a purely linear model goes wrong."""
    segments = tuple(
        SegmentSpec(f"S{i}", "F1", f"S{i - 1}" if i > 1 else None, 100, "15-AL1/3-ST1A 0.4")
        for i in range(1, 5)
    )
    return Network(
        transformers=(TransformerSpec("T1", 100),),
        feeders=(FeederSpec("F1", "T1"),),
        segments=segments,
        connections=tuple(
            ConnectionSpec(f"C{i}", "F1", f"S{1 + i % 4}", 20, "NAYY 4x50 SE") for i in range(homes)
        ),
    )


@pytest.fixture(scope="module")
def community():
    """1,000 connections on 40 transformers, its model, and 4 weeks of loads spread over a year
    with the two coincident extremes after them."""
    network = generated_network(1000, 40, seed=1)
    loads = np.concatenate(
        [year_like_loads(network, 28, seed=1), coincident_extremes(network, seed=7)], axis=1
    )
    return network, build(network), loads


# 1. Within 0.5% of pandapower.


def test_matches_pandapower_over_a_years_range_of_loads(community):
    network, flow, loads = community
    periods = sample_periods(loads, 48, seed=0)
    totals = loads.sum(axis=0)
    assert {int(np.argmax(totals)), int(np.argmin(totals))} <= set(periods.tolist())
    # The range really is a year's: heavy import and heavy export, a loaded transformer.
    sampled = flow.solve(loads[:, periods])
    assert sampled.loading_pct.max() > 45
    assert sampled.reverse_flow_kw.max() > 60
    assert sampled.v_max_customer_pu.max() > 1.05

    report = check(network, flow, loads, samples=48, seed=0)
    assert report["periods_checked"] == 48
    assert report["max_voltage_error_pct"] < TOLERANCE_PCT
    assert report["max_loading_error_pct"] < TOLERANCE_PCT
    assert report["max_loading_error_points"] < TOLERANCE_PCT
    assert report["max_reverse_flow_error_kw"] < 0.1
    assert report["max_losses_error_kw"] < 0.1
    assert report["seconds_full"] > 0
    assert report["seconds_linear"] > 0


def test_matches_pandapower_on_a_weak_overhead_street():
    network = weak_street()
    rng = np.random.default_rng(3)
    loads = np.concatenate(
        [rng.uniform(3, 6, (8, 6)), -rng.uniform(3, 4, (8, 6)), rng.uniform(-4, 6, (8, 12))],
        axis=1,
    )
    full = solve(network, loads)
    assert full.v_min_pu.min() < 0.92  # a real drop: 8% and more
    report = check(network, build(network), loads, samples=24)
    assert report["periods_checked"] == 24
    assert report["max_voltage_error_pct"] < TOLERANCE_PCT
    assert report["max_loading_error_pct"] < TOLERANCE_PCT


def test_an_operating_point_and_another_power_factor_stay_within_tolerance():
    network = weak_street()
    loads = np.random.default_rng(4).uniform(-4, 6, (8, 16))
    seeded = build(network, power_factor=0.9, operating_kw=np.full(8, 3.0))
    report = check(network, seeded, loads, samples=16)
    assert report["max_voltage_error_pct"] < TOLERANCE_PCT
    assert report["max_loading_error_pct"] < TOLERANCE_PCT
    # The result hardly depends on where the load currents are first evaluated.
    plain = build(network, power_factor=0.9)
    assert seeded.solve(loads).v_min_pu == pytest.approx(plain.solve(loads).v_min_pu, rel=1e-4)


# 2. FlowResults as grid.solve gives them.


def test_shapes_feeder_order_and_every_value_match_grid_solve():
    network = two_feeders()
    loads = np.random.default_rng(5).uniform(-4, 5, (5, 7))
    flow = build(network)
    linear, full = flow.solve(loads), solve(network, loads)
    assert linear.feeders == full.feeders == ("F1", "F2", "F3")
    for name in (
        "net_kw",
        "loading_pct",
        "v_min_pu",
        "v_max_pu",
        "reverse_flow_kw",
        "losses_kw",
        "converged",
        "v_min_customer_pu",
        "v_max_customer_pu",
    ):
        assert getattr(linear, name).shape == getattr(full, name).shape == (3, 7), name
    assert linear.converged.all()
    assert np.array_equal(linear.net_kw, full.net_kw)
    assert linear.v_min_pu == pytest.approx(full.v_min_pu, rel=1e-5)
    assert linear.v_max_customer_pu == pytest.approx(full.v_max_customer_pu, rel=1e-5)
    assert linear.loading_pct == pytest.approx(full.loading_pct, rel=1e-4)
    assert linear.reverse_flow_kw == pytest.approx(full.reverse_flow_kw, abs=1e-3)
    assert linear.losses_kw == pytest.approx(full.losses_kw, abs=1e-3)

    by_transformer = flow.transformer_loading_pct(loads)
    assert by_transformer.shape == (2, 7)  # Network.transformers order: T1, T2
    assert np.array_equal(by_transformer[0], linear.loading_pct[0])
    assert np.array_equal(by_transformer[0], linear.loading_pct[1])
    assert np.array_equal(by_transformer[1], linear.loading_pct[2])


def test_a_feeder_or_transformer_without_connections_reports_its_busbar():
    base = two_feeders()
    network = Network(
        transformers=(*base.transformers, TransformerSpec("T3", 200)),
        feeders=(*base.feeders, FeederSpec("F4", "T1"), FeederSpec("F5", "T3")),
        segments=(*base.segments, SegmentSpec("S4", "F4", None, 50, "NAYY 4x150 SE")),
        connections=base.connections,
    )
    loads = np.random.default_rng(6).uniform(0, 5, (5, 3))
    linear, full = build(network).solve(loads), solve(network, loads)
    assert linear.feeders[3:] == ("F4", "F5")
    assert linear.v_min_pu == pytest.approx(full.v_min_pu, rel=1e-5)
    assert linear.v_max_pu[3:] == pytest.approx(full.v_max_pu[3:], rel=1e-5)
    assert linear.loading_pct[4] == pytest.approx(full.loading_pct[4], rel=1e-4)  # no load: 0.3%
    assert linear.losses_kw == pytest.approx(full.losses_kw, abs=1e-3)


def test_no_periods_give_empty_results():
    flow = build(two_feeders())
    results = flow.solve(np.zeros((5, 0)))
    assert results.v_min_pu.shape == (3, 0)
    assert flow.transformer_loading_pct(np.zeros((5, 0))).shape == (2, 0)


# 3. Physics: no load, and more import.


def test_no_load_gives_pandapowers_no_load_voltages_near_one_pu():
    network = two_feeders()
    zero = np.zeros((5, 2))
    linear, full = build(network).solve(zero), solve(network, zero)
    assert linear.v_min_pu == pytest.approx(full.v_min_pu, abs=1e-7)
    assert linear.v_max_pu == pytest.approx(full.v_max_pu, abs=1e-7)
    assert np.abs(linear.v_min_pu - 1).max() < 1e-3
    # A 0.415 kV transformer holds its customers at about 0.415 / 0.400 of 230 V.
    assert linear.v_min_customer_pu == pytest.approx(0.415 / 0.400, abs=2e-3)
    assert linear.loading_pct == pytest.approx(full.loading_pct, abs=1e-4)  # grid: 1 W tolerance
    assert (linear.loading_pct < 0.5).all()  # the magnetising current alone
    assert linear.reverse_flow_kw == pytest.approx(0, abs=1e-9)


def test_more_import_at_a_connection_lowers_its_voltage_and_raises_loading():
    network = two_feeders()
    flow = build(network)
    c3, f2, t1 = 2, 1, 0  # C3 is F2's only connection, so F2's voltage is its own
    import_kw = np.linspace(0.5, 8.0, 16)
    loads = np.ones((5, len(import_kw)))
    loads[c3] = import_kw
    results = flow.solve(loads)
    assert (np.diff(results.v_min_pu[f2]) < 0).all()
    assert (np.diff(results.v_min_pu[0]) < 0).all()  # the shared transformer drops F1 too
    assert (np.diff(flow.transformer_loading_pct(loads)[t1]) > 0).all()
    assert np.array_equal(results.v_min_pu[2], np.full(16, results.v_min_pu[2, 0]))  # T2 apart

    # On the generated network too: each of a few connections, from a net-importing evening.
    big = generated_network(120, 4, seed=2)
    big_flow = build(big)
    evening = generated_loads(big, 48, seed=2)[:, [37]]  # 18:30
    feeder_row = {f.key: i for i, f in enumerate(big.feeders)}
    for k in (0, 31, 77, 119):
        more = np.repeat(evening, 2, axis=1)
        more[k, 1] += 3.0
        results = big_flow.solve(more)
        row = feeder_row[big.connections[k].feeder]
        assert results.v_min_pu[row, 1] < results.v_min_pu[row, 0]
        assert results.loading_pct[row, 1] > results.loading_pct[row, 0]


# 4. Refusals and sampling.


def test_a_bad_net_kw_is_refused_with_the_shape_wanted():
    flow = build(two_feeders())
    for bad in (np.zeros((4, 3)), np.zeros(5), np.zeros((5, 2, 1))):
        with pytest.raises(ValueError, match=r"net_kw must be shaped \(connections=5, periods\)"):
            flow.solve(bad)
        with pytest.raises(ValueError, match=r"net_kw must be shaped \(connections=5, periods\)"):
            flow.transformer_loading_pct(bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        flow.solve(np.full((5, 2), math.nan))


def test_bad_build_arguments_are_refused():
    network = two_feeders()
    with pytest.raises(ValueError, match=r"power factor 1\.2 is not in"):
        build(network, power_factor=1.2)
    with pytest.raises(ValueError, match="operating_kw must be 5 finite kW values"):
        build(network, operating_kw=np.zeros(4))
    with pytest.raises(ValueError, match="built for another network"):
        check(weak_street(), build(network), np.zeros((8, 2)))


def test_sample_periods_keep_the_extremes_and_time_order():
    loads = np.random.default_rng(8).normal(size=(3, 100))
    periods = sample_periods(loads, 10, seed=1)
    totals = loads.sum(axis=0)
    assert len(periods) == len(set(periods.tolist())) == 10
    assert (np.diff(periods) > 0).all()
    assert {int(np.argmax(totals)), int(np.argmin(totals))} <= set(periods.tolist())
    assert sample_periods(loads[:, :5], 48, seed=1).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="samples must be >= 1"):
        sample_periods(loads, 0, seed=1)

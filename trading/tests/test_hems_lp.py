"""The home energy manager's plan LP (trading.hems.lp): a hand case, the dual's sign, property
tests against the self-consumption baseline and the limits, the fallbacks, and batching."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.hems import lp, synthetic
from trading.hems.lp import EVSession, Home

TOL = 1e-6  # kWh on limits
WH = 0.0005  # kWh: the energy balance to the Wh


def night_then_evening(**overrides) -> Home:
    """24 half hours: 8 cheap night (10 c), 8 shoulder (20 c), 8 evening (40 c); sell 5 c;
    0.5 kWh load each half hour; a 10 kWh / 5 kW battery starting at its 1 kWh reserve."""
    buy = np.repeat([10.0, 20.0, 40.0], 8)
    fields: dict[str, Any] = {
        "key": "hand",
        "load_kwh": np.full(24, 0.5),
        "pv_kwh": np.zeros(24),
        "buy_c": buy,
        "sell_c": np.full(24, 5.0),
        "battery_kwh": 10.0,
        "battery_kw": 5.0,
        "reserve_kwh": 1.0,
        "soc_kwh": 1.0,
    }
    fields.update(overrides)
    return Home(**fields)


def balance_residual(home: Home, p: lp.Plan) -> np.ndarray:
    return (
        home.load_kwh
        + p.charge
        + p.ev
        + p.grid_export
        + p.curtail
        - home.pv_kwh
        - p.discharge
        - p.grid_import
    )


def assert_within_limits(home: Home, p: lp.Plan) -> None:
    half = 0.5
    for flow in (p.charge, p.discharge, p.ev, p.grid_import, p.grid_export, p.curtail):
        assert flow.shape == (home.periods,)
        assert (flow >= -TOL).all()
    assert p.soc.shape == (home.periods + 1,)
    assert p.soc[0] == pytest.approx(home.soc_kwh if home.has_battery else 0.0)
    assert (p.charge <= home.battery_kw * half + TOL).all()
    assert (p.discharge <= home.battery_kw * half + TOL).all()
    if home.has_battery:
        floor = min(home.reserve_kwh, home.soc_kwh)
        assert (p.soc[1:] >= floor - TOL).all()
        assert (p.soc <= home.battery_kwh + TOL).all()
        # The battery balance: s[t] = s[t-1] + eta*c - d/eta.
        eta = home.eta
        np.testing.assert_allclose(
            np.diff(p.soc), eta * p.charge - p.discharge / eta, atol=WH, rtol=0
        )
        if not home.may_export_battery:
            assert (p.discharge <= home.load_kwh + p.ev + TOL).all()
    else:
        assert not p.charge.any()
        assert not p.discharge.any()
    assert (p.grid_import <= home.fuse_kw * half + TOL).all()
    assert (p.grid_export <= home.export_kw * half + TOL).all()
    assert (p.curtail <= np.clip(home.pv_kwh, 0, None) + TOL).all()
    assert (p.ev <= home.ev_kw * half * home.plugged() + TOL).all()
    assert np.abs(balance_residual(home, p)).max() < WH


# The hand case


def test_hand_case_charges_at_night_and_discharges_in_the_evening():
    home = night_then_evening()
    p = lp.plan(home)
    assert p.status == "optimal"
    assert p.reason == ""
    assert_within_limits(home, p)
    assert p.charge[:8].sum() > 5  # most of the evening's 4 kWh (and more) bought at 10 c
    assert not p.charge[8:].any()
    assert p.discharge[16:].sum() == pytest.approx(4.0, abs=1e-6)  # the whole evening
    assert p.grid_import[16:].sum() == pytest.approx(0.0, abs=1e-6)
    assert p.cost_c < p.baseline_cost_c
    assert p.saving_c == pytest.approx(p.baseline_cost_c - p.cost_c)
    # Baseline: no PV, so the battery never charges and everything is bought: 4*(10+20+40).
    assert p.baseline_cost_c == pytest.approx(280.0)
    # Held through the night and the shoulder: worth more than night energy, less than evening.
    held = p.hold_value_c[:16]
    assert ((held > 10) & (held < 40)).all()
    eta = home.eta
    # While charging, a stored kWh is worth what it costs to store: (10 c + wear) / eta.
    assert p.hold_value_c[0] == pytest.approx((10 + home.wear_c) / eta, rel=1e-6)
    np.testing.assert_allclose(p.offer_floor_c, p.hold_value_c / eta + home.wear_c)
    np.testing.assert_allclose(p.bid_cap_c, p.hold_value_c * eta - home.wear_c)


def test_hold_value_near_the_later_price_when_the_battery_runs_short_in_the_evening():
    """Cheap (10 c) for 16 half hours, then dear (40 c); a 2 kWh battery runs out early in the
    evening. A kWh in the battery in the evening displaces a 40 c kWh, less wear and losses:
    (40 - wear)*eta, near the later price. At night it is worth what storing one costs."""
    buy = np.r_[np.full(16, 10.0), np.full(8, 40.0)]
    home = night_then_evening(buy_c=buy, battery_kwh=2.0, reserve_kwh=0.0, soc_kwh=0.0)
    p = lp.plan(home)
    assert p.status == "optimal"
    assert p.soc[16] == pytest.approx(2.0)
    eta = home.eta
    np.testing.assert_allclose(p.hold_value_c[16:], (40 - home.wear_c) * eta, rtol=1e-6)
    assert (p.hold_value_c[16:] > 35).all()
    np.testing.assert_allclose(p.hold_value_c[:16], (10 + home.wear_c) / eta, rtol=1e-6)


def test_dual_sign_matches_a_finite_difference_of_the_objective():
    """hold_value_c[0] is minus d(objective)/d(s0): one more kWh at the start is worth it."""
    home = night_then_evening()
    more = night_then_evening(soc_kwh=1.01)
    base, bumped = lp.plan(home), lp.plan(more)
    slope = (lp.objective_c(more, bumped) - lp.objective_c(home, base)) / 0.01
    assert slope < 0
    assert -slope == pytest.approx(base.hold_value_c[0], rel=1e-6)


def test_no_battery_no_ev_home():
    home = Home(
        key="plain",
        load_kwh=np.full(6, 0.6),
        pv_kwh=np.array([0, 1.5, 2.0, 1.0, 0, 0]),
        buy_c=np.full(6, 30.0),
        sell_c=np.full(6, 10.0),
    )
    p = lp.plan(home)
    assert p.status == "optimal"
    assert_within_limits(home, p)
    assert not p.hold_value_c.any()
    assert p.cost_c == pytest.approx(p.baseline_cost_c)
    np.testing.assert_allclose(p.grid_import, [0.6, 0, 0, 0, 0.6, 0.6], atol=1e-9)


def test_a_battery_below_its_reserve_stays_feasible():
    home = night_then_evening(soc_kwh=0.2, reserve_kwh=2.0)
    p = lp.plan(home)
    assert p.status == "optimal"
    assert_within_limits(home, p)
    assert (p.soc >= 0.2 - TOL).all()


def test_pv_beyond_the_export_limit_is_curtailed_not_infeasible():
    home = Home(
        key="sunny",
        load_kwh=np.full(4, 0.2),
        pv_kwh=np.full(4, 4.0),
        buy_c=np.full(4, 30.0),
        sell_c=np.full(4, 10.0),
        export_kw=2.0,
    )
    p = lp.plan(home)
    assert p.status == "optimal"
    assert_within_limits(home, p)
    np.testing.assert_allclose(p.grid_export, 1.0)
    np.testing.assert_allclose(p.curtail, 2.8)


def test_an_unmeetable_ev_need_is_missed_as_little_as_possible():
    home = Home(
        key="ev",
        load_kwh=np.full(8, 0.3),
        pv_kwh=np.zeros(8),
        buy_c=np.full(8, 30.0),
        sell_c=np.full(8, 10.0),
        ev_kw=7.0,
        ev_sessions=(EVSession(start=2, end=6, need_kwh=20.0),),
    )
    p = lp.plan(home)
    assert p.status == "optimal"
    assert_within_limits(home, p)
    assert p.ev[2:6] == pytest.approx(np.full(4, 3.5))
    assert p.ev_short_kwh == pytest.approx(6.0)


# Property tests


@st.composite
def random_home(draw) -> Home:
    t = draw(st.integers(1, 24))
    floats = st.floats
    sell = np.array(draw(st.lists(floats(0, 30), min_size=t, max_size=t)))
    spread = np.array(draw(st.lists(floats(0, 40), min_size=t, max_size=t)))
    load = np.array(draw(st.lists(floats(0, 1.5), min_size=t, max_size=t)))
    pv = np.array(draw(st.lists(floats(0, 2.5), min_size=t, max_size=t)))
    fields: dict = {}
    if draw(st.booleans()):
        capacity = draw(floats(0.5, 15))
        fields.update(
            battery_kwh=capacity,
            battery_kw=draw(floats(0, 6)),
            round_trip=draw(floats(0.7, 1.0)),
            reserve_kwh=capacity * draw(floats(0, 0.5)),
            soc_kwh=capacity * draw(floats(0, 1)),  # below the reserve now and then
            may_export_battery=draw(st.booleans()),
        )
    if draw(st.booleans()):
        # Up to two sessions, not overlapping: cut the horizon at a point.
        cut = draw(st.integers(0, t))
        sessions = []
        for lo, hi in ((0, cut), (cut, t)):
            if hi > lo and draw(st.booleans()):
                a = draw(st.integers(lo, hi - 1))
                b = draw(st.integers(a + 1, hi))
                sessions.append(EVSession(a, b, draw(floats(0, 20))))
        fields.update(ev_kw=draw(floats(0, 7.4)), ev_sessions=tuple(sessions))
    return Home(
        key="random",
        load_kwh=load,
        pv_kwh=pv,
        buy_c=sell + spread,
        sell_c=sell,
        export_kw=draw(floats(0, 10)),
        wear_c=draw(floats(0, 5)),
        end_value_c=draw(st.none() | floats(0, 30)),
        **fields,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(home=random_home())
def test_plan_is_feasible_and_never_worse_than_self_consumption(home):
    """The self-consumption schedule is feasible in the LP (it keeps every limit, the reserve
    it discharges to is at least the LP's floor min(reserve, s0), its discharge covers a deficit
    so d <= load + e, and its shortfall is the u it needs), so the LP's optimum is at most the
    baseline's objective: cost + wear*throughput + penalty*shortfall - end_value*s[T].
    Rearranged, the plan's energy cost is at most the baseline's plus the differences of those
    other terms; the energy cost alone may be higher (e.g. the plan keeps more energy stored).
    """
    p = lp.plan(home)
    base = lp.self_consumption(home)
    assert p.status == "optimal", p.reason
    assert_within_limits(home, p)
    assert_within_limits(home, base)
    assert p.baseline_cost_c == pytest.approx(base.cost_c)

    objective, baseline_objective = lp.objective_c(home, p), lp.objective_c(home, base)
    # HiGHS keeps the constraints to about 1e-7 kWh, and an EV short by that much costs the
    # penalty (1000 c/kWh) on it: the slack allows that, and a relative 1e-6.
    slack = 1e-6 * (1 + abs(baseline_objective)) + 1e-6 * home.penalty_c
    assert objective <= baseline_objective + slack

    def throughput(x: lp.Plan) -> float:
        return float(x.charge.sum() + x.discharge.sum())

    allowance = (
        home.wear_c * (throughput(base) - throughput(p))
        + home.penalty_c * (base.ev_short_kwh - p.ev_short_kwh)
        - home.end_value * (base.soc[-1] - p.soc[-1])
    )
    assert p.cost_c <= p.baseline_cost_c + allowance + slack

    # Feasible EV targets are met: each session fits (need <= ev_kw/2 * its length), the fuse
    # (7.5 kWh a half hour) exceeds load + EV, and the penalty exceeds any price.
    for s in home.ev_sessions:
        if s.need_kwh <= home.ev_kw * 0.5 * (s.end - s.start):
            assert p.ev[s.start : s.end].sum() >= s.need_kwh - 1e-6
    if all(s.need_kwh <= home.ev_kw * 0.5 * (s.end - s.start) for s in home.ev_sessions):
        assert p.ev_short_kwh < 1e-6

    # The hold value may be negative: a full battery that must get rid of an extra kWh pays
    # wear to do so. It is always a finite price, and the offer and bid follow from it.
    assert np.isfinite(p.hold_value_c).all()
    if not home.has_battery:
        assert not p.hold_value_c.any()
    np.testing.assert_allclose(p.offer_floor_c, p.hold_value_c / home.eta + home.wear_c)
    np.testing.assert_allclose(p.bid_cap_c, p.hold_value_c * home.eta - home.wear_c)


@settings(max_examples=40, deadline=None)
@given(home=random_home())
def test_a_battery_that_may_not_export_only_serves_the_home(home):
    if not home.has_battery:
        return
    home = Home(**{**home.__dict__, "may_export_battery": False})
    for p in (lp.plan(home), lp.self_consumption(home)):
        assert (p.discharge <= home.load_kwh + p.ev + TOL).all()


# Fallbacks


def test_a_timed_out_solve_falls_back_to_self_consumption():
    home = night_then_evening()
    p = lp.plan(home, time_limit=1e-9)
    assert p.status == "fallback"
    assert "Time limit" in p.reason
    base = lp.self_consumption(home)
    for name in ("charge", "discharge", "ev", "grid_import", "grid_export", "soc"):
        np.testing.assert_array_equal(getattr(p, name), getattr(base, name))
    assert p.cost_c == p.baseline_cost_c == base.cost_c
    assert p.saving_c == 0


def test_absurd_inputs_fall_back_with_a_reason():
    # 50 kWh in a 10 kWh battery that cannot discharge: no feasible plan.
    stuck = night_then_evening(key="stuck", soc_kwh=50.0, battery_kw=0.0)
    p = lp.plan(stuck)
    assert p.status == "fallback"
    assert "infeasible" in p.reason.lower()
    # A price that is not a number: linprog refuses the problem.
    nan = night_then_evening(key="nan", buy_c=np.r_[np.nan, np.full(23, 10.0)])
    p = lp.plan(nan)
    assert p.status == "fallback"
    assert p.reason


@pytest.mark.parametrize("batched", [False, True])
def test_one_bad_home_leaves_the_others_alone(batched):
    good = synthetic.homes(6, 48, seed=3)
    bad = night_then_evening(key="bad", sell_c=np.r_[np.full(23, 5.0), np.inf])
    homes = [*good[:3], bad, *good[3:]]
    plans = lp.plan_many(homes, batched=batched)
    assert [p.key for p in plans] == [h.key for h in homes]
    assert plans[3].status == "fallback"
    assert plans[3].reason
    for home, p in zip(good, plans[:3] + plans[4:], strict=True):
        assert p.status == "optimal"
        assert p.cost_c == pytest.approx(lp.plan(home).cost_c, rel=1e-6, abs=1e-6)


def test_an_empty_horizon_has_nothing_to_plan():
    home = Home(key="empty", load_kwh=[], pv_kwh=[], buy_c=[], sell_c=[], battery_kwh=5.0)
    for p in (lp.plan(home), *lp.plan_many([home, home], batched=True)):
        assert p.status == "optimal"
        assert p.charge.shape == (0,)
        assert p.cost_c == 0


def test_malformed_homes_are_refused_at_construction():
    with pytest.raises(ValueError, match="differ in length"):
        Home(key="x", load_kwh=np.zeros(3), pv_kwh=np.zeros(2), buy_c=[1, 1, 1], sell_c=[0] * 3)
    with pytest.raises(ValueError, match="round_trip"):
        night_then_evening(round_trip=0.0)


# Batching and the synthetic homes


def test_batched_and_per_home_plans_cost_the_same():
    homes = synthetic.homes(40, 96, seed=7)
    alone = lp.plan_many(homes)
    together = lp.plan_many(homes, batched=True)
    assert all(p.status == "optimal" for p in alone + together)
    for home, a, b in zip(homes, alone, together, strict=True):
        assert b.key == a.key == home.key
        scale = 1 + abs(a.cost_c)
        assert abs(a.cost_c - b.cost_c) <= 1e-6 * scale
        assert a.baseline_cost_c == b.baseline_cost_c
        assert_within_limits(home, b)
        # The optimum is the same; the schedule need not be (ties), the objective is.
        assert lp.objective_c(home, a) == pytest.approx(lp.objective_c(home, b), rel=1e-6)


def test_synthetic_homes_are_plausible_and_deterministic():
    homes = synthetic.homes(400, 96, seed=11)
    again = synthetic.homes(400, 96, seed=11)
    assert all(np.array_equal(a.load_kwh, b.load_kwh) for a, b in zip(homes, again, strict=True))
    assert 0.5 < np.mean([h.pv_kwh.max() > 0 for h in homes]) < 0.7
    assert 0.32 < np.mean([h.has_battery for h in homes]) < 0.48
    assert 0.13 < np.mean([bool(h.ev_sessions) for h in homes]) < 0.27
    for h in homes:
        assert (h.buy_c >= h.sell_c).all()
        assert h.load_kwh.min() >= 0.15
        assert h.load_kwh.max() <= 1.3
        assert h.pv_kwh.max() <= 8 * 0.5
        for s in h.ev_sessions:
            assert 0 <= s.start < s.end <= 96
            assert s.need_kwh <= h.ev_kw * 0.5 * (s.end - s.start)
    plans = lp.plan_many(homes[:30])
    assert all(p.status == "optimal" for p in plans)
    assert all(p.ev_short_kwh < 1e-6 for p in plans)
    assert sum(p.saving_c for p in plans) > 0
    assert math.isfinite(sum(p.cost_c for p in plans))

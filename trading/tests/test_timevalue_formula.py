"""The time-value price formula: the document's defaults, hand-computed values, the monotonicity
a distributor relies on (for any valid parameters), parameter checks and revenue neutrality."""

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trading.timevalue.formula import (
    ParameterError,
    PriceParameters,
    Signal,
    export_credit,
    import_price,
    revenue_neutral_adjustment,
    signal,
)

DEFAULTS = PriceParameters()


def quiet(shape=(3,)):
    """A network with nothing to say: half loaded, voltages inside 0.96-1.04, no reverse flow."""
    return signal(np.full(shape, 0.5), np.full(shape, 0.97), np.full(shape, 1.03), 0.0, DEFAULTS)


# --- the document's defaults ------------------------------------------------------------------


def test_a_quiet_network_prices_at_base_and_credits_only_the_rebate():
    base = np.array([4.25, 11.0, 27.5])
    rebate = np.array([0.0, 0.0, 6.0])
    sig = signal(
        np.array([0.5, 0.0, 0.7]),  # at theta exactly: still nothing
        np.array([0.96, 1.0, 0.97]),
        np.array([1.04, 1.0, 0.99]),
        np.array([0.0, 0.2, 0.1]),  # up to rho: nothing
        DEFAULTS,
    )
    np.testing.assert_array_equal(sig.total, 0.0)
    np.testing.assert_array_equal(import_price(base, sig, DEFAULTS), base)
    np.testing.assert_array_equal(export_credit(sig, rebate), rebate)


@pytest.mark.parametrize(
    ("inputs", "term", "value"),
    [
        ({"loading": 0.85}, "congestion", 40 * (0.15 / 0.30) ** 2),  # 10 c
        ({"loading": 1.0}, "congestion", 40.0),  # full rating: the whole Kc
        ({"v_min": 0.95}, "sag", 10.0),  # halfway from 0.96 to 0.94
        ({"v_min": 0.94}, "sag", 20.0),  # the statutory limit: the whole Kv
        ({"reverse": 0.6}, "flood", 8 * (0.4 / 0.8)),  # 4 c
        ({"v_max": 1.05}, "swell", 4.0),  # halfway from 1.04 to 1.06
    ],
)
def test_each_term_by_hand(inputs, term, value):
    flow = {"loading": 0.5, "v_min": 1.0, "v_max": 1.0, "reverse": 0.0} | inputs
    sig = signal(**{k: np.array([v]) for k, v in flow.items()}, params=DEFAULTS)
    for name in ("congestion", "sag", "flood", "swell"):
        expected = value if name == term else 0.0
        assert getattr(sig, name)[0] == pytest.approx(expected, abs=1e-12), name
    sign = -1 if term in ("flood", "swell") else 1
    assert sig.total[0] == pytest.approx(sign * value)
    assert import_price(np.array([20.0]), sig, DEFAULTS)[0] == pytest.approx(20.0 + sign * value)
    credit = export_credit(sig, np.array([1.5]))[0]
    assert credit == pytest.approx(1.5 + max(0.0, sign * value))


def test_the_terms_add_up_and_the_price_clamps():
    sig = signal(
        np.array([0.85, 0.85, 2.0, 0.0]),
        np.array([0.95, 0.95, 0.90, 1.0]),
        np.array([1.05, 1.05, 1.0, 1.10]),  # 1.10 pu: swell 8 * 0.06 / 0.02 = 24 c
        np.array([0.6, 0.6, 0.0, 1.0]),
        DEFAULTS,
    )
    np.testing.assert_allclose(sig.total, [12.0, 12.0, 40 * (1.3 / 0.3) ** 2 + 60.0, -32.0])
    base = np.array([20.0, 95.0, 30.0, 5.0])
    np.testing.assert_allclose(import_price(base, sig, DEFAULTS), [32.0, 100.0, 100.0, -10.0])
    np.testing.assert_allclose(
        import_price(base, sig, DEFAULTS, adjust_c=-3.0), [29.0, 100.0, 100.0, -10.0]
    )
    np.testing.assert_allclose(export_credit(sig, 2.0), [14.0, 14.0, sig.total[2] + 2.0, 2.0])


def test_inputs_broadcast_and_the_signal_is_read_only():
    sig = signal(np.linspace(0.5, 1.0, 6).reshape(2, 3), 0.97, 1.0, 0.0, DEFAULTS)
    assert sig.congestion.shape == sig.sag.shape == sig.total.shape == (2, 3)
    with pytest.raises(ValueError, match="read-only"):
        sig.congestion[0, 0] = 1.0
    assert import_price(10.0, sig, DEFAULTS).shape == (2, 3)


@pytest.mark.parametrize("bad", ["loading", "v_min", "v_max", "reverse"])
def test_a_failed_power_flow_is_refused_not_priced(bad):
    flow = {"loading": [0.5, 0.6], "v_min": 1.0, "v_max": 1.0, "reverse": 0.0}
    flow[bad] = [0.5, np.nan]
    with pytest.raises(ValueError, match=rf"^{bad} has 1 value"):
        signal(**flow, params=DEFAULTS)


def test_inputs_that_do_not_share_a_shape_are_refused():
    with pytest.raises(ValueError, match="do not share one shape"):
        signal(np.zeros(3), np.ones(4), 1.0, 0.0, DEFAULTS)


# --- monotonicity, for any valid parameters ---------------------------------------------------


@st.composite
def valid_params(draw):
    in_band = st.floats(0.94, 1.06, exclude_min=True, exclude_max=True)
    v_lo, v_hi = sorted((draw(in_band), draw(in_band)))
    assume(v_lo < v_hi)
    floor = draw(st.floats(-100.0, 100.0))
    params = PriceParameters(
        theta=draw(st.floats(0.0, 1.0, exclude_max=True)),
        n=draw(st.floats(0.0, 6.0, exclude_min=True)),
        kc=draw(st.floats(0.0, 500.0)),
        v_lo=v_lo,
        kv=draw(st.floats(0.0, 500.0)),
        rho=draw(st.floats(0.0, 1.0, exclude_max=True)),
        ks=draw(st.floats(0.0, 500.0)),
        v_hi=v_hi,
        kh=draw(st.floats(0.0, 500.0)),
        floor_c=floor,
        cap_c=floor + draw(st.floats(0.01, 300.0)),
    )
    params.validate()
    return params


def ascending(low, high):
    return st.lists(st.floats(low, high), min_size=2, max_size=12).map(sorted).map(np.array)


loading_st = st.floats(0.0, 3.0)
v_min_st = st.floats(0.80, 1.10)
v_max_st = st.floats(0.90, 1.20)
reverse_st = st.floats(0.0, 2.0)
base_st = st.floats(-50.0, 150.0)
adjust_st = st.floats(-50.0, 50.0)
PROPERTY = settings(max_examples=120, deadline=None)


@PROPERTY
@given(valid_params(), ascending(0.0, 3.0), v_min_st, v_max_st, reverse_st, base_st, adjust_st)
def test_the_price_never_falls_as_loading_rises(p, loadings, v_min, v_max, reverse, base, adjust):
    sig = signal(loadings, v_min, v_max, reverse, p)
    assert (np.diff(import_price(base, sig, p, adjust)) >= 0).all()


@PROPERTY
@given(valid_params(), ascending(0.80, 1.10), loading_st, v_max_st, reverse_st, base_st, adjust_st)
def test_the_price_never_falls_as_the_voltage_sags(
    p, v_mins, loading, v_max, reverse, base, adjust
):
    sig = signal(loading, v_mins[::-1], v_max, reverse, p)  # Vmin falling along the array
    assert (np.diff(import_price(base, sig, p, adjust)) >= 0).all()


@PROPERTY
@given(valid_params(), ascending(0.0, 2.0), loading_st, v_min_st, v_max_st, base_st, adjust_st)
def test_the_price_never_rises_as_reverse_flow_rises(
    p, reverses, loading, v_min, v_max, base, adjust
):
    sig = signal(loading, v_min, v_max, reverses, p)
    assert (np.diff(import_price(base, sig, p, adjust)) <= 0).all()


@PROPERTY
@given(valid_params(), ascending(0.90, 1.20), loading_st, v_min_st, reverse_st, base_st, adjust_st)
def test_the_price_never_rises_as_the_voltage_swells(
    p, v_maxs, loading, v_min, reverse, base, adjust
):
    sig = signal(loading, v_min, v_maxs, reverse, p)
    assert (np.diff(import_price(base, sig, p, adjust)) <= 0).all()


@PROPERTY
@given(valid_params(), ascending(0.0, 3.0), v_min_st, v_max_st, reverse_st, st.floats(0.0, 20.0))
def test_the_export_credit_never_falls_as_loading_rises(p, loadings, v_min, v_max, reverse, rebate):
    sig = signal(loadings, v_min, v_max, reverse, p)
    credit = export_credit(sig, rebate)
    assert (np.diff(credit) >= 0).all()
    assert (credit >= rebate).all()


# --- parameter checks -------------------------------------------------------------------------


def test_the_defaults_and_a_gentle_exponent_are_accepted():
    assert DEFAULTS.validate() is None
    PriceParameters(n=0.5, theta=0.0, rho=0.0, kc=0.0, kv=0.0, ks=0.0, kh=0.0).validate()
    PriceParameters(v_lo=0.941, v_hi=1.059).validate()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"kc": -1.0}, "kc", "price fall as the transformer fills"),
        ({"kv": -0.5}, "kv", "price fall as the voltage sags"),
        ({"ks": -1.0}, "ks", "Ks must be 0 or more"),
        ({"kh": -1.0}, "kh", "Kh must be 0 or more"),
        ({"n": 0.0}, "n", "more than 0"),
        ({"n": -1.0}, "n", "falls as the transformer fills"),
        ({"theta": 1.0}, "theta", "below 1"),
        ({"theta": -0.1}, "theta", "at least 0"),
        ({"rho": 1.0}, "rho", "below 1"),
        ({"rho": -0.01}, "rho", "at least 0"),
        ({"v_lo": 0.94}, "v_lo", "above 0.94"),
        ({"v_lo": 0.90}, "v_lo", "above 0.94"),
        ({"v_lo": 1.06, "v_hi": 1.05}, "v_lo", "below 1.06"),
        ({"v_hi": 1.06}, "v_hi", "below 1.06"),
        ({"v_hi": 0.94}, "v_hi", "above 0.94"),
        ({"v_lo": 1.0, "v_hi": 0.99}, "v_hi", "above the sag threshold"),
        ({"v_lo": 1.0, "v_hi": 1.0}, "v_hi", "above the sag threshold"),
        ({"floor_c": 100.0}, "floor_c", "below the price cap"),
        ({"floor_c": 20.0, "cap_c": 10.0}, "floor_c", "below the price cap"),
        ({"kc": float("nan")}, "kc", "finite number"),
        ({"cap_c": float("inf")}, "cap_c", "finite number"),
        ({"theta": "0.7"}, "theta", "finite number"),
        ({"n": True}, "n", "finite number"),
    ],
)
def test_validate_refuses_each_bad_parameter(changes, field, words):
    params = dataclasses.replace(DEFAULTS, **changes)
    with pytest.raises(ParameterError, match=words) as caught:
        params.validate()
    assert caught.value.field == field
    assert caught.value.message == str(caught.value)
    with pytest.raises(ParameterError):  # and nothing prices with it
        signal(0.5, 1.0, 1.0, 0.0, params)
    with pytest.raises(ParameterError):
        import_price(10.0, quiet(), params)


# --- revenue neutrality -----------------------------------------------------------------------


def revenue(imports, exports, base, sig, rebate, params, adjust):
    priced = np.sum(imports * import_price(base, sig, params, adjust))
    return float(priced - np.sum(exports * export_credit(sig, rebate)))


def test_a_quiet_network_priced_at_static_needs_no_adjustment():
    base = np.array([4.0, 9.5, 21.0])
    adjust = revenue_neutral_adjustment(
        [1.2, 3.0, 2.5], [0.0, 1.0, 0.0], base, quiet(), 0.0, base, DEFAULTS
    )
    assert adjust == pytest.approx(0.0, abs=1e-6)


def test_congestion_rent_is_handed_back_flat_and_the_time_value_kept():
    base = np.array([8.0, 8.0, 15.0, 15.0])
    sig = signal([0.4, 0.6, 0.85, 1.0], 1.0, 1.0, 0.0, DEFAULTS)  # 0, 0, 10, 40 c congestion
    imports = np.array([2.0, 2.0, 3.0, 1.0])
    adjust = revenue_neutral_adjustment(imports, 0.0, base, sig, 0.0, base, DEFAULTS)
    # The rent is 3 * 10 + 1 * 40 = 70 c over 8 kWh: -8.75 c in every period.
    assert adjust == pytest.approx(-70.0 / 8.0, abs=1e-9)
    prices = import_price(base, sig, DEFAULTS, adjust)
    np.testing.assert_allclose(np.diff(prices), np.diff(base + sig.total))
    assert revenue(imports, 0.0, base, sig, 0.0, DEFAULTS, adjust) == pytest.approx(
        float(np.sum(imports * base)), abs=1e-4
    )


def test_export_credits_are_recovered_through_the_flat_part():
    base = np.full(2, 10.0)
    sig = signal([0.85, 0.5], 1.0, 1.0, 0.0, DEFAULTS)  # 10 c congestion in the first period
    imports, exports, rebate = np.array([1.0, 4.0]), np.array([3.0, 0.0]), np.array([5.0, 0.0])
    adjust = revenue_neutral_adjustment(imports, exports, base, sig, rebate, base, DEFAULTS)
    # Rent 1 * 10 = 10 c; credits 3 * (10 + 5) = 45 c: 35 c to recover over 5 kWh.
    assert adjust == pytest.approx(7.0, abs=1e-9)


def test_the_adjustment_respects_the_clamp():
    base = np.array([95.0, 10.0])
    sig = signal([1.0, 0.5], 1.0, 1.0, 0.0, DEFAULTS)  # 40 c: the first period sits at the cap
    imports = np.array([1.0, 1.0])
    static = np.array([30.0, 30.0])  # 60 c wanted, from unclamped prices of 135 and 10 c
    adjust = revenue_neutral_adjustment(imports, 0.0, base, sig, 0.0, static, DEFAULTS)
    # Coming down from 110 c (100 at the cap + 10), the second period reaches the floor of -10 c
    # at a = -20 (revenue 90), so the first must come off the cap to 70 c: a = -65.
    assert adjust == pytest.approx(-65.0, abs=1e-9)
    np.testing.assert_allclose(import_price(base, sig, DEFAULTS, adjust), [70.0, -10.0])
    assert revenue(imports, 0.0, base, sig, 0.0, DEFAULTS, adjust) == pytest.approx(60.0, abs=1e-4)


def test_no_imports_need_no_adjustment():
    assert (
        revenue_neutral_adjustment(0.0, [1.0, 2.0], [5.0, 6.0], quiet((2,)), 3.0, 9.0, DEFAULTS)
        == 0.0
    )
    assert revenue_neutral_adjustment([], [], [], quiet((0,)), [], [], DEFAULTS) == 0.0


@pytest.mark.parametrize(
    ("static", "field"),
    [(150.0, "cap_c"), (-20.0, "floor_c")],
)
def test_an_unreachable_static_revenue_names_the_limit_in_the_way(static, field):
    with pytest.raises(ParameterError, match="out of reach") as caught:
        revenue_neutral_adjustment(
            [1.0, 1.0], 0.0, [10.0, 10.0], quiet((2,)), 0.0, static, DEFAULTS
        )
    assert caught.value.field == field


def test_negative_energy_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        revenue_neutral_adjustment([1.0, -1.0], 0.0, 10.0, quiet((2,)), 0.0, 10.0, DEFAULTS)


def horizon(elements):
    return arrays(np.float64, st.shared(st.integers(1, 48), key="periods"), elements=elements)


moderate_params = st.builds(
    PriceParameters,
    theta=st.floats(0.0, 0.95),
    n=st.floats(0.5, 4.0),
    kc=st.floats(0.0, 100.0),
    kv=st.floats(0.0, 50.0),
    ks=st.floats(0.0, 20.0),
    kh=st.floats(0.0, 20.0),
    floor_c=st.floats(-40.0, 0.0),
    cap_c=st.floats(40.0, 200.0),
)


@settings(max_examples=100, deadline=None)
@given(
    moderate_params,
    horizon(st.floats(0.0, 50.0)),
    horizon(st.floats(0.0, 20.0)),
    horizon(st.floats(-5.0, 60.0)),
    horizon(st.floats(0.0, 10.0)),
    horizon(st.floats(-5.0, 60.0)),
    horizon(st.floats(0.0, 1.5)),
    horizon(st.floats(0.90, 1.0)),
    horizon(st.floats(1.0, 1.10)),
    horizon(st.floats(0.0, 1.0)),
)
def test_after_the_adjustment_forecast_revenue_is_the_static_revenue(
    p, imports, exports, base, rebate, static, loading, v_min, v_max, reverse
):
    sig = signal(loading, v_min, v_max, reverse, p)
    target = float(np.sum(imports * static))
    credits = float(np.sum(exports * export_credit(sig, rebate)))
    try:
        adjust = revenue_neutral_adjustment(imports, exports, base, sig, rebate, static, p)
    except ParameterError:
        # Out of reach: even every price at the cap (or floor) misses the static revenue.
        reachable = (
            p.floor_c * imports.sum() - credits <= target <= p.cap_c * imports.sum() - credits
        )
        assert not reachable
        event("unreachable")
        return
    if imports.sum() == 0:
        assert adjust == 0.0
        event("no imports")
        return
    event("solved")
    assert revenue(imports, exports, base, sig, rebate, p, adjust) == pytest.approx(
        target, abs=1e-4
    )
    lo = p.floor_c - float((base + sig.total).max())
    hi = p.cap_c - float((base + sig.total).min())
    assert lo <= adjust <= hi


def test_signal_is_a_plain_record():
    sig = quiet()
    assert isinstance(sig, Signal)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.congestion = np.zeros(3)

"""The exact unit conversions: integers back to Decimals with the unit's places, both ways."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coop import units

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(INT64)
def test_integers_come_back_as_decimals_with_the_units_places_and_round_trip(n):
    for to_decimal, back, places in (
        (units.wh_to_kwh, units.kwh_to_wh, 3),
        (units.units_to_cents, units.cents_to_units, 4),
        (units.micro_to_nzd, units.nzd_to_micro, 6),
    ):
        value = to_decimal(n)
        assert value.as_tuple().exponent == -places  # "1.500" kWh, never "1.5" or "1.5E+3"
        assert value == Decimal(n) / 10**places
        assert back(value) == n


def test_zero_and_small_values_keep_their_places():
    assert str(units.wh_to_kwh(0)) == "0.000"
    assert str(units.micro_to_nzd(-5)) == "-0.000005"
    assert str(units.units_to_cents(185000)) == "18.5000"


@given(INT64, st.integers(min_value=1, max_value=10**7))
def test_one_integer_rounds_as_an_array_of_them_does(n, divisor):
    """The scalar path (plain int arithmetic, for the settlement's one-at-a-time values) and
    the numpy path (the engine's columns) round half to even alike, and the scalar stays int."""
    scalar = units.divide_half_even(n, divisor)
    assert type(scalar) is int
    assert scalar == int(units.divide_half_even(np.array([n], dtype=np.int64), divisor)[0])
    halfway = divisor * (n % 1000) + divisor // 2
    if divisor % 2 == 0:  # an exact half goes to the even neighbour
        assert units.divide_half_even(halfway, divisor) % 2 == 0


def test_money_for_plain_integers_is_a_plain_integer():
    assert units.value_micro(3, 5000) == 15
    assert type(units.value_micro(3, 5000)) is int

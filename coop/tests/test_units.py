"""The exact unit conversions: integers back to Decimals with the unit's places, both ways."""

from __future__ import annotations

from decimal import Decimal

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

"""Exact conversions between the Decimals people use and the integers the exchange computes in:
one module for the market engine, the EIEP files and the chain (pure, no framework).

- energy: kWh with at most 3 decimal places  <-> whole Wh
- price:  c/kWh with at most 4 decimal places <-> "price units" of 1e-4 c/kWh
- money:  NZD with at most 6 decimal places   <-> whole micro-NZD

A value that does not fit exactly is refused rather than rounded: rounding belongs to the
market's rules (value_micro), not to a unit conversion.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import overload

import numpy as np

WH_PER_KWH = 1000
PRICE_UNITS_PER_CENT = 10_000
MICRO_PER_NZD = 1_000_000
# value in micro-NZD = Wh x price units / VALUE_DIVISOR:
# 1 Wh at 1 c/kWh = 0.001 c = 10 micro-NZD, and 1 c/kWh = 10,000 price units.
VALUE_DIVISOR = 1_000


def _exact(value: Decimal | int | str, scale: int, what: str) -> int:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a number of {what}") from exc
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value}")
    scaled = number * scale
    if scaled != scaled.to_integral_value():
        places = len(str(scale)) - 1
        raise ValueError(f"{value} {what} has more than {places} decimal places")
    return int(scaled)


def kwh_to_wh(kwh: Decimal | int | str) -> int:
    return _exact(kwh, WH_PER_KWH, "kWh")


# Back to Decimal by moving the point (scaleb): exact, with the unit's places kept, as a
# division and a quantize would give, and several times cheaper (a period writes ~10^5).
def wh_to_kwh(wh: int) -> Decimal:
    return Decimal(int(wh)).scaleb(-3)


def cents_to_units(c_per_kwh: Decimal | int | str) -> int:
    return _exact(c_per_kwh, PRICE_UNITS_PER_CENT, "c/kWh")


def units_to_cents(units: int) -> Decimal:
    return Decimal(int(units)).scaleb(-4)


def nzd_to_micro(nzd: Decimal | int | str) -> int:
    return _exact(nzd, MICRO_PER_NZD, "NZD")


def micro_to_nzd(micro: int) -> Decimal:
    return Decimal(int(micro)).scaleb(-6)


@overload
def divide_half_even(numerator: int, divisor: int) -> int: ...
@overload
def divide_half_even(numerator: np.ndarray, divisor: int) -> np.ndarray: ...
def divide_half_even(numerator: np.ndarray | int, divisor: int) -> np.ndarray | int:
    """Integer division rounding half to even, exact for negative values too. A Python int
    gives an int, in integer arithmetic: settling one period rounds ~10^4 single values, and a
    numpy array for each costs ten times the sum."""
    if type(numerator) is int:
        whole, rest = divmod(numerator, divisor)
        half = 2 * rest
        return whole + (half > divisor or (half == divisor and whole % 2 == 1))
    quotient, remainder = np.divmod(np.asarray(numerator, dtype=np.int64), divisor)
    twice = 2 * remainder
    up = (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
    return quotient + up


@overload
def value_micro(wh: int, price_units: int) -> int: ...
@overload
def value_micro(wh: np.ndarray, price_units: np.ndarray | int) -> np.ndarray: ...
@overload
def value_micro(wh: int, price_units: np.ndarray) -> np.ndarray: ...
def value_micro(wh: np.ndarray | int, price_units: np.ndarray | int) -> np.ndarray | int:
    """Money for energy at a price, in micro-NZD, rounded half to even."""
    if type(wh) is int and type(price_units) is int:
        return divide_half_even(wh * price_units, VALUE_DIVISOR)
    product = np.asarray(wh, dtype=np.int64) * np.asarray(price_units, dtype=np.int64)
    return divide_half_even(product, VALUE_DIVISOR)

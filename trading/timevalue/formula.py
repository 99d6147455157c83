"""The price formula of distributor time-value network pricing (pure: numpy, no Django).

All prices are c/kWh excluding GST, one value per feeder and trading period (any array shape:
the inputs broadcast together). The inputs come from a forecast power flow: transformer loading
L and reverse flow R as fractions of the transformer rating, and the lowest and highest customer
voltages Vmin and Vmax in pu::

    congestion    = Kc * max(0, (L - theta) / (1 - theta)) ** n
    sag           = Kv * max(0, (Vlo - Vmin) / (Vlo - 0.94))
    flood         = Ks * max(0, (R - rho) / (1 - rho))
    swell         = Kh * max(0, (Vmax - Vhi) / (1.06 - Vhi))
    signal        = congestion + sag - flood - swell
    import_price  = clamp(base + signal + adjust, floor, cap)
    export_credit = max(0, signal) + peak_export_rebate

0.94 and 1.06 pu are the statutory limits (230 V +/- 6 %): the sag and swell terms reach their
full weight there. base is the distributor's lines price for the half hour; adjust is the flat
revenue-neutral adjustment (see `revenue_neutral_adjustment`).

Everything is float (the inputs are physics); callers quantise to Decimal at the edge.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

V_LOW_LIMIT = 0.94  # pu: the statutory lower voltage limit, where sag reaches Kv
V_HIGH_LIMIT = 1.06  # pu: the statutory upper voltage limit, where swell reaches Kh
ADJUST_TOLERANCE_C = 1e-6  # c/kWh: bisection stops once the adjustment is bracketed this tightly
_MAX_BISECTIONS = 200  # far more than 1e-6 c needs from any bracket: a guard, never the stop


class ParameterError(ValueError):
    """A price parameter the formula cannot use. `field` names the parameter (the dataclass field
    of `PriceParameters`); the message says what to change, in the distributor's terms."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_LABELS = {
    "theta": "Congestion threshold theta",
    "n": "Congestion exponent n",
    "kc": "Congestion weight Kc",
    "v_lo": "Sag threshold Vlo",
    "kv": "Sag weight Kv",
    "rho": "Reverse-flow threshold rho",
    "ks": "Reverse-flow weight Ks",
    "v_hi": "Swell threshold Vhi",
    "kh": "Swell weight Kh",
    "floor_c": "Price floor",
    "cap_c": "Price cap",
}


@dataclass(frozen=True)
class PriceParameters:
    """The distributor's settings. Weights and prices in c/kWh, thresholds as fractions of the
    transformer rating (theta, rho) or in pu (v_lo, v_hi). Construction does not check them:
    call `validate()` (every function here does)."""

    theta: float = 0.70
    n: float = 2.0
    kc: float = 40.0
    v_lo: float = 0.96
    kv: float = 20.0
    rho: float = 0.20
    ks: float = 8.0
    v_hi: float = 1.04
    kh: float = 8.0
    floor_c: float = -10.0
    cap_c: float = 100.0

    def validate(self) -> None:
        """Raise ParameterError for the first parameter that would make the formula undefined,
        or make the import price fall as the transformer fills or the voltage sags (or rise as
        reverse flow or swell grows).

        n only has to be more than 0: x ** n rises with x for every n > 0, so an exponent below
        1 (a charge that rises steeply just past theta, then flattens) is allowed."""
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
            ):
                raise ParameterError(
                    f.name, f"{_LABELS[f.name]} must be a finite number, not {value!r}."
                )
        if not 0.0 <= self.theta < 1.0:
            raise ParameterError(
                "theta",
                "Congestion threshold theta must be at least 0 and below 1 (a fraction of the "
                "transformer rating): the congestion charge starts at theta and reaches Kc at "
                "full rating, so theta of 1 or more leaves it undefined.",
            )
        if not self.n > 0.0:
            raise ParameterError(
                "n",
                "Congestion exponent n must be more than 0: at 0 the full Kc is charged at any "
                "loading above theta however slight, and below 0 the charge falls as the "
                "transformer fills.",
            )
        if not self.kc >= 0.0:
            raise ParameterError(
                "kc",
                "Congestion weight Kc must be 0 or more: a negative weight makes the price fall "
                "as the transformer fills.",
            )
        if not V_LOW_LIMIT < self.v_lo < V_HIGH_LIMIT:
            raise ParameterError(
                "v_lo",
                f"Sag threshold Vlo must be above {V_LOW_LIMIT} and below {V_HIGH_LIMIT} pu: the "
                f"sag charge rises from Vlo to Kv at the statutory {V_LOW_LIMIT} pu, so Vlo at or "
                f"below {V_LOW_LIMIT} leaves it undefined or makes it fall as the voltage sags.",
            )
        if not self.kv >= 0.0:
            raise ParameterError(
                "kv",
                "Sag weight Kv must be 0 or more: a negative weight makes the price fall as the "
                "voltage sags.",
            )
        if not 0.0 <= self.rho < 1.0:
            raise ParameterError(
                "rho",
                "Reverse-flow threshold rho must be at least 0 and below 1 (a fraction of the "
                "transformer rating): the reverse-flow discount starts at rho and reaches Ks at "
                "full rating, so rho of 1 or more leaves it undefined.",
            )
        if not self.ks >= 0.0:
            raise ParameterError(
                "ks",
                "Reverse-flow weight Ks must be 0 or more: a negative weight makes the price "
                "rise as solar export floods the transformer backwards.",
            )
        if not V_LOW_LIMIT < self.v_hi < V_HIGH_LIMIT:
            raise ParameterError(
                "v_hi",
                f"Swell threshold Vhi must be above {V_LOW_LIMIT} and below {V_HIGH_LIMIT} pu: "
                f"the swell discount rises from Vhi to Kh at the statutory {V_HIGH_LIMIT} pu, so "
                f"Vhi at or above {V_HIGH_LIMIT} leaves it undefined.",
            )
        if not self.v_hi > self.v_lo:
            raise ParameterError(
                "v_hi",
                f"Swell threshold Vhi ({self.v_hi} pu) must be above the sag threshold Vlo "
                f"({self.v_lo} pu): otherwise one voltage is charged as a sag and discounted as "
                "a swell at once.",
            )
        if not self.kh >= 0.0:
            raise ParameterError(
                "kh",
                "Swell weight Kh must be 0 or more: a negative weight makes the price rise as "
                "the voltage swells over its limit.",
            )
        if not self.floor_c < self.cap_c:
            raise ParameterError(
                "floor_c",
                f"Price floor ({self.floor_c} c/kWh) must be below the price cap "
                f"({self.cap_c} c/kWh).",
            )


@dataclass(frozen=True, eq=False)  # eq=False: == on numpy arrays has no single truth value
class Signal:
    """The four terms of the price signal, c/kWh, each an array of the (broadcast) input shape.
    The arrays are read-only: a Signal is a record of one forecast."""

    congestion: FloatArray
    sag: FloatArray
    flood: FloatArray
    swell: FloatArray

    @property
    def total(self) -> FloatArray:
        return self.congestion + self.sag - self.flood - self.swell


def _finite(**named: npt.ArrayLike) -> list[FloatArray]:
    """The values as float arrays broadcast to one shape; ValueError names any input that does
    not broadcast or holds NaN or infinity (a failed power flow must not become a price)."""
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in named.items()}
    try:
        broadcast = [np.asarray(b, dtype=np.float64) for b in np.broadcast_arrays(*arrays.values())]
    except ValueError as exc:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(f"the inputs do not share one shape: {shapes}") from exc
    for name, array in zip(arrays, broadcast, strict=True):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ValueError(f"{name} has {bad} value(s) that are NaN or infinite")
    return broadcast


def _frozen(values: npt.ArrayLike) -> FloatArray:
    array = np.array(values, dtype=np.float64)  # a copy: never a view of the caller's data
    array.flags.writeable = False
    return array


def signal(
    loading: npt.ArrayLike,
    v_min: npt.ArrayLike,
    v_max: npt.ArrayLike,
    reverse: npt.ArrayLike,
    params: PriceParameters,
) -> Signal:
    """The price signal of each feeder and period from its forecast power flow."""
    params.validate()
    load, low, high, back = _finite(loading=loading, v_min=v_min, v_max=v_max, reverse=reverse)
    p = params
    congestion = p.kc * np.maximum(0.0, (load - p.theta) / (1.0 - p.theta)) ** p.n
    sag = p.kv * np.maximum(0.0, (p.v_lo - low) / (p.v_lo - V_LOW_LIMIT))
    flood = p.ks * np.maximum(0.0, (back - p.rho) / (1.0 - p.rho))
    swell = p.kh * np.maximum(0.0, (high - p.v_hi) / (V_HIGH_LIMIT - p.v_hi))
    return Signal(_frozen(congestion), _frozen(sag), _frozen(flood), _frozen(swell))


def import_price(
    base_c: npt.ArrayLike, sig: Signal, params: PriceParameters, adjust_c: float = 0.0
) -> FloatArray:
    """clamp(base + signal + adjust, floor, cap), c/kWh."""
    params.validate()
    if not math.isfinite(adjust_c):
        raise ValueError(f"adjust_c must be a finite number, not {adjust_c!r}")
    base, total = _finite(base_c=base_c, signal=sig.total)
    return np.asarray(np.clip(base + total + adjust_c, params.floor_c, params.cap_c))


def export_credit(sig: Signal, rebate_c: npt.ArrayLike, cap_c: float = math.inf) -> FloatArray:
    """min(max(0, signal), cap) + the peak export rebate, c/kWh: export is credited for
    relieving congestion or sag, never charged for making reverse flow or swell worse. The
    signal part is capped like the import price: a kWh exported can never earn more than a
    kWh imported would pay (else a deep sag would pay exporters without bound)."""
    total, rebate = _finite(signal=sig.total, rebate_c=rebate_c)
    return np.asarray(np.minimum(np.maximum(0.0, total), cap_c) + rebate)


def revenue_neutral_adjustment(
    import_kwh: npt.ArrayLike,
    export_kwh: npt.ArrayLike,
    base_c: npt.ArrayLike,
    sig: Signal,
    rebate_c: npt.ArrayLike,
    static_c: npt.ArrayLike,
    params: PriceParameters,
) -> float:
    """The flat adjustment, c/kWh, that makes time-value pricing revenue neutral over a horizon.

    One number, added to the import price of every period and feeder of the horizon, chosen so
    that the forecast network revenue

        sum(import_kwh * import_price(base, sig, params, adjust))
            - sum(export_kwh * export_credit(sig, rebate))

    equals the static revenue sum(import_kwh * static_c). The signal is added in full in every
    period, so the differences between periods (the time value) are kept intact; the congestion
    rent the signal collects is handed back through the flat part (a negative adjustment), and
    export credits and reverse-flow discounts are recovered through it (a positive one).

    Why not the design document's version, which scales the signal by one factor a so that
    sum(import * (base + a * signal)) - sum(export * a * max(0, signal)) equals
    sum(import * static)? base IS the static lines price, so the equation reduces to
    a * (sum(import * signal) - sum(export * max(0, signal))) = 0, which holds only at a = 0
    whenever that bracket is non-zero: it deletes the price signal it is meant to balance.

    The import price is clamped to [floor, cap], so revenue is piecewise linear and
    non-decreasing in the adjustment (imports are never negative). It is solved by bisection on
    [floor - max(base + signal), cap - min(base + signal)] (every price at the floor to every
    price at the cap) until the adjustment is bracketed within 1e-6 c/kWh, then polished with
    the exact linear solve on the piece the bracket lies in (kept only if it falls inside the
    bracket), so the revenue matches to rounding rather than to 1e-6 c times the imports.

    Returns 0.0 when the horizon imports nothing (no flat import adjustment can change its
    revenue then, so any export credits stay unrecovered). Raises ParameterError (field cap_c or floor_c)
    when no adjustment reaches the static revenue: every price at the cap still falls short,
    or every price at the floor still overshoots.
    """
    params.validate()
    imports, exports, base, total, rebate, static = _finite(
        import_kwh=import_kwh,
        export_kwh=export_kwh,
        base_c=base_c,
        signal=sig.total,
        rebate_c=rebate_c,
        static_c=static_c,
    )
    if (imports < 0).any() or (exports < 0).any():
        raise ValueError("import_kwh and export_kwh must not be negative: they are energy volumes")
    imported = float(imports.sum())
    if imported == 0.0:
        return 0.0
    floor, cap = params.floor_c, params.cap_c
    unclamped = base + total
    credits = float(np.sum(exports * export_credit(sig, rebate)))
    target = float(np.sum(imports * static))

    def revenue(adjust: float) -> float:
        return float(np.sum(imports * np.clip(unclamped + adjust, floor, cap))) - credits

    lo, hi = floor - float(unclamped.max()), cap - float(unclamped.min())
    at_floor, at_cap = revenue(lo), revenue(hi)
    slack = 1e-12 * max(1.0, abs(target), abs(at_floor), abs(at_cap))  # rounding in the sums
    if target > at_cap + slack:
        raise ParameterError(
            "cap_c",
            f"Revenue neutrality is out of reach: with every import price at the cap of {cap} "
            f"c/kWh the forecast network revenue is {at_cap:.4f} c, short of the static revenue "
            f"{target:.4f} c (after {credits:.4f} c of export credits). Raise the price cap or "
            "lower the peak export rebates.",
        )
    if target < at_floor - slack:
        raise ParameterError(
            "floor_c",
            f"Revenue neutrality is out of reach: with every import price at the floor of {floor} "
            f"c/kWh the forecast network revenue is {at_floor:.4f} c, above the static revenue "
            f"{target:.4f} c. Lower the price floor.",
        )
    for _ in range(_MAX_BISECTIONS):
        if hi - lo <= ADJUST_TOLERANCE_C:
            break
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:  # no float between them: as tight as this bracket can get
            break
        if revenue(mid) < target:
            lo = mid
        else:
            hi = mid
    mid = 0.5 * (lo + hi)
    prices = unclamped + mid
    free = (prices > floor) & (prices < cap)
    free_kwh = float(imports[free].sum())
    if free_kwh > 0.0:
        fixed = floor * float(imports[prices <= floor].sum()) + cap * float(
            imports[prices >= cap].sum()
        )
        exact = (target + credits - fixed - float(np.sum(imports[free] * unclamped[free]))) / (
            free_kwh
        )
        if lo <= exact <= hi:
            return exact
    return mid

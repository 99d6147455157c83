"""The figures a study reports per design: energy, bills and savings, who gains, the network.

Energy figures are physical and so do not depend on the mechanism: within a trading period,
what some homes export flows to their neighbours whoever is paid for it, so the community's
self-sufficiency is what it did not draw through its transformers. Money figures are the
settlement's, in NZD excluding GST; a home's bill includes its daily fixed charge.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

SUMMARY_COLUMNS = (
    "homes",
    "periods",
    "pv_kwh",
    "load_kwh",
    "import_kwh",
    "export_kwh",
    "p2p_kwh",
    "self_sufficiency_pct",
    "self_consumption_pct",
    "bills_nzd",
    "saving_nzd",
    "saving_pct",
    "saving_neither_nzd",
    "saving_pv_nzd",
    "saving_pv_battery_nzd",
    "saving_battery_nzd",
    "saving_hardship_nzd",
    "gift_kwh",
    "gini_savings",
    "coop_fee_nzd",
    "network_revenue_nzd",
    "peak_import_kw",
    "peak_export_kw",
    "hours_over_80_pct",
    "hours_over_100_pct",
    "min_voltage_pu",
    "emissions_t",
    "periods_balanced",
)


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of the members' savings: 0 when everyone saves the same, towards 1 as
    the saving goes to few. Savings can be negative (a member who pays more), where the usual
    formula (mean difference over twice the mean) is undefined; this normalises by the mean
    absolute saving instead, which is the same for all-positive savings and stays in [0, 1]
    when some are negative. NaN when nobody's bill changes."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    scale = float(np.abs(x).mean()) if n else 0.0
    if n == 0 or scale < 1e-9:
        return math.nan
    # Sum over pairs of |xi - xj| from the sorted values in O(n): sum_i (2i - n + 1) * x_i.
    ranks = 2 * np.arange(n) - n + 1
    return float(min(1.0, (ranks * x).sum() / (n * n * scale)))


def percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else math.nan

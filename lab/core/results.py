"""What a backtest hands to its report, its CSV and Parquet files and its JSON lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# The summary's first columns, naming the design; its KPI columns follow (kpis.SUMMARY_COLUMNS).
DESIGN_COLUMNS = ("design", "label", "mechanism", "battery", "time_value")
MECHANISMS = ("retailer_only", "uniform", "pay_as_bid", "mid_market", "time_value")
BATTERIES = ("none", "self_consumption", "hem")

MECHANISM_LABELS = {
    "retailer_only": "Retailer only",
    "uniform": "Uniform price",
    "pay_as_bid": "Pay as bid",
    "mid_market": "Mid-market",
    "time_value": "Time-value",
}
BATTERY_LABELS = {
    "none": "no battery use",
    "self_consumption": "self-consumption",
    "hem": "energy manager",
}


@dataclass(frozen=True)
class Design:
    mechanism: str  # one of MECHANISMS
    battery: str  # one of BATTERIES
    time_value: bool  # the distributor's time-value network price on or off
    gift_pct: int = 0  # % of every seller's surplus given to the hardship pool first

    @property
    def key(self) -> str:
        key = f"{self.mechanism}/{self.battery}/{'tv' if self.time_value else 'flat'}"
        return f"{key}/gift{self.gift_pct}" if self.gift_pct else key

    @property
    def label(self) -> str:
        network = "time-value network price" if self.time_value else "flat network price"
        label = f"{MECHANISM_LABELS[self.mechanism]}, {BATTERY_LABELS[self.battery]}, {network}"
        return f"{label}, {self.gift_pct}% of surplus gifted" if self.gift_pct else label

    @property
    def baseline(self) -> Design:
        """What this design's savings are measured against: retailer-only, same batteries."""
        return Design("retailer_only", self.battery, self.time_value)


@dataclass(frozen=True)
class Provenance:
    input: str  # e.g. "wholesale prices"
    source: str  # e.g. "EMI FinalEnergyPrices, PEN0331, 68 days"
    detail: str = ""  # e.g. "6 days missing: synthetic (labelled in prices.synthetic)"


@dataclass(frozen=True)
class EmissionFactor:
    kg_per_kwh: float
    source: str
    year: int
    url: str


@dataclass(frozen=True, eq=False)
class Results:
    """Every frame is long-format with plain columns, ready for CSV and Parquet.

    summary:  one row per design: design, label, mechanism, battery, time_value, then the KPI
              columns of lab.core.kpis.SUMMARY_COLUMNS.
    members:  one row per design and home: design, home, kind, has_ev, pv_kwh, load_kwh,
              import_kwh, export_kwh, bought_kwh, sold_kwh, bill_nzd, saving_nzd.
    monthly:  one row per design and NZ month ("2026-05"): design, month, bill_nzd, saving_nzd.
    days:     a typical winter and summer day, per design: design, season ("winter"/"summer"),
              date, slot (0-47), pv_kwh, load_kwh, battery_kwh (discharge positive, charge
              negative), grid_import_kwh, grid_export_kwh, p2p_kwh.
    prices:   one row per trading period: start_utc, local_date, trading_period, wholesale_c,
              synthetic (True where no price file covered it).
    clearing: one row per design (p2p designs only) and period with trades: design, period
              (index into prices), price_c (volume-weighted energy price).
    loading:  duration curves: design, transformer, rank (0 = highest), loading_pct.
    """

    name: str
    scenario: dict[str, Any]
    seed: int
    designs: tuple[Design, ...]
    summary: pd.DataFrame
    members: pd.DataFrame
    monthly: pd.DataFrame
    days: pd.DataFrame
    prices: pd.DataFrame
    clearing: pd.DataFrame
    loading: pd.DataFrame
    provenance: tuple[Provenance, ...]
    emission_factor: EmissionFactor
    flow_check: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

"""A backtest's report: one self-contained HTML page, and every frame as CSV and Parquet.

The page is what a co-op board member or a researcher opens: a headline in plain sentences, the
designs side by side, and the charts behind them, with where every input came from. It must
open offline from a USB stick or an email attachment, so plotly.js is inlined once from the
installed plotly package and nothing is fetched from anywhere. The CSV and Parquet files are for
whoever wants to check a figure or plot their own; results.json is the summary for machines.

Pure: pandas, plotly and pyarrow, no Django.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import math
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from plotly.colors import qualitative  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from coop.nz import NZ
from lab.core.community import KINDS
from lab.core.results import BATTERY_LABELS, DESIGN_COLUMNS, MECHANISM_LABELS, Results

FRAMES = ("summary", "members", "monthly", "days", "prices", "clearing", "loading")

# What each frame must hold for the report to draw it (Results documents them all).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": (
        "design", "label", "mechanism", "battery", "time_value", "saving_nzd", "saving_pct",
        "bills_nzd", "self_sufficiency_pct", "self_consumption_pct", "p2p_kwh", "emissions_t",
        "peak_import_kw", "hours_over_80_pct", "homes", "periods", "periods_balanced",
        *(f"saving_{kind}_nzd" for kind in KINDS),
    ),
    "members": ("design", "kind", "has_ev", "saving_nzd"),
    "monthly": ("design", "month", "bill_nzd", "saving_nzd"),
    "days": (
        "design", "season", "date", "slot", "pv_kwh", "load_kwh", "battery_kwh",
        "grid_import_kwh", "grid_export_kwh", "p2p_kwh",
    ),
    "prices": ("local_date", "wholesale_c", "synthetic"),
    "clearing": ("design", "period", "price_c"),
    "loading": ("design", "transformer", "rank", "loading_pct"),
}  # fmt: skip

CURVE_POINTS = 1000  # most points a duration curve trace carries: keeps the page small
PLOT_CONFIG = {"responsive": True, "displaylogo": False}
DESIGN_COLOURS = (*qualitative.Dark24, *qualitative.Light24)

KIND_LABELS = {
    "neither": "homes with neither PV nor a battery",
    "pv": "homes with PV only",
    "pv_battery": "homes with PV and a battery",
    "battery": "homes with a battery only",
}
KIND_AXIS = {"neither": "Neither", "pv": "PV", "pv_battery": "PV + battery", "battery": "Battery"}
EV_AXIS = "Has EV"
HARDSHIP_AXIS = "In hardship"

EMI_ATTRIBUTION = "Source: Electricity Authority (New Zealand), EMI datasets"
EMI_LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


@dataclass(frozen=True)
class Column:
    """How the summary table shows one KPI: its header with units, and which way is better."""

    header: str
    decimals: int
    better: str | None = None  # "high", "low", or None where neither is plainly better


SUMMARY_TABLE: dict[str, Column] = {
    "homes": Column("Homes", 0),
    "periods": Column("Periods", 0),
    "pv_kwh": Column("PV (kWh)", 1),
    "load_kwh": Column("Load (kWh)", 1),
    "import_kwh": Column("Grid import (kWh)", 1, "low"),
    "export_kwh": Column("Grid export (kWh)", 1),
    "p2p_kwh": Column("Peer trades (kWh)", 1),
    "self_sufficiency_pct": Column("Self-sufficiency (%)", 1, "high"),
    "self_consumption_pct": Column("Self-consumption (%)", 1, "high"),
    "bills_nzd": Column("Bills (NZD)", 2, "low"),
    "saving_nzd": Column("Saving (NZD)", 2, "high"),
    "saving_pct": Column("Saving (%)", 1, "high"),
    "saving_neither_nzd": Column("Saving per home, neither (NZD)", 2, "high"),
    "saving_pv_nzd": Column("Saving per home, PV (NZD)", 2, "high"),
    "saving_pv_battery_nzd": Column("Saving per home, PV + battery (NZD)", 2, "high"),
    "saving_battery_nzd": Column("Saving per home, battery (NZD)", 2, "high"),
    "saving_hardship_nzd": Column("Saving per home in hardship (NZD)", 2, "high"),
    "gift_kwh": Column("Given to the hardship pool (kWh)", 1),
    "gini_savings": Column("Gini of savings", 3, "low"),
    "coop_fee_nzd": Column("Co-op fees (NZD)", 2),
    "network_revenue_nzd": Column("Network revenue (NZD)", 2),
    "peak_import_kw": Column("Peak import (kW)", 1, "low"),
    "peak_export_kw": Column("Peak export (kW)", 1, "low"),
    "hours_over_80_pct": Column("Hours over 80% of rating (h)", 1, "low"),
    "hours_over_100_pct": Column("Hours over 100% of rating (h)", 1, "low"),
    "min_voltage_pu": Column("Min voltage (pu)", 3, "high"),
    "emissions_t": Column("Emissions (t CO2-e)", 2, "low"),
    "periods_balanced": Column("Periods balanced", 0),
}
WHOLE_NUMBERS_FROM = 10_000  # columns with values this large show no decimals: noise, not news

# Energy flows of the typical days: (column, legend name, colour, stack). Sources stack above
# zero, uses below it, so the two stacks mirror each other as the community's energy balance.
DAY_FLOWS = (
    ("pv_kwh", "PV", "#f2b701", "source"),
    ("battery_out", "Battery discharge", "#3c9d5d", "source"),
    ("grid_import_kwh", "Grid import", "#7f7f7f", "source"),
    ("load_kwh", "Load", "#1f77b4", "use"),
    ("battery_in", "Battery charge", "#9fd5ac", "use"),
    ("grid_export_kwh", "Grid export", "#e07b39", "use"),
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1d2733; margin: 0 auto; max-width: 1280px; padding: 1.5rem 2rem 4rem; line-height: 1.5; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.35rem; margin-top: 2.5rem; border-bottom: 2px solid #e3e8ee;
  padding-bottom: 0.2rem; }
.meta { color: #56616e; margin-top: 0; }
.headline li { margin-bottom: 0.4rem; }
.note { color: #56616e; font-size: 0.92rem; }
.scroll { overflow-x: auto; border: 1px solid #e3e8ee; }
table { border-collapse: collapse; font-size: 0.86rem; }
th, td { padding: 0.3rem 0.55rem; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
th { background: #f4f6f9; text-align: left; position: sticky; top: 0; }
table.kpis td.num, table.kpis th.num { text-align: right; white-space: nowrap; }
table.kpis th:first-child, table.kpis td:first-child { position: sticky; left: 0;
  background: #fff; min-width: 16rem; }
table.kpis th:first-child { background: #f4f6f9; z-index: 1; }
td.best { font-weight: 700; background: #e3f4e6; }
.warning { background: #fff4e0; border-left: 4px solid #e0a030; padding: 0.5rem 0.8rem; }
details pre { background: #f4f6f9; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
"""


def write(results: Results, out_dir: Path) -> dict[str, Path]:
    """Write the report, every frame as CSV and Parquet, provenance.csv and results.json.

    Returns each file's path by name: "html", "<frame>_csv", "<frame>_parquet",
    "provenance_csv" and "results_json".
    """
    check(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "report.html"}
    # pyarrow lets go of the GIL while it writes, so the frame files are written by two threads
    # while this one builds the page: a year's loading frame alone is millions of rows.
    with ThreadPoolExecutor(max_workers=2) as pool:
        files = {}
        for name in FRAMES:
            frame = getattr(results, name)
            for kind, writer in (("parquet", _write_parquet), ("csv", _write_csv)):
                path = out_dir / f"{name}.{kind}"
                files[f"{name}_{kind}"] = pool.submit(writer, frame, path)
        paths["html"].write_text(page(results), encoding="utf-8")
        paths |= {key: file.result() for key, file in files.items()}
    paths["provenance_csv"] = _write_provenance(results, out_dir / "provenance.csv")
    paths["results_json"] = out_dir / "results.json"
    paths["results_json"].write_text(
        json.dumps(results_record(results), indent=2, allow_nan=False), encoding="utf-8"
    )
    return paths


def check(results: Results) -> None:
    """Refuse Results whose frames lack a column the report needs, naming frame and columns."""
    for name, needed in REQUIRED_COLUMNS.items():
        frame = getattr(results, name)
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            raise ValueError(
                f"Results.{name} of {results.name!r} lacks the column(s) {missing}: the report "
                f"needs {list(needed)} (see lab.core.results.Results)"
            )


# --- the headline ---------------------------------------------------------------------------


def headline(results: Results) -> list[str]:
    """Four or five plain-English sentences computed from the summary.

    Every sentence compares and then picks its words by the sign of the difference, so it stays
    true whatever the numbers turn out to be.
    """
    summary = results.summary
    best = best_design(summary)
    sentences = [
        _best_sentence(summary, best),
        _who_gains_sentence(best),
        _battery_sentence(summary),
        _time_value_sentence(summary, best),
    ]
    if best is not None:
        baseline = _row(summary, "retailer_only", best["battery"], best["time_value"])
        if baseline is not None:
            sentences.append(_community_sentence(best, baseline))
    return sentences


def best_design(summary: pd.DataFrame) -> pd.Series | None:
    """The trading design (not retailer-only) that saves the community the most, if any ran."""
    trading = summary[summary["mechanism"] != "retailer_only"]
    if trading.empty:
        return None
    return trading.loc[trading["saving_nzd"].idxmax()]


def _best_sentence(summary: pd.DataFrame, best: pd.Series | None) -> str:
    if best is None:
        return "Every design in this run is retailer-only, so there is no community saving."
    count = int((summary["mechanism"] != "retailer_only").sum())
    against = "against retailer-only with the same batteries and network price"
    saving, share = float(best["saving_nzd"]), float(best["saving_pct"])
    if _sign(saving, 2) > 0:
        return (
            f"Of the {count} trading designs, {best['label']} saves the community the most: "
            f"{_nzd(saving)} ({_pct(share)}) over the span {against}."
        )
    if _sign(saving, 2) == 0:
        return (
            f"None of the {count} trading designs saves the community money {against}; the "
            f"best, {best['label']}, costs exactly the same."
        )
    return (
        f"None of the {count} trading designs saves the community money {against}; the least "
        f"costly, {best['label']}, costs {_nzd(saving)} ({_pct(share)}) more."
    )


def _who_gains_sentence(best: pd.Series | None) -> str:
    if best is None:
        return "With no trading design, no household gains or loses against retailer-only."
    means = [(kind, float(best[f"saving_{kind}_nzd"])) for kind in KINDS]
    means = sorted(
        ((kind, mean) for kind, mean in means if math.isfinite(mean)), key=lambda km: -km[1]
    )
    if not means:
        return f"Under {best['label']}, no household kind has a mean saving to show."
    parts = [f"{KIND_LABELS[kind]} {_save_or_lose(mean)}" for kind, mean in means]
    parts[0] += " each on average"
    return f"Under {best['label']}, {_join(parts)}."


def _battery_sentence(summary: pd.DataFrame) -> str:
    with_batteries = summary[summary["battery"] != "none"]
    if with_batteries.empty:
        return "No design in this run uses batteries, so what they add is not measured."
    pairs = []
    for _, design in with_batteries.sort_values("bills_nzd", kind="stable").iterrows():
        twin = _row(summary, design["mechanism"], "none", design["time_value"])
        if twin is not None:
            pairs.append((design, twin))
    if not pairs:
        return (
            "No battery design has a twin with the same mechanism and network price but no "
            "battery use, so what batteries add is not measured."
        )
    design, twin = pairs[0]
    bills, twin_bills = float(design["bills_nzd"]), float(twin["bills_nzd"])
    difference = bills - twin_bills
    if _sign(difference, 2) == 0:
        compared = "the same as with no battery use"
    else:
        direction = "less" if difference < 0 else "more"
        share = _pct(100 * difference / twin_bills) if twin_bills else "n/a"
        compared = f"{_nzd(difference)} ({share}) {direction} than with no battery use"
    sentence = (
        f"Batteries do most for bills under {design['label']}: the community pays "
        f"{_nzd(bills)} over the span, {compared}"
    )
    used, twin_used = float(design["self_consumption_pct"]), float(twin["self_consumption_pct"])
    if math.isfinite(used) and math.isfinite(twin_used):
        sentence += f", and uses {used:.1f}% of its PV on site against {twin_used:.1f}%"
    return sentence + "."


def _time_value_sentence(summary: pd.DataFrame, best: pd.Series | None) -> str:
    pair = _time_value_pair(summary, "hem", best)
    if pair is not None:
        flat, tv = pair
        return (
            f"With the energy manager under {MECHANISM_LABELS[flat['mechanism']]}, time-value "
            f"network pricing {_peak_changes(flat, tv)}."
        )
    pair = _time_value_pair(summary, None, best)
    if pair is None:
        return (
            "No design ran both with and without time-value network pricing, so its effect on "
            "the transformer peak is not measured; without schedules that respond to it, the "
            "physical peak would not change."
        )
    flat, tv = pair
    where = f"{MECHANISM_LABELS[flat['mechanism']]} with {BATTERY_LABELS[flat['battery']]}"
    if (
        _sign(_peak_kw(tv) - _peak_kw(flat), 1) == 0
        and _sign(_hours_80(tv) - _hours_80(flat), 1) == 0
    ):
        return (
            "No energy-manager design ran with and without time-value network pricing, and "
            "without schedules that respond to it the physical peak does not change: under "
            f"{where}, the transformer peak import is {_peak_kw(flat):,.1f} kW with it on or "
            f"off, with {_hours_80(flat):,.1f} hours over 80% of rating."
        )
    return (
        "No energy-manager design ran with and without time-value network pricing; under "
        f"{where}, turning it on {_peak_changes(flat, tv)}."
    )


def _community_sentence(best: pd.Series, baseline: pd.Series) -> str:
    sentence = (
        f"Under {best['label']}, members trade {float(best['p2p_kwh']):,.0f} kWh with each other"
    )
    sufficiency = float(best["self_sufficiency_pct"])
    baseline_sufficiency = float(baseline["self_sufficiency_pct"])
    if math.isfinite(sufficiency) and math.isfinite(baseline_sufficiency):
        sentence += (
            f" and the community supplies {sufficiency:.1f}% of its own load "
            f"({baseline_sufficiency:.1f}% under retailer-only)"
        )
    return (
        f"{sentence}; its grid import emits {float(best['emissions_t']):,.2f} t CO2-e "
        f"({float(baseline['emissions_t']):,.2f} t under retailer-only)."
    )


def _time_value_pair(
    summary: pd.DataFrame, battery: str | None, best: pd.Series | None
) -> tuple[pd.Series, pd.Series] | None:
    """A (flat, time-value) pair of otherwise equal designs, the best design's kind if it ran."""
    pairs = []
    flat_designs = summary[~summary["time_value"].astype(bool)]
    if battery is not None:
        flat_designs = flat_designs[flat_designs["battery"] == battery]
    for _, flat in flat_designs.iterrows():
        tv = _row(summary, flat["mechanism"], flat["battery"], True)
        if tv is not None:
            pairs.append((flat, tv))
    if not pairs:
        return None
    if best is not None:
        for flat, tv in pairs:
            if flat["mechanism"] == best["mechanism"] and (
                battery is not None or flat["battery"] == best["battery"]
            ):
                return flat, tv
    return pairs[0]


def _peak_changes(flat: pd.Series, tv: pd.Series) -> str:
    peak = _change("the transformer peak import", _peak_kw(flat), _peak_kw(tv), " kW")
    hours = _change("the hours over 80% of rating", _hours_80(flat), _hours_80(tv), " h")
    over = _change(
        "the hours over 100%",
        float(flat["hours_over_100_pct"]),
        float(tv["hours_over_100_pct"]),
        " h",
    )
    return f"{peak}, {hours} and {over}"


def _change(what: str, before: float, after: float, unit: str) -> str:
    """A change in the words its shown figures support: one decimal, as written."""
    direction = _sign(after - before, 1)
    if direction < 0:
        return f"lowers {what} from {before:,.1f}{unit} to {after:,.1f}{unit}"
    if direction > 0:
        return f"raises {what} from {before:,.1f}{unit} to {after:,.1f}{unit}"
    return f"leaves {what} at {before:,.1f}{unit}"


def _sign(difference: float, decimals: int) -> int:
    """-1, 0 or 1 as the difference reads when shown to `decimals` places (never "0.0 higher")."""
    shown = round(difference, decimals)
    return (shown > 0) - (shown < 0)


def _peak_kw(design: pd.Series) -> float:
    return float(design["peak_import_kw"])


def _hours_80(design: pd.Series) -> float:
    return float(design["hours_over_80_pct"])


def _row(summary: pd.DataFrame, mechanism: str, battery: str, time_value: bool) -> pd.Series | None:
    """The summary row of one design, if it ran."""
    wanted = (
        (summary["mechanism"] == mechanism)
        & (summary["battery"] == battery)
        & (summary["time_value"].astype(bool) == bool(time_value))
    )
    rows = summary[wanted]
    return None if rows.empty else rows.iloc[0]


def _save_or_lose(mean: float) -> str:
    direction = _sign(mean, 2)
    if direction > 0:
        return f"save {_nzd(mean)}"
    if direction < 0:
        return f"lose {_nzd(mean)}"
    return "break even"


def _nzd(amount: float) -> str:
    """An amount's size in words for a sentence; the sentence says which way it goes."""
    size = abs(amount)
    return f"NZD {size:,.0f}" if size >= 100 else f"NZD {size:,.2f}"


def _pct(share: float) -> str:
    return f"{abs(share):.1f}%"


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --- the page -------------------------------------------------------------------------------


def page(results: Results) -> str:
    """The whole report as one self-contained HTML document."""
    figure = _FigureWriter()
    sections = [
        _heading(results),
        _section("Headline", _headline_list(results)),
        _section("Designs compared", _summary_table(results.summary)),
        _section("Monthly bills and savings", figure(_monthly_figure(results), "monthly")),
        _section("Who gains: member savings by household", _savings_block(results, figure)),
        _section("A typical winter and summer day", _days_block(results, figure)),
        _section("Prices: duration curves", _prices_block(results, figure)),
        _section("Transformer loading", _loading_block(results, figure)),
        _section("Where the inputs came from", _inputs_block(results)),
    ]
    title = html.escape(f"{results.name}: backtest report")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en-NZ"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


class _FigureWriter:
    """Turns figures into HTML fragments, inlining plotly.js into the first one only."""

    def __init__(self) -> None:
        self.plotly_included = False

    def __call__(self, fig: go.Figure, name: str, height: int = 460) -> str:
        fragment = pio.to_html(
            fig,
            include_plotlyjs=not self.plotly_included,
            full_html=False,
            config=PLOT_CONFIG,
            div_id=f"figure-{name}",
            default_height=f"{height}px",
        )
        self.plotly_included = True
        return str(fragment)


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>"


def _text(value: object) -> str:
    return html.escape(str(value), quote=False)


def _heading(results: Results) -> str:
    dates = pd.to_datetime(results.prices["local_date"])
    if dates.empty:
        span = "no trading periods"
    else:
        first, last = dates.min().date(), dates.max().date()
        days = (last - first).days + 1
        span = f"{_date(first)} to {_date(last)} ({days:,} days, {len(dates):,} periods)"
    homes = int(results.summary["homes"].max()) if len(results.summary) else 0
    now = dt.datetime.now(NZ)
    written = f"{_date(now)} {now:%H:%M} NZ time"
    scenario = json.dumps(_json_safe(results.scenario), indent=2, sort_keys=True)
    return (
        f"<header><h1>{_text(results.name)}</h1>\n"
        f'<p class="meta">{_text(span)} &middot; {homes:,} homes &middot; seed {results.seed}'
        f" &middot; {len(results.summary)} designs &middot; the backtest took "
        f"{results.seconds:,.1f} s &middot; report written {_text(written)}</p>\n"
        "<details><summary>Scenario</summary><pre>"
        f"{_text(scenario)}</pre></details></header>"
    )


def _date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _headline_list(results: Results) -> str:
    items = "".join(f"<li>{_text(sentence)}</li>" for sentence in headline(results))
    return (
        f'<ul class="headline">{items}</ul>\n<p class="note">Savings are against retailer-only '
        "with the same battery strategy and network pricing. Money is NZD excluding GST.</p>"
    )


def _summary_table(summary: pd.DataFrame) -> str:
    columns = [column for column in summary.columns if column not in DESIGN_COLUMNS]
    specs = {column: SUMMARY_TABLE.get(column, Column(column, 2)) for column in columns}
    header = "".join(f'<th class="num">{_text(specs[c].header)}</th>' for c in columns)
    cells = {column: _column_cells(summary[column], specs[column]) for column in columns}
    rows = []
    for position, (_, design) in enumerate(summary.iterrows()):
        label = f'<td title="{html.escape(str(design["design"]))}">{_text(design["label"])}</td>'
        rows.append("<tr>" + label + "".join(cells[c][position] for c in columns) + "</tr>")
    return (
        '<div class="scroll"><table class="kpis"><thead><tr><th>Design</th>'
        f"{header}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>\n"
        '<p class="note">Shaded bold: the best value in its column, where higher or lower is '
        "plainly better. Hours over 80% and 100% are summed over transformers; peak import and "
        "export are the largest through any one transformer. Per-home savings are the mean over "
        "homes of that kind (blank where the community has none).</p>"
    )


def _column_cells(values: pd.Series, spec: Column) -> list[str]:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = numbers[np.isfinite(numbers)]
    decimals = spec.decimals
    if finite.size and np.abs(finite).max() >= WHOLE_NUMBERS_FROM:
        decimals = 0
    best = _best_value(finite, spec.better)
    cells = []
    for number in numbers:
        if not math.isfinite(number):
            cells.append('<td class="num">&ndash;</td>')
            continue
        marked = best is not None and math.isclose(number, best, rel_tol=1e-12, abs_tol=1e-12)
        css = "num best" if marked else "num"
        cells.append(f'<td class="{css}">{number:,.{decimals}f}</td>')
    return cells


def _best_value(finite: npt.NDArray[np.float64], better: str | None) -> float | None:
    """The column's best value, or None when no way is better or every design is equal."""
    if better is None or finite.size < 2 or finite.min() == finite.max():
        return None
    return float(finite.max() if better == "high" else finite.min())


# --- the charts -----------------------------------------------------------------------------


def _design_colours(summary: pd.DataFrame) -> dict[str, str]:
    return {
        design: DESIGN_COLOURS[i % len(DESIGN_COLOURS)]
        for i, design in enumerate(summary["design"])
    }


def _by_design(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A frame's rows split by design in one pass (not one string comparison per design)."""
    return {str(design): rows for design, rows in frame.groupby("design", sort=False)}


def _labels(summary: pd.DataFrame) -> dict[str, str]:
    return dict(zip(summary["design"], summary["label"], strict=True))


def _layout(fig: go.Figure, **layout: Any) -> go.Figure:
    defaults = {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "legend": {"font": {"size": 11}},
    }
    fig.update_layout(**(defaults | layout))
    return fig


def _monthly_figure(results: Results) -> go.Figure:
    monthly = results.monthly.sort_values(["month"], kind="stable")
    colours, labels = _design_colours(results.summary), _labels(results.summary)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Community bills (NZD)", "Saving against retailer-only (NZD)"),
    )
    for design in results.summary["design"]:
        rows = monthly[monthly["design"] == design]
        for row, column in ((1, "bill_nzd"), (2, "saving_nzd")):
            fig.add_trace(
                go.Scatter(
                    x=rows["month"].astype(str).to_numpy(),
                    y=rows[column].to_numpy(dtype=float),
                    name=labels[design],
                    legendgroup=design,
                    showlegend=row == 1,
                    mode="lines+markers",
                    line={"color": colours[design]},
                    hovertemplate="%{x}: NZD %{y:,.2f}<extra>" + labels[design] + "</extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_xaxes(type="category", title_text="NZ month", row=2, col=1)
    return _layout(fig, height=640)


def _savings_block(results: Results, figure: _FigureWriter) -> str:
    members = results.members
    if members.empty:
        return '<p class="note">No member results in this run.</p>'
    designs = list(results.summary["design"])
    labels = _labels(results.summary)
    best = best_design(results.summary)
    shown = best["design"] if best is not None else designs[0]
    fig = go.Figure()
    owners: list[int] = []  # which design each trace belongs to, for the dropdown
    by_design = _by_design(members)
    for position, design in enumerate(designs):
        for name, savings in _savings_by_kind(by_design.get(design, members.iloc[:0])):
            fig.add_trace(_savings_box(name, savings, visible=design == shown))
            owners.append(position)
    buttons = [
        {
            "label": labels[design],
            "method": "update",
            "args": [{"visible": [owner == position for owner in owners]}],
        }
        for position, design in enumerate(designs)
    ]
    menu = {"buttons": buttons, "active": designs.index(shown), "x": 0, "y": 1.18}
    _layout(
        fig,
        showlegend=False,
        yaxis_title="Saving per home over the span (NZD)",
        updatemenus=[menu | {"xanchor": "left", "yanchor": "top"}],
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
    )
    fig.update_xaxes(categoryorder="array", categoryarray=[*KIND_AXIS.values(), EV_AXIS])
    return figure(fig, "savings") + (
        '<p class="note">Each box is the homes of one kind under the design chosen above (the '
        "dashed line is the mean); homes with an EV are also shown together, whatever else they "
        "own.</p>"
    )


def _savings_box(name: str, savings: npt.NDArray[np.float64], visible: bool) -> go.Box:
    return go.Box(
        y=savings,
        name=name,
        visible=visible,
        boxmean=True,
        marker={
            "color": {EV_AXIS: "#8c564b", HARDSHIP_AXIS: "#9467bd"}.get(name, "#1f77b4"),
            "size": 3,
        },
        hovertemplate="NZD %{y:,.2f}<extra>" + name + "</extra>",
    )


def _savings_by_kind(members: pd.DataFrame) -> Iterable[tuple[str, npt.NDArray[np.float64]]]:
    for kind, name in KIND_AXIS.items():
        savings = members.loc[members["kind"] == kind, "saving_nzd"].to_numpy(dtype=float)
        if savings.size:
            yield name, savings.round(2)
    with_ev = members.loc[members["has_ev"].astype(bool), "saving_nzd"].to_numpy(dtype=float)
    if with_ev.size:
        yield EV_AXIS, with_ev.round(2)
    if "hardship" in members:
        pool = members.loc[members["hardship"].astype(bool), "saving_nzd"].to_numpy(dtype=float)
        if pool.size:
            yield HARDSHIP_AXIS, pool.round(2)


def _featured(summary: pd.DataFrame) -> list[str]:
    """The designs whose typical days are drawn: the best one and its retailer-only baseline."""
    best = best_design(summary)
    featured = best if best is not None else summary.iloc[0]
    baseline = _row(summary, "retailer_only", featured["battery"], featured["time_value"])
    designs = [str(featured["design"])]
    if baseline is not None and baseline["design"] != featured["design"]:
        designs.append(str(baseline["design"]))
    return designs


def _days_block(results: Results, figure: _FigureWriter) -> str:
    days = results.days
    designs = [d for d in _featured(results.summary) if (days["design"] == d).any()]
    seasons = [s for s in ("winter", "summer") if (days["season"] == s).any()]
    if not designs or not seasons:
        return '<p class="note">No typical days in this run.</p>'
    labels = _labels(results.summary)
    titles = [f"{season.title()}, {_day_date(days, designs[0], season)}" for season in seasons]
    fig = make_subplots(
        rows=len(seasons),
        cols=len(designs),
        shared_xaxes=True,
        shared_yaxes="rows",
        column_titles=[_wrap(labels[d]) for d in designs],
        row_titles=titles,
        vertical_spacing=0.1,
        horizontal_spacing=0.05,
    )
    first = True
    for row, season in enumerate(seasons, start=1):
        for col, design in enumerate(designs, start=1):
            day = _day_flows(days[(days["design"] == design) & (days["season"] == season)])
            for trace in _day_traces(day, first):
                fig.add_trace(trace, row=row, col=col)
            first = False
    fig.update_xaxes(type="category", nticks=12)
    fig.update_xaxes(title_text="NZ time of day", row=len(seasons))
    fig.update_yaxes(title_text="kWh per half hour", col=1)
    return figure(_layout(fig, height=360 * len(seasons) + 80, hovermode="x unified"), "days") + (
        '<p class="note">Above zero: where the community\'s energy came from; below zero: '
        "where it went. The dashed line is the energy members traded with each other. Left: "
        "the design that saves the most; right: retailer-only with the same batteries and "
        "network price.</p>"
    )


def _day_date(days: pd.DataFrame, design: str, season: str) -> str:
    dates = days.loc[(days["design"] == design) & (days["season"] == season), "date"]
    return _date(pd.Timestamp(dates.iloc[0]).date())


def _day_flows(day: pd.DataFrame) -> pd.DataFrame:
    """A day's community flows by half hour of NZ clock time (a repeated hour adds up)."""
    flows = day.groupby("slot")[
        ["pv_kwh", "load_kwh", "battery_kwh", "grid_import_kwh", "grid_export_kwh", "p2p_kwh"]
    ].sum()
    flows = flows.reindex(range(48), fill_value=0.0)
    flows["battery_out"] = flows["battery_kwh"].clip(lower=0)
    flows["battery_in"] = flows["battery_kwh"].clip(upper=0).abs()
    flows.index = [f"{slot // 2:02d}:{slot % 2 * 30:02d}" for slot in flows.index]
    return flows


def _day_traces(flows: pd.DataFrame, legend: bool) -> list[go.Scatter]:
    times = flows.index.to_numpy()
    traces = [
        go.Scatter(
            x=times,
            y=flows[column].to_numpy(dtype=float) * (1 if stack == "source" else -1),
            customdata=flows[column].to_numpy(dtype=float),
            name=name,
            legendgroup=name,
            showlegend=legend,
            stackgroup=stack,
            mode="lines",
            line={"width": 0.5, "color": colour},
            fillcolor=colour,
            hovertemplate="%{customdata:.2f} kWh",
        )
        for column, name, colour, stack in DAY_FLOWS
    ]
    traces.append(
        go.Scatter(
            x=times,
            y=flows["p2p_kwh"].to_numpy(dtype=float),
            name="Peer trades",
            legendgroup="Peer trades",
            showlegend=legend,
            mode="lines",
            line={"color": "#6a3d9a", "dash": "dash", "width": 2},
            hovertemplate="%{y:.2f} kWh",
        )
    )
    return traces


def _wrap(label: str) -> str:
    """A long design label broken after its first comma, so two panel titles fit side by side."""
    head, _, tail = label.partition(", ")
    return f"{head},<br>{tail}" if tail else head


def duration_curve(
    values: npt.NDArray[np.float64], of: int, points: int = CURVE_POINTS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A duration curve of `values` (sorted highest first) thinned to at most `points` points.

    x is the share of `of` periods (in %) at or above each value, so a series covering fewer
    periods than the span (a design that traded in only some) ends short of 100%. The highest
    and lowest values are always kept.
    """
    ordered = np.sort(values[np.isfinite(values)])[::-1]
    ranks = np.arange(ordered.size)
    if ordered.size > points:
        ranks = np.unique(np.linspace(0, ordered.size - 1, points).round().astype(np.int64))
    return 100 * (ranks + 1) / max(of, 1), ordered[ranks]


def _prices_block(results: Results, figure: _FigureWriter) -> str:
    prices, summary = results.prices, results.summary
    periods = len(prices)
    if periods == 0:
        return '<p class="note">No trading periods in this run.</p>'
    wholesale = prices["wholesale_c"].to_numpy(dtype=float)
    fig = go.Figure()
    x, y = duration_curve(wholesale, periods)
    fig.add_trace(
        go.Scatter(x=x, y=y, name="Wholesale price", line={"color": "#222", "width": 2.5})
    )
    synthetic = prices["synthetic"].to_numpy(dtype=bool)
    if synthetic.any():
        fig.add_trace(_synthetic_marks(wholesale, synthetic))
    colours, labels = _design_colours(summary), _labels(summary)
    trading = summary.loc[summary["mechanism"] != "retailer_only", "design"]
    clearing = _by_design(results.clearing)
    for design in trading:
        if design in clearing:
            price = clearing[design]["price_c"].to_numpy(dtype=float)
            x, y = duration_curve(price, periods)
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=labels[design], line={"color": colours[design], "width": 1.2}
                )
            )
    _layout(
        fig,
        height=520,
        xaxis_title="Share of trading periods at or above the price (%)",
        yaxis_title="c/kWh excl. GST",
        hovermode="closest",
    )
    count = int(synthetic.sum())
    real = wholesale[~synthetic]
    mean = (
        f"The mean wholesale price of the {len(real):,} periods from price files is "
        f"{real.mean():.3f} c/kWh. "
        if len(real)
        else ""
    )
    note = mean + (
        f"{count:,} of {periods:,} periods ({100 * count / periods:.1f}%) have synthetic "
        "wholesale prices (no price file covered them); they are marked on the wholesale curve "
        "and left out of that mean."
        if count
        else "Every period's wholesale price comes from a price file; none is synthetic."
    )
    return figure(fig, "prices") + (
        '<p class="note">Wholesale: the spot price at the community\'s grid exit point. Each '
        "trading design's curve is its volume-weighted clearing price in the periods it traded, "
        f"so it ends where trading stops. {_text(note)}</p>"
    )


def _synthetic_marks(
    wholesale: npt.NDArray[np.float64], synthetic: npt.NDArray[np.bool_]
) -> go.Scatter:
    """Where the synthetic periods sit on the wholesale duration curve."""
    order = np.argsort(-wholesale, kind="stable")
    ranks = np.flatnonzero(synthetic[order])
    if ranks.size > CURVE_POINTS:
        ranks = ranks[np.linspace(0, ranks.size - 1, CURVE_POINTS).round().astype(np.int64)]
    return go.Scatter(
        x=100 * (ranks + 1) / wholesale.size,
        y=wholesale[order][ranks],
        mode="markers",
        name=f"Synthetic periods ({int(synthetic.sum()):,})",
        marker={"color": "#d62728", "size": 4, "opacity": 0.5},
    )


def _loading_block(results: Results, figure: _FigureWriter) -> str:
    curves = most_loaded(results.loading)
    if not curves:
        return '<p class="note">No transformer loading in this run.</p>'
    colours, labels = _design_colours(results.summary), _labels(results.summary)
    fig = go.Figure()
    for design in results.summary["design"]:
        if design not in curves:
            continue
        transformer, loading = curves[design]
        x, y = duration_curve(loading, loading.size)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=labels[design],
                line={"color": colours[design], "width": 1.2},
                hovertemplate=f"%{{y:.1f}}% of rating<extra>{labels[design]} ({transformer})"
                "</extra>",
            )
        )
    for level, colour in ((80, "#e0a030"), (100, "#d62728")):
        fig.add_hline(y=level, line={"dash": "dot", "color": colour}, annotation_text=f"{level}%")
    _layout(
        fig,
        height=520,
        xaxis_title="Share of trading periods at or above the loading (%)",
        yaxis_title="Loading (% of rating)",
    )
    return figure(fig, "loading") + (
        '<p class="note">For each design, the transformer that reaches the highest loading '
        "(hover for its name), as a duration curve over the span.</p>"
    )


def most_loaded(loading: pd.DataFrame) -> dict[str, tuple[str, npt.NDArray[np.float64]]]:
    """Each design's most loaded transformer (by its highest loading) and its loadings.

    Works on integer codes rather than the frame's string columns: a year of 30 designs on ten
    transformers is five million rows, and comparing strings row by row takes seconds.
    """
    if loading.empty:
        return {}
    design_codes, designs = pd.factorize(loading["design"])
    transformer_codes, transformers = pd.factorize(loading["transformer"])
    pairs = design_codes.astype(np.int64) * len(transformers) + transformer_codes
    values = loading["loading_pct"].to_numpy(dtype=float)
    peaks = pd.Series(values).groupby(pairs).max()
    tops = peaks.groupby(peaks.index // len(transformers)).idxmax()
    chosen = np.isin(pairs, tops.to_numpy())
    pairs, values = pairs[chosen], values[chosen]
    return {
        str(designs[pair // len(transformers)]): (
            str(transformers[pair % len(transformers)]),
            values[pairs == pair],
        )
        for pair in tops.to_numpy()
    }


# --- where the inputs came from -------------------------------------------------------------


def _inputs_block(results: Results) -> str:
    rows = "".join(
        f"<tr><td>{_text(p.input)}</td><td>{_text(p.source)}</td><td>{_text(p.detail)}</td></tr>"
        for p in results.provenance
    )
    factor = results.emission_factor
    url = html.escape(factor.url)
    parts = [
        "<table><thead><tr><th>Input</th><th>Source</th><th>Detail</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        f"<p>Grid emission factor: {factor.kg_per_kwh:.4f} kg CO2-e per kWh, "
        f'{_text(factor.source)} ({factor.year}), <a href="{url}">{_text(factor.url)}</a>.</p>',
        _flow_check_block(results.flow_check),
        _balance_block(results.summary),
    ]
    if uses_emi(results):
        parts.append(
            f'<p>{_text(EMI_ATTRIBUTION)}, licensed <a href="{EMI_LICENCE_URL}">CC BY 4.0</a>.</p>'
        )
    return "\n".join(parts)


def uses_emi(results: Results) -> bool:
    """Whether any input came from the Electricity Authority's EMI datasets."""
    emi = re.compile(r"\bEMI\b")
    return any(emi.search(f"{p.source} {p.detail}") for p in results.provenance)


def _flow_check_block(flow_check: dict[str, float]) -> str:
    if not flow_check:
        return "<p>No power-flow check ran: the linear network model was not compared.</p>"
    rows = "".join(
        f'<tr><td>{_text(key.replace("_", " "))}</td><td class="num">{_number(value)}</td></tr>'
        for key, value in flow_check.items()
    )
    return (
        "<p>Power-flow check: how far the linear network model the backtest runs on is from a "
        "full pandapower power flow.</p>"
        f"<table><thead><tr><th>Measure</th><th>Value</th></tr></thead><tbody>{rows}</tbody>"
        "</table>"
    )


def _number(value: float) -> str:
    return "&ndash;" if not math.isfinite(float(value)) else f"{float(value):,.4g}"


def _balance_block(summary: pd.DataFrame) -> str:
    unbalanced = summary[summary["periods_balanced"] != summary["periods"]]
    if unbalanced.empty:
        return (
            "<p>Settlement check: in every design, every period's settlement summed to exactly "
            "zero.</p>"
        )
    names = ", ".join(
        f"{row['label']} ({int(row['periods'] - row['periods_balanced']):,} periods)"
        for _, row in unbalanced.iterrows()
    )
    return (
        f'<p class="warning">Settlement check failed: periods not summing to zero in '
        f"{_text(names)}.</p>"
    )


# --- the files ------------------------------------------------------------------------------


def _write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    pa_csv.write_csv(_dates_as_days(pa.Table.from_pandas(frame, preserve_index=False)), path)
    return path


def _dates_as_days(table: pa.Table) -> pa.Table:
    """Date columns ("date", "local_date") written as 2026-05-03, not 2026-05-03 00:00:00.

    A column so named that holds times of day as well keeps them.
    """
    for position, column in enumerate(table.schema):
        is_date = column.name == "date" or column.name.endswith("_date")
        if not (is_date and pa.types.is_timestamp(column.type)):
            continue
        values = table[position]
        midnight = pa_compute.equal(values, pa_compute.floor_temporal(values, unit="day"))
        if pa_compute.all(midnight).as_py():
            table = table.set_column(position, column.name, values.cast(pa.date32()))
    return table


def _write_provenance(results: Results, path: Path) -> Path:
    frame = pd.DataFrame(
        [dataclasses.asdict(p) for p in results.provenance], columns=["input", "source", "detail"]
    )
    return _write_csv(frame, path)


def results_record(results: Results) -> dict[str, Any]:
    """What results.json holds: the run, its checks and the summary rows, JSON-safe."""
    record = {
        "name": results.name,
        "scenario": results.scenario,
        "seed": results.seed,
        "seconds": results.seconds,
        "flow_check": results.flow_check,
        "emission_factor": dataclasses.asdict(results.emission_factor),
        "provenance": [dataclasses.asdict(p) for p in results.provenance],
        "summary": results.summary.to_dict(orient="records"),
    }
    return _json_safe(record)


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become null, numpy and pandas scalars Python ones."""
    if value is pd.NaT:
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [_json_safe(item) for item in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    return str(value)

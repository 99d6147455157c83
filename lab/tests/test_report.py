"""The backtest report: its files, its self-contained page and the headline's sentences.

Pure: each test builds a small but consistent Results (a few designs, 20 homes, 2 days) in
memory; no database, no backtest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import math
import re

import numpy as np
import pandas as pd
import plotly.offline  # type: ignore[import-untyped]
import pytest

from lab.core import report
from lab.core.calendar import calendar
from lab.core.community import KINDS
from lab.core.results import (
    BATTERIES,
    MECHANISMS,
    Design,
    EmissionFactor,
    Provenance,
    Results,
)

FLAT_UNIFORM = Design("uniform", "none", False)
RETAILER = Design("retailer_only", "none", False)
HEM_FLAT = Design("mid_market", "hem", False)
HEM_TV = Design("mid_market", "hem", True)
RETAILER_HEM_FLAT = Design("retailer_only", "hem", False)
RETAILER_HEM_TV = Design("retailer_only", "hem", True)
DESIGNS = (RETAILER, FLAT_UNIFORM, RETAILER_HEM_FLAT, HEM_FLAT, RETAILER_HEM_TV, HEM_TV)

EMI_PROVENANCE = (
    Provenance("wholesale prices", "EMI FinalEnergyPrices, PEN0331, 2 days"),
    Provenance("household load", "GREEN Grid mean profiles", "scaled to each home's kWh"),
)


def build_results(
    designs: tuple[Design, ...] = DESIGNS,
    homes: int = 20,
    days: int = 2,
    transformers: int = 2,
    provenance: tuple[Provenance, ...] = EMI_PROVENANCE,
    seed: int = 7,
) -> Results:
    """A Results whose frames agree with each other, from seeded random numbers."""
    rng = np.random.default_rng(seed)
    span = calendar(dt.date(2026, 7, 31), dt.date(2026, 7, 31) + dt.timedelta(days=days - 1))
    members = _members(designs, homes, rng)
    prices = pd.DataFrame(
        {
            "start_utc": span.starts_utc,
            "local_date": span.local_date,
            "trading_period": span.trading_period,
            "wholesale_c": rng.lognormal(2.5, 0.6, span.periods).round(4),
            "synthetic": np.arange(span.periods) % 17 == 3,
        }
    )
    return Results(
        name="Ellerslie test community",
        scenario={"homes": homes, "span": [str(span.first), str(span.last)], "pv_share": 0.4},
        seed=seed,
        designs=designs,
        summary=_summary(designs, members, span.periods, rng),
        members=members,
        monthly=_monthly(designs, span, members),
        days=_days(designs, span, rng),
        prices=prices,
        clearing=_clearing(designs, span.periods, rng),
        loading=_loading(designs, transformers, span.periods, rng),
        provenance=provenance,
        emission_factor=EmissionFactor(
            0.0912,
            "MBIE Energy in New Zealand, electricity emissions",
            2025,
            "https://www.mbie.govt.nz",
        ),
        flow_check={"max_voltage_error_pu": 0.0012, "max_loading_error_pct": 0.8},
        seconds=12.5,
    )


def _members(designs: tuple[Design, ...], homes: int, rng: np.random.Generator) -> pd.DataFrame:
    count = len(designs) * homes
    kind = np.resize(np.array(KINDS), homes)
    pv = np.where(np.isin(kind, ["pv", "pv_battery"]), rng.uniform(5, 20, homes), 0.0)
    load = rng.uniform(10, 40, homes)
    saving = rng.normal(0.5, 1.0, count).round(6)
    saving[[d.mechanism == "retailer_only" for d in designs for _ in range(homes)]] = 0.0
    bill = np.tile(load * 0.3, len(designs)) - saving
    return pd.DataFrame(
        {
            "design": np.repeat([d.key for d in designs], homes),
            "home": np.tile([f"home-{i:04d}" for i in range(homes)], len(designs)),
            "kind": np.tile(kind, len(designs)),
            "has_ev": np.tile(np.arange(homes) % 3 == 0, len(designs)),
            "pv_kwh": np.tile(pv, len(designs)),
            "load_kwh": np.tile(load, len(designs)),
            "import_kwh": np.tile(load * 0.7, len(designs)),
            "export_kwh": np.tile(pv * 0.4, len(designs)),
            "bought_kwh": rng.uniform(0, 5, count),
            "sold_kwh": rng.uniform(0, 5, count),
            "bill_nzd": bill.round(6),
            "saving_nzd": saving,
        }
    )


def _summary(
    designs: tuple[Design, ...], members: pd.DataFrame, periods: int, rng: np.random.Generator
) -> pd.DataFrame:
    rows = []
    for design in designs:
        own = members[members["design"] == design.key]
        bills, saving = own["bill_nzd"].sum(), own["saving_nzd"].sum()
        pv, load = own["pv_kwh"].sum(), own["load_kwh"].sum()
        by_kind = own.groupby("kind")["saving_nzd"].mean()
        rows.append(
            {
                "design": design.key,
                "label": design.label,
                "mechanism": design.mechanism,
                "battery": design.battery,
                "time_value": design.time_value,
                "homes": len(own),
                "periods": periods,
                "pv_kwh": pv,
                "load_kwh": load,
                "import_kwh": own["import_kwh"].sum(),
                "export_kwh": own["export_kwh"].sum(),
                "p2p_kwh": 0.0 if design.mechanism == "retailer_only" else own["sold_kwh"].sum(),
                "self_sufficiency_pct": 100 * (1 - own["import_kwh"].sum() / load),
                "self_consumption_pct": 100 * (1 - own["export_kwh"].sum() / pv),
                "bills_nzd": bills,
                "saving_nzd": saving,
                "saving_pct": 100 * saving / (bills + saving),
                **{f"saving_{k}_nzd": by_kind.get(k, math.nan) for k in KINDS},
                "gini_savings": rng.uniform(0.1, 0.5),
                "coop_fee_nzd": rng.uniform(0, 5),
                "network_revenue_nzd": rng.uniform(10, 50),
                "peak_import_kw": rng.uniform(40, 80),
                "peak_export_kw": rng.uniform(10, 30),
                "hours_over_80_pct": rng.uniform(0, 10),
                "hours_over_100_pct": rng.uniform(0, 2),
                "min_voltage_pu": rng.uniform(0.94, 0.99),
                "emissions_t": own["import_kwh"].sum() * 0.0912 / 1000,
                "periods_balanced": periods,
            }
        )
    return pd.DataFrame(rows)


def _monthly(designs: tuple[Design, ...], span, members: pd.DataFrame) -> pd.DataFrame:
    months = sorted({f"{np.datetime64(d, 'M')}" for d in span.local_date})
    totals = members.groupby("design", sort=False)[["bill_nzd", "saving_nzd"]].sum()
    return pd.DataFrame(
        [
            {
                "design": d.key,
                "month": month,
                "bill_nzd": totals.loc[d.key, "bill_nzd"] / len(months),
                "saving_nzd": totals.loc[d.key, "saving_nzd"] / len(months),
            }
            for d in designs
            for month in months
        ]
    )


def _days(designs: tuple[Design, ...], span, rng: np.random.Generator) -> pd.DataFrame:
    slots = np.arange(48)
    frames = []
    for design in designs:
        for season, date, sun in (("winter", span.first, 4.0), ("summer", span.last, 12.0)):
            pv = np.clip(np.sin((slots - 14) / 22 * np.pi), 0, None) * sun
            load = 3 + 2 * np.exp(-(((slots - 37) / 4) ** 2)) + rng.uniform(0, 0.5, 48)
            battery = np.zeros(48) if design.battery == "none" else np.where(pv > load, -1.0, 0.5)
            net = load - pv - battery
            frames.append(
                pd.DataFrame(
                    {
                        "design": design.key,
                        "season": season,
                        "date": pd.Timestamp(date),
                        "slot": slots,
                        "pv_kwh": pv,
                        "load_kwh": load,
                        "battery_kwh": battery,
                        "grid_import_kwh": net.clip(min=0),
                        "grid_export_kwh": (-net).clip(min=0),
                        "p2p_kwh": 0.0
                        if design.mechanism == "retailer_only"
                        else np.minimum(pv, 1),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _clearing(designs: tuple[Design, ...], periods: int, rng: np.random.Generator) -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "design": design.key,
                "period": np.flatnonzero(rng.random(periods) < 0.6),
            }
        )
        for design in designs
        if design.mechanism != "retailer_only"
    ]
    clearing = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["design", "period"])
    )
    clearing["price_c"] = rng.uniform(8, 30, len(clearing)).round(4)
    return clearing


def _loading(
    designs: tuple[Design, ...], transformers: int, periods: int, rng: np.random.Generator
) -> pd.DataFrame:
    curves = -np.sort(-rng.uniform(5, 110, (len(designs), transformers, periods)), axis=2)
    return pd.DataFrame(
        {
            "design": np.repeat([d.key for d in designs], transformers * periods),
            "transformer": np.tile(
                np.repeat([f"T{i}" for i in range(transformers)], periods), len(designs)
            ),
            "rank": np.tile(np.arange(periods), len(designs) * transformers),
            "loading_pct": curves.ravel(),
        }
    )


def with_kpis(results: Results, design: Design, **kpis: float) -> Results:
    """The same Results with some of one design's summary KPIs set."""
    summary = results.summary.copy()
    for column, value in kpis.items():
        summary.loc[summary["design"] == design.key, column] = value
    return dataclasses.replace(results, summary=summary)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    results = build_results()
    out = tmp_path_factory.mktemp("report")
    return results, report.write(results, out / "nested" / "run"), out / "nested" / "run"


def test_write_creates_every_file(written):
    _, paths, out = written
    expected = {"report.html", "provenance.csv", "results.json"} | {
        f"{name}.{ext}" for name in report.FRAMES for ext in ("csv", "parquet")
    }
    assert {p.name for p in out.iterdir()} == expected
    assert {p.name for p in paths.values()} == expected
    assert paths["html"] == out / "report.html"
    assert paths["summary_csv"] == out / "summary.csv"
    assert paths["loading_parquet"] == out / "loading.parquet"
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_page_inlines_plotly_once_and_loads_nothing_from_elsewhere(written):
    _, paths, _ = written
    page = paths["html"].read_text(encoding="utf-8")
    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js[:300]) == 1
    assert plotly_js in page
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts
    assert not [tag for tag in scripts if "src" in tag or "cdn" in tag]
    assert "https://cdn" not in page.split(plotly_js)[0] + page.split(plotly_js)[1]
    assert not re.search(r"<link\b|@import|fonts\.googleapis", page)
    # Every chart section drew a figure: monthly, savings, days, prices, loading.
    assert page.count('class="plotly-graph-div"') == 5


def test_page_shows_summary_values_headline_and_sources(written):
    results, paths, _ = written
    page = paths["html"].read_text(encoding="utf-8")
    for sentence in report.headline(results):
        assert html.escape(sentence, quote=False) in page
    for _, row in results.summary.iterrows():
        assert html.escape(row["label"], quote=False) in page
        assert f"{row['bills_nzd']:,.2f}" in page
        assert f"{row['self_sufficiency_pct']:,.1f}" in page
    assert "Bills (NZD)" in page
    assert "Peak import (kW)" in page
    assert page.index("Headline") < page.index("Designs compared") < page.index("Monthly")
    assert "Source: Electricity Authority (New Zealand), EMI datasets" in page
    assert "CC BY 4.0" in page
    assert "EMI FinalEnergyPrices, PEN0331, 2 days" in page
    assert "0.0912 kg CO2-e per kWh" in page
    assert "max voltage error pu" in page
    synthetic = int(results.prices["synthetic"].sum())
    assert f"{synthetic:,} of {len(results.prices):,} periods" in page


def test_best_value_per_column_is_marked(written):
    results, paths, _ = written
    page = paths["html"].read_text(encoding="utf-8")
    lowest_bill = results.summary["bills_nzd"].min()
    assert f'<td class="num best">{lowest_bill:,.2f}</td>' in page
    # Homes are the same in every design: nothing to mark.
    assert f'<td class="num best">{results.summary["homes"].iloc[0]:,.0f}</td>' not in page


def test_no_emi_attribution_without_emi_inputs(tmp_path):
    results = build_results(provenance=(Provenance("wholesale prices", "synthetic, seed 7"),))
    page = report.write(results, tmp_path)["html"].read_text(encoding="utf-8")
    assert "Electricity Authority" not in page


def test_frames_round_trip_through_parquet_and_csv(written):
    results, paths, _ = written
    for name in report.FRAMES:
        frame = getattr(results, name)
        parquet = pd.read_parquet(paths[f"{name}_parquet"], engine="pyarrow")
        pd.testing.assert_frame_equal(parquet, frame, check_dtype=False)
        dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
        csv = pd.read_csv(paths[f"{name}_csv"], parse_dates=dates, float_precision="round_trip")
        pd.testing.assert_frame_equal(csv, frame, check_dtype=False)
    # Dates are written as days; times of day keep their time.
    prices = paths["prices_csv"].read_text(encoding="utf-8").splitlines()
    assert prices[1].startswith("2026-07-30 12:00:00,2026-07-31,1,")
    provenance = pd.read_csv(paths["provenance_csv"], keep_default_na=False)
    assert provenance.to_dict("records") == [dataclasses.asdict(p) for p in results.provenance]


def test_results_json_is_plain_json_with_nulls_for_nan(tmp_path):
    results = build_results(designs=(RETAILER, FLAT_UNIFORM), homes=3)  # no home has a battery
    assert results.summary["saving_battery_nzd"].isna().all()
    text = report.write(results, tmp_path)["results_json"].read_text(encoding="utf-8")

    def refuse(constant):
        raise AssertionError(f"results.json holds {constant}")

    record = json.loads(text, parse_constant=refuse)
    assert record["name"] == results.name
    assert record["seed"] == 7
    assert record["seconds"] == 12.5
    assert record["flow_check"] == results.flow_check
    assert record["emission_factor"]["year"] == 2025
    assert record["scenario"]["homes"] == 3
    assert [row["design"] for row in record["summary"]] == [RETAILER.key, FLAT_UNIFORM.key]
    assert all(row["saving_battery_nzd"] is None for row in record["summary"])
    assert record["summary"][1]["bills_nzd"] == pytest.approx(results.summary["bills_nzd"][1])


def test_headline_names_the_design_that_saves_most():
    results = build_results()
    results = with_kpis(results, FLAT_UNIFORM, saving_nzd=120.0, saving_pct=4.0)
    results = with_kpis(results, HEM_FLAT, saving_nzd=1234.5, saving_pct=6.25)
    results = with_kpis(results, HEM_TV, saving_nzd=-10.0, saving_pct=-0.5)
    sentences = report.headline(results)
    assert 4 <= len(sentences) <= 5
    assert sentences[0] == (
        f"Of the 3 trading designs, {HEM_FLAT.label} saves the community the most: NZD 1,234 "
        "(6.2%) over the span against retailer-only with the same batteries and network price."
    )
    assert sentences[1].startswith(f"Under {HEM_FLAT.label}, ")


def test_headline_says_when_no_design_saves():
    results = build_results()
    for design, saving in ((FLAT_UNIFORM, -50.0), (HEM_FLAT, -5.0), (HEM_TV, -80.0)):
        results = with_kpis(results, design, saving_nzd=saving, saving_pct=saving / 10)
    first = report.headline(results)[0]
    assert first.startswith("None of the 3 trading designs saves the community money")
    assert f"the least costly, {HEM_FLAT.label}, costs NZD 5.00 (0.5%) more." in first


def test_who_gains_orders_kinds_and_says_who_loses():
    results = with_kpis(
        build_results(),
        HEM_FLAT,
        saving_nzd=500.0,
        saving_neither_nzd=-2.5,
        saving_pv_nzd=4.0,
        saving_pv_battery_nzd=12.25,
        saving_battery_nzd=0.0,
    )
    assert report.headline(results)[1] == (
        f"Under {HEM_FLAT.label}, homes with PV and a battery save NZD 12.25 each on average, "
        "homes with PV only save NZD 4.00, homes with a battery only break even and homes with "
        "neither PV nor a battery lose NZD 2.50."
    )


def test_battery_sentence_compares_with_the_same_mechanism_without_batteries():
    designs = (RETAILER, FLAT_UNIFORM, Design("uniform", "self_consumption", False))
    results = build_results(designs=designs)
    results = with_kpis(results, FLAT_UNIFORM, bills_nzd=1000.0, self_consumption_pct=40.0)
    results = with_kpis(results, designs[2], bills_nzd=900.0, self_consumption_pct=70.0)
    assert report.headline(results)[2] == (
        f"Batteries do most for bills under {designs[2].label}: the community pays NZD 900 over "
        "the span, NZD 100 (10.0%) less than with no battery use, and uses 70.0% of its PV on "
        "site against 40.0%."
    )
    dearer = with_kpis(results, designs[2], bills_nzd=1100.0)
    assert "NZD 100 (10.0%) more than with no battery use" in report.headline(dearer)[2]


@pytest.mark.parametrize(
    ("tv_peak", "tv_hours", "tv_over", "expected"),
    [
        (
            90.0,
            2.0,
            1.0,
            "lowers the transformer peak import from 120.0 kW to 90.0 kW, lowers the hours "
            "over 80% of rating from 6.5 h to 2.0 h and lowers the hours over 100% from 3.0 h "
            "to 1.0 h",
        ),
        (
            150.0,
            6.5,
            4.5,
            "raises the transformer peak import from 120.0 kW to 150.0 kW, leaves the hours "
            "over 80% of rating at 6.5 h and raises the hours over 100% from 3.0 h to 4.5 h",
        ),
    ],
)
def test_time_value_sentence_compares_either_way(tv_peak, tv_hours, tv_over, expected):
    results = with_kpis(
        build_results(),
        HEM_FLAT,
        peak_import_kw=120.0,
        hours_over_80_pct=6.5,
        hours_over_100_pct=3.0,
    )
    results = with_kpis(
        results,
        HEM_TV,
        peak_import_kw=tv_peak,
        hours_over_80_pct=tv_hours,
        hours_over_100_pct=tv_over,
    )
    assert report.headline(results)[3] == (
        f"With the energy manager under Mid-market, time-value network pricing {expected}."
    )


def test_time_value_without_energy_manager_says_the_peak_does_not_move():
    flat, tv = (
        Design("uniform", "self_consumption", False),
        Design("uniform", "self_consumption", True),
    )
    results = build_results(designs=(RETAILER, flat, tv))
    for design in (flat, tv):
        results = with_kpis(results, design, peak_import_kw=75.0, hours_over_80_pct=3.0)
    sentence = report.headline(results)[3]
    assert "without schedules that respond to it the physical peak does not change" in sentence
    assert "75.0 kW with it on or off" in sentence


def test_headline_with_only_retailer_designs():
    results = build_results(designs=(RETAILER, RETAILER_HEM_FLAT))
    sentences = report.headline(results)
    assert sentences[0] == (
        "Every design in this run is retailer-only, so there is no community saving."
    )
    # Batteries are still compared: the energy manager against no battery use, both retailer-only.
    assert sentences[2].startswith(f"Batteries do most for bills under {RETAILER_HEM_FLAT.label}:")
    assert len(sentences) == 4


def test_missing_column_is_refused_by_name(tmp_path):
    results = build_results()
    results = dataclasses.replace(results, members=results.members.drop(columns="kind"))
    with pytest.raises(ValueError, match=r"Results\.members .* lacks the column\(s\) \['kind'\]"):
        report.write(results, tmp_path)


def test_duration_curve_is_thinned_but_keeps_the_extremes():
    values = np.random.default_rng(1).normal(10, 3, 17_520)
    x, y = report.duration_curve(values, of=17_520)
    assert len(x) == len(y) <= report.CURVE_POINTS
    assert y[0] == values.max()
    assert y[-1] == values.min()
    assert np.all(np.diff(y) <= 0)
    assert x[-1] == pytest.approx(100.0)
    x, _ = report.duration_curve(values[:100], of=200)
    assert x[-1] == pytest.approx(50.0)


@pytest.mark.slow
def test_a_full_size_report_stays_small(tmp_path):
    designs = tuple(Design(m, b, tv) for m in MECHANISMS for b in BATTERIES for tv in (False, True))
    results = build_results(designs=designs, homes=1000, days=365, transformers=4)
    paths = report.write(results, tmp_path)
    assert paths["html"].stat().st_size < 15_000_000


def test_most_loaded_picks_each_designs_highest_transformer():
    loading = pd.DataFrame(
        {
            "design": ["a"] * 4 + ["b"] * 4,
            "transformer": ["T0", "T0", "T1", "T1"] * 2,
            "rank": [0, 1] * 4,
            "loading_pct": [90.0, 50.0, 95.0, 10.0, 70.0, 60.0, 65.0, 64.0],
        }
    )
    curves = report.most_loaded(loading)
    assert curves.keys() == {"a", "b"}
    assert curves["a"][0] == "T1"
    assert curves["a"][1].tolist() == [95.0, 10.0]
    assert curves["b"][0] == "T0"
    assert curves["b"][1].tolist() == [70.0, 60.0]

"""A backtest end to end: reproducible to the cent, every period settled, and sane against
public NZ figures on the real data."""

import numpy as np
import pandas as pd
import pytest

from lab.core import inputs, market, report, runner
from lab.core.scenario import parse

SMALL = """name: Small street
seed: {seed}
community: {{homes: 12, transformers: 1, mix: {{pv: 0.5, battery: 0.34, ev: 0.25}}}}
span: {{from: 2026-07-06, to: 2026-07-08}}
data: {{synthetic_prices: true, synthetic_weather: true}}
designs:
  mechanisms: [retailer_only, uniform, pay_as_bid, mid_market, time_value]
  batteries: [none, self_consumption, hem]
  time_value: [false, true]
"""
SELECTED = "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"


def backtest(text):
    return runner.run(runner.prepare(parse(text)))


@pytest.fixture(scope="module")
def small():
    return backtest(SMALL.format(seed=5))


def test_every_design_settles_every_period(small):
    assert len(small.summary) == 30
    assert (small.summary["periods_balanced"] == 3 * 48).all()
    # Energy is physical: the same under every mechanism with the same batteries.
    for _, group in small.summary.groupby(["battery", "time_value"]):
        assert group["import_kwh"].nunique() == 1
    baseline = small.summary[small.summary["mechanism"] == "retailer_only"]
    assert (baseline["saving_nzd"] == 0).all()
    assert (baseline["p2p_kwh"] == 0).all()
    traded = small.summary[small.summary["mechanism"] != "retailer_only"]
    assert (traded["p2p_kwh"] > 0).all()
    # A home's saving is its baseline bill less its bill, to the cent.
    members = small.members.set_index(["design", "home"])
    for design in small.designs:
        mine = members.loc[design.key]
        base = members.loc[design.baseline.key]
        assert np.allclose(base["bill_nzd"] - mine["bill_nzd"], mine["saving_nzd"], atol=0.011)


def test_the_same_scenario_and_seed_give_the_same_numbers_to_the_cent(small):
    again = backtest(SMALL.format(seed=5))
    pd.testing.assert_frame_equal(small.summary, again.summary)
    pd.testing.assert_frame_equal(small.members, again.members)
    other = backtest(SMALL.format(seed=6))
    assert not small.members["bill_nzd"].equals(other.members["bill_nzd"])


def test_an_incomplete_set_of_chunks_is_never_reported():
    p = runner.prepare(parse(SMALL.format(seed=5)))
    sim = runner.simulate(p)
    first_day = runner.clear(p, sim, range(0, 48))
    with pytest.raises(market.UnbalancedPeriod, match="48 of 144 periods"):
        runner.results(p, sim, first_day)


def test_simulation_files_round_trip(tmp_path, small):
    p = runner.prepare(parse(SMALL.format(seed=5)))
    sim = runner.simulate(p)
    sim.save(tmp_path / "sim.npz")
    loaded = runner.Simulation.load(tmp_path / "sim.npz")
    assert loaded.physical.keys() == sim.physical.keys()
    again = runner.results(p, loaded, runner.clear(p, loaded))
    pd.testing.assert_frame_equal(again.summary, small.summary.assign())


def test_bad_data_is_refused_before_any_work(tmp_path, shared_data):
    other_node = (
        SMALL.format(seed=5)
        .replace(
            "data: {synthetic_prices: true, synthetic_weather: true}",
            f"data: {{price_files: [{shared_data / 'prices/20260806_FinalEnergyPrices.csv'}], "
            "synthetic_prices: false}",
        )
        .replace("community: {", "community: {node: XYZ9999, ")
    )
    with pytest.raises(inputs.InputError, match="XYZ9999"):
        runner.prepare(parse(other_node))
    corrupt = tmp_path / "corrupt.csv"
    corrupt.write_text(
        "TradingDate,TradingPeriod,PointOfConnection,DollarsPerMegawattHour\n"
        "2026-07-06,1,PEN0331,abc\n"
    )
    text = SMALL.format(seed=5).replace(
        "data: {synthetic_prices: true, synthetic_weather: true}",
        f"data: {{price_files: [{corrupt}], synthetic_prices: false}}",
    )
    with pytest.raises(inputs.InputError, match="line 2"):
        runner.prepare(parse(text))
    no_fallback = (
        SMALL.format(seed=5)
        .replace(
            "data: {synthetic_prices: true, synthetic_weather: true}",
            f"data: {{price_files: [{shared_data / SELECTED}], synthetic_prices: false}}",
        )
        .replace("2026-07-08", "2026-08-20")
    )
    with pytest.raises(inputs.InputError, match="no price"):
        runner.prepare(parse(no_fallback))


@pytest.mark.slow
def test_a_year_is_sane_against_public_nz_figures(shared_data):
    """A typical NZ house uses 6,000-8,000 kWh a year; Auckland rooftop PV yields about
    1,300-1,450 kWh/kWp; the report's mean price is the price file's."""
    text = f"""name: Auckland year
seed: 11
community:
  homes: 40
  transformers: 2
  mix: {{pv: 1.0, battery: 0, ev: 0}}
  sizes: {{annual_load_kwh: 7000, pv_kwp: 5}}
span: {{from: 2025-01-01, to: 2025-12-31}}
data:
  synthetic_prices: true
  generation_file: {shared_data / "generation/emi_generation_md_solar_farms_2025.csv"}
  consumption_file: {shared_data / "consumption/greengrid_mean_household_halfhour_power_W_by_circuit_season_year.csv"}
designs: {{mechanisms: [retailer_only], batteries: [none]}}
"""
    p = runner.prepare(parse(text))
    assert p.cal.periods == 17520
    assert 6000 <= p.load.sum(axis=1).mean() <= 8000
    homes = p.community.homes
    north = [
        i for i, h in enumerate(homes) if h.pv_azimuth == 0 and h.pv_tilt in (20.0, 25.0, 30.0)
    ]
    assert north
    yields = p.pv.sum(axis=1)[north] / 5.0
    assert ((yields > 1300) & (yields < 1450)).all(), yields
    result = runner.results(p, sim := runner.simulate(p), runner.clear(p, sim))
    assert (result.summary["periods_balanced"] == 17520).all()


def test_the_reported_mean_price_is_the_price_files(shared_data):
    text = (
        SMALL.format(seed=5)
        .replace(
            "data: {synthetic_prices: true, synthetic_weather: true}",
            f"data: {{price_files: [{shared_data / SELECTED}], synthetic_prices: true}}",
        )
        .replace("2026-07-06", "2026-07-01")
        .replace("2026-07-08", "2026-07-31")
    )
    results = runner.run(runner.prepare(parse(text)))
    raw = pd.read_csv(shared_data / SELECTED)
    raw = raw[
        (raw.PointOfConnection == "PEN0331") & raw.TradingDate.between("2026-07-01", "2026-07-31")
    ]
    prices = results.prices
    real = prices[~prices["synthetic"]]
    # The file misses 10 of July's days: those are synthetic, labelled, and left out.
    assert prices["synthetic"].sum() == 10 * 48
    assert len(real) == len(raw)
    file_mean = raw.DollarsPerMegawattHour.mean() / 10
    assert real["wholesale_c"].mean() == pytest.approx(file_mean, abs=1e-9)
    assert f"{file_mean:.3f} c/kWh" in report.page(results)


def test_gifting_a_share_of_surplus_is_a_design_and_the_hardship_homes_gain():
    text = """name: gifts
seed: 3
community: {homes: 40, transformers: 1, mix: {pv: 0.5, battery: 0.2, ev: 0.2}, hardship_share: 0.15}
span: {from: 2026-06-01, to: 2026-06-07}
data: {synthetic_prices: true, synthetic_weather: true}
designs: {mechanisms: [retailer_only, uniform], batteries: [self_consumption], gifts: [0, 10]}
"""
    results = backtest(text)
    rows = results.summary.set_index("design")
    plain, gifted = (
        rows.loc["uniform/self_consumption/flat"],
        rows.loc["uniform/self_consumption/flat/gift10"],
    )
    assert gifted["label"].endswith("10% of surplus gifted")
    assert (results.summary["periods_balanced"] == 7 * 48).all()
    assert plain["gift_kwh"] == 0
    assert gifted["gift_kwh"] > 0
    assert gifted["saving_hardship_nzd"] > plain["saving_hardship_nzd"]
    assert gifted["saving_pv_nzd"] < plain["saving_pv_nzd"]  # the givers give it up
    members = results.members
    hardship = members[members["hardship"] & (members["design"] == gifted.name)]
    assert len(hardship) == 6  # 15% of 40
    assert (hardship["kind"] == "neither").all()

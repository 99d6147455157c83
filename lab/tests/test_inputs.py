"""The lab's real-data loaders on the real NZ sample data (../shared/data), and on small files
written here for the cases the sample does not have (legacy format, bad rows, DST days)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from coop.nz import trading_period_count
from lab.core import inputs
from lab.core.calendar import calendar
from lab.core.community import HomeSpec
from lab.core.inputs import InputError
from trading.prices.synthetic import price_at

SELECTED = "prices/emi_final_energy_prices_2026-05-03_to_2026-08-06_selected_nodes.csv"
DAILY = "prices/20260806_FinalEnergyPrices.csv"
FARMS = "generation/emi_generation_md_solar_farms_2025.csv"
SHAPES = "consumption/greengrid_mean_household_halfhour_power_W_by_circuit_season_year.csv"
AUCKLAND = (-36.85, 174.76)
CHRISTCHURCH = (-43.53, 172.63)
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
YEAR_2025 = calendar(dt.date(2025, 1, 1), dt.date(2025, 12, 31))


DEFAULT_HOME = HomeSpec("home-0001", AUCKLAND[0], AUCKLAND[1], 7000.0, "flat", "F1", "T1")


def home(**changes):
    return dataclasses.replace(DEFAULT_HOME, **changes)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def current_rows(day: dt.date, node: str, price: float = 100.0) -> list[str]:
    return [f"{day},{n},{node},{price + n}" for n in range(1, trading_period_count(day) + 1)]


HEADER = "TradingDate,TradingPeriod,PointOfConnection,DollarsPerMegawattHour"


# --- Wholesale prices ---------------------------------------------------------------------


def test_the_selected_nodes_file_gives_one_nodes_prices_and_marks_the_gaps(shared_data):
    cal = calendar(dt.date(2026, 5, 3), dt.date(2026, 8, 6))
    file = shared_data / SELECTED
    started = time.perf_counter()
    series, provenance = inputs.wholesale_prices(cal, "PEN0331", [file], allow_synthetic=True)
    seconds = time.perf_counter() - started
    rows = [
        line.split(",")
        for line in file.read_text(encoding="utf-8").splitlines()[1:]
        if ",PEN0331," in line
    ]
    assert seconds < 2, f"reading one node of the 42k-row file took {seconds:.2f} s"
    assert len(rows) == 68 * 48
    first = rows[0]
    assert (first[0], first[1]) == ("2026-05-03", "1")
    assert series.price_c[0] == pytest.approx(float(first[3]) / 10)
    assert not series.synthetic[0]
    # 68 days priced from the file; the other 28 of the 96 are synthetic, labelled.
    assert int((~series.synthetic).sum()) == 68 * 48
    assert int(series.synthetic.sum()) == 28 * 48
    assert series.price_c.max() == pytest.approx(max(float(r[3]) for r in rows) / 10)
    assert series.files == (str(file),)
    assert "PEN0331, 68 of 96 days" in provenance[0].source
    assert "Electricity Authority" in provenance[0].detail
    assert "synthetic" in provenance[1].source
    assert "28 days" in provenance[1].detail


def test_gaps_are_refused_without_synthetic_prices_and_listed_compactly(shared_data):
    cal = calendar(dt.date(2026, 5, 3), dt.date(2026, 5, 31))
    with pytest.raises(InputError) as caught:
        inputs.wholesale_prices(cal, "PEN0331", [shared_data / SELECTED], allow_synthetic=False)
    assert caught.value.where == "data.price_files"
    message = caught.value.message
    assert message.startswith("no price at PEN0331 for 9 days: 2026-05-08..2026-05-09, ")
    assert message.endswith("add price files or set data.synthetic_prices: true")


def test_synthetic_periods_are_the_synthetic_feeds_prices(tmp_path):
    day = dt.date(2026, 8, 6)
    file = write(tmp_path / "one.csv", [HEADER, *current_rows(day, "PEN0331")])
    cal = calendar(day, day + dt.timedelta(days=1))
    series, _ = inputs.wholesale_prices(cal, "PEN0331", [file], allow_synthetic=True, seed=3)
    assert series.synthetic.tolist() == [False] * 48 + [True] * 48
    start = dt.datetime(2026, 8, 6, 12, 0, tzinfo=dt.UTC)  # 2026-08-07 00:00 NZST: TP1
    assert series.price_c[48] == pytest.approx(float(price_at("PEN0331", start, 3)) / 10)
    again, _ = inputs.wholesale_prices(cal, "PEN0331", [file], allow_synthetic=True, seed=3)
    assert np.array_equal(series.price_c, again.price_c)


def test_a_complete_daily_file_covers_its_day(shared_data):
    cal = calendar(dt.date(2026, 8, 6), dt.date(2026, 8, 6))
    series, _ = inputs.wholesale_prices(
        cal, "OTA2201", [shared_data / DAILY], allow_synthetic=False
    )
    assert len(series.price_c) == 48
    assert not series.synthetic.any()


def test_a_monthly_all_node_file_is_read_fast_for_one_node(shared_data, tmp_path):
    """A month of all ~250 nodes (~350,000 rows, the size EMI publishes), for one node."""
    lines = (shared_data / DAILY).read_text(encoding="utf-8").splitlines()
    body = lines[1:]
    month = [lines[0]]
    for d in range(1, 31):
        month += [line.replace("2026-08-06", f"2026-06-{d:02d}", 1) for line in body]
    file = write(tmp_path / "202606_FinalEnergyPrices.csv", month)
    cal = calendar(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    started = time.perf_counter()
    series, _ = inputs.wholesale_prices(cal, "PEN0331", [file], allow_synthetic=False)
    seconds = time.perf_counter() - started
    assert len(month) > 350_000
    assert not series.synthetic.any()
    assert seconds < 3, f"one node of a {len(month)}-row month took {seconds:.2f} s"


def test_the_legacy_format_reads_the_same(tmp_path):
    day = dt.date(2015, 7, 8)
    legacy = [
        "Trading_date,Trading_period,Node,Price",
        *(f"08/07/2015,{n},HAY2201,{50 + n}.5" for n in range(1, 49)),
    ]
    file = write(tmp_path / "legacy.csv", legacy)
    series, _ = inputs.wholesale_prices(
        calendar(day, day), "HAY2201", [file], allow_synthetic=False
    )
    assert series.price_c[0] == pytest.approx(5.15)
    assert series.price_c[47] == pytest.approx(9.85)


def test_daylight_saving_days_map_all_their_periods(tmp_path):
    longer, shorter = dt.date(2026, 4, 5), dt.date(2026, 9, 27)  # 50 and 46 periods
    file = write(
        tmp_path / "dst.csv",
        [HEADER, *current_rows(longer, "PEN0331"), *current_rows(shorter, "PEN0331")],
    )
    for day, count in ((longer, 50), (shorter, 46)):
        series, _ = inputs.wholesale_prices(
            calendar(day, day), "PEN0331", [file], allow_synthetic=False
        )
        assert len(series.price_c) == count
        assert series.price_c[-1] == pytest.approx((100 + count) / 10)


def test_a_file_without_the_node_names_the_nodes_it_has(shared_data):
    cal = calendar(dt.date(2026, 8, 6), dt.date(2026, 8, 6))
    with pytest.raises(InputError) as caught:
        inputs.wholesale_prices(cal, "XYZ0331", [shared_data / DAILY], allow_synthetic=True)
    assert caught.value.where == str(shared_data / DAILY)
    assert caught.value.message.startswith("has prices for nodes ABY0111, ")
    assert caught.value.message.endswith(
        ", ... (246 in all), not XYZ0331: choose community.node or other files"
    )


def test_a_bad_row_is_reported_at_its_line_in_the_whole_file(tmp_path):
    day = dt.date(2026, 6, 1)
    rows = [HEADER]
    for n in range(1, 49):
        rows += [f"{day},{n},BEN2201,80", f"{day},{n},PEN0331,{90 + n}"]
    rows[16] = f"{day},8,PEN0331,lots"  # line 17 of the file
    file = write(tmp_path / "202606.csv", rows)
    with pytest.raises(InputError) as caught:
        inputs.wholesale_prices(calendar(day, day), "PEN0331", [file], allow_synthetic=True)
    assert caught.value.where == f"{file} line 17"
    assert caught.value.message == "price 'lots' is not a number"


def test_unreadable_files_are_named(tmp_path):
    cal = calendar(dt.date(2026, 6, 1), dt.date(2026, 6, 1))
    missing = tmp_path / "nowhere.csv"
    binary = tmp_path / "prices.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00garbage")
    page = write(tmp_path / "page.csv", ["<!DOCTYPE html>", "<html>PEN0331</html>"])
    cases = [
        (missing, str(missing), "no such file"),
        (binary, str(binary), "is not UTF-8 text"),
        (page, f"{page} line 1", "not an EMI price file"),
    ]
    for file, where, says in cases:
        with pytest.raises(InputError) as caught:
            inputs.wholesale_prices(cal, "PEN0331", [file], allow_synthetic=True)
        assert caught.value.where == where
        assert says in caught.value.message


def test_two_files_disagreeing_on_a_period_are_refused(tmp_path):
    day = dt.date(2026, 6, 1)
    a = write(tmp_path / "a.csv", [HEADER, *current_rows(day, "PEN0331")])
    same = write(tmp_path / "same.csv", [HEADER, *current_rows(day, "PEN0331")])
    other = write(tmp_path / "other.csv", [HEADER, *current_rows(day, "PEN0331", 200.0)])
    cal = calendar(day, day)
    series, _ = inputs.wholesale_prices(cal, "PEN0331", [a, same], allow_synthetic=False)
    assert series.price_c[0] == pytest.approx(10.1)
    with pytest.raises(InputError) as caught:
        inputs.wholesale_prices(cal, "PEN0331", [a, other], allow_synthetic=False)
    assert caught.value.where == str(other)
    assert "2026-06-01 trading period 1 is 201.0 $/MWh here but 101 $/MWh in" in str(caught.value)


# --- Cloudiness ---------------------------------------------------------------------------


def test_auckland_takes_the_nearest_farm_for_every_2025_day(shared_data):
    clearness, provenance = inputs.daily_clearness(
        YEAR_2025,
        shared_data / FARMS,
        latitude=AUCKLAND[0],
        longitude=AUCKLAND[1],
        allow_synthetic=False,
    )
    assert clearness.plant == "Rangitaiki EDG0331"
    assert not clearness.synthetic.any()
    assert clearness.factor.min() >= 0
    assert clearness.factor.max() <= 1.1
    per_day = clearness.factor[YEAR_2025.day_starts()[:-1]]
    # Auckland gets ~1,500 kWh/m2 a year of an Ineichen clear sky's ~2,100: about 0.7.
    assert 0.6 < per_day.mean() < 0.8
    assert (per_day > 0.95).sum() >= 10  # some clear days
    assert (per_day < 0.3).sum() >= 10  # and some overcast ones
    assert len(provenance) == 1
    assert "Rangitaiki solar farm EDG0331 (Bay of Plenty), 222 km away, 365 days" in (
        provenance[0].source
    )
    assert "mapped" not in provenance[0].detail


def test_canterbury_uses_lauriston_from_july_and_the_next_farm_before(shared_data):
    clearness, provenance = inputs.daily_clearness(
        YEAR_2025,
        shared_data / FARMS,
        latitude=CHRISTCHURCH[0],
        longitude=CHRISTCHURCH[1],
        allow_synthetic=False,
    )
    assert clearness.plant == "Lauriston ASB0661, Rangitaiki EDG0331"
    assert [p.source.split(",")[1].strip() for p in provenance] == [
        "Lauriston solar farm ASB0661 (Canterbury)",
        "Rangitaiki solar farm EDG0331 (Bay of Plenty)",
    ]
    assert "184 days" in provenance[0].source
    assert "181 days" in provenance[1].source


def test_another_year_takes_2025_by_day_of_year(shared_data):
    file = shared_data / FARMS
    where = {"latitude": AUCKLAND[0], "longitude": AUCKLAND[1], "allow_synthetic": False}
    real, _ = inputs.daily_clearness(YEAR_2025, file, **where)
    leap = calendar(dt.date(2028, 2, 27), dt.date(2028, 3, 1))
    mapped, provenance = inputs.daily_clearness(leap, file, **where)
    day = {
        d: real.factor[YEAR_2025.day_starts()[(d - dt.date(2025, 1, 1)).days]]
        for d in (dt.date(2025, 2, 27), dt.date(2025, 2, 28), dt.date(2025, 3, 1))
    }
    per_day = mapped.factor[leap.day_starts()[:-1]]
    assert per_day.tolist() == [
        day[dt.date(2025, 2, 27)],
        day[dt.date(2025, 2, 28)],  # 29 Feb takes the 28th
        day[dt.date(2025, 2, 28)],
        day[dt.date(2025, 3, 1)],
    ]
    assert "2025 cloudiness mapped by day of year" in provenance[0].detail


def test_without_the_farm_file_cloudiness_is_synthetic_only_if_allowed():
    cal = calendar(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    clearness, provenance = inputs.daily_clearness(
        cal, None, latitude=AUCKLAND[0], longitude=AUCKLAND[1], allow_synthetic=True, seed=5
    )
    assert clearness.synthetic.all()
    assert clearness.plant == ""
    per_day = clearness.factor[cal.day_starts()[:-1]]
    assert 0.65 < per_day.mean() < 0.8
    assert per_day.min() > 0
    assert per_day.max() <= 1
    assert "synthetic" in provenance[0].source
    # A date's draw does not depend on the span it is asked within; the seed changes it.
    june = calendar(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    part, _ = inputs.daily_clearness(
        june, None, latitude=AUCKLAND[0], longitude=AUCKLAND[1], allow_synthetic=True, seed=5
    )
    assert np.array_equal(
        part.factor, clearness.factor[cal.local_date >= np.datetime64("2026-06-01")][: june.periods]
    )
    other, _ = inputs.daily_clearness(
        june, None, latitude=AUCKLAND[0], longitude=AUCKLAND[1], allow_synthetic=True, seed=6
    )
    assert not np.array_equal(part.factor, other.factor)
    with pytest.raises(InputError) as caught:
        inputs.daily_clearness(
            june, None, latitude=AUCKLAND[0], longitude=AUCKLAND[1], allow_synthetic=False
        )
    assert caught.value.where == "data.generation_file"
    assert "data.synthetic_weather: true" in caught.value.message


def test_days_no_farm_has_are_listed_or_synthetic(shared_data, tmp_path):
    lines = (shared_data / FARMS).read_text(encoding="utf-8").splitlines()
    lauriston = write(
        tmp_path / "lauriston.csv", [lines[0], *(r for r in lines if ",ASB0661," in r)]
    )
    where = {"latitude": CHRISTCHURCH[0], "longitude": CHRISTCHURCH[1]}
    with pytest.raises(InputError) as caught:
        inputs.daily_clearness(YEAR_2025, lauriston, **where, allow_synthetic=False)
    assert "has no solar-farm output for 181 days: 2025-01-01..2025-06-30" in caught.value.message
    clearness, provenance = inputs.daily_clearness(
        YEAR_2025, lauriston, **where, allow_synthetic=True
    )
    july = YEAR_2025.local_date >= np.datetime64("2025-07-01")
    assert clearness.synthetic[~july].all()
    assert not clearness.synthetic[july].any()
    assert provenance[0].source.startswith("EMI Generation_MD, Lauriston")
    assert provenance[1].source == "synthetic (Beta(2.9, 1.1), seed 7), 181 days"


def test_a_file_that_is_not_generation_data_is_refused(shared_data):
    with pytest.raises(InputError) as caught:
        inputs.daily_clearness(
            YEAR_2025,
            shared_data / SELECTED,
            latitude=AUCKLAND[0],
            longitude=AUCKLAND[1],
            allow_synthetic=True,
        )
    assert caught.value.where.endswith("line 1")
    assert "not an EMI Generation_MD file" in caught.value.message


# --- Rooftop PV ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auckland_2025_clearness():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared NZ sample data is not at {SHARED_DATA}")
    clearness, _ = inputs.daily_clearness(
        YEAR_2025,
        SHARED_DATA / FARMS,
        latitude=AUCKLAND[0],
        longitude=AUCKLAND[1],
        allow_synthetic=False,
    )
    return clearness


def test_a_north_facing_auckland_system_yields_the_public_figure(auckland_2025_clearness):
    """1,300-1,450 kWh per kWp a year for a north-facing Auckland roof (public figure)."""
    system = home(pv_kwp=1.0, pv_tilt=25.0, pv_azimuth=0.0, inverter_kw=5.0)
    pv = inputs.pv_kwh(YEAR_2025, [system], auckland_2025_clearness)
    assert pv.shape == (1, YEAR_2025.periods)
    assert 1300 <= pv.sum() <= 1450
    by_month = np.bincount(YEAR_2025.month, pv[0], 13)[1:]
    assert by_month[[0, 11]].min() > 1.5 * by_month[[5, 6]].max()  # summer over winter


def test_orientation_follows_the_north_clockwise_convention(auckland_2025_clearness):
    planes = {"north": 0.0, "east": 90.0, "south": 180.0, "west": 270.0}
    homes = [home(key=k, pv_kwp=1.0, pv_azimuth=a) for k, a in planes.items()]
    pv = dict(zip(planes, inputs.pv_kwh(YEAR_2025, homes, auckland_2025_clearness), strict=True))
    total = {k: v.sum() for k, v in pv.items()}
    assert total["north"] > total["east"] > total["south"]
    assert total["north"] > total["west"] > total["south"]
    morning = YEAR_2025.slot < 24  # before local noon
    assert pv["east"][morning].sum() > pv["west"][morning].sum()
    assert pv["west"][~morning].sum() > pv["east"][~morning].sum()


def test_pv_is_clipped_at_the_inverter_zero_at_night_and_zero_without_panels(
    auckland_2025_clearness,
):
    homes = [home(pv_kwp=10.0, inverter_kw=3.0), home(key="none", pv_kwp=0.0)]
    pv = inputs.pv_kwh(YEAR_2025, homes, auckland_2025_clearness)
    assert pv[0].max() == pytest.approx(1.5)
    assert not pv[1].any()
    midnight = (YEAR_2025.slot == 0) | (YEAR_2025.slot == 47)
    assert not pv[0][midnight].any()
    assert pv.min() >= 0


def test_pv_for_a_thousand_homes_over_a_year_is_fast(auckland_2025_clearness):
    rng = np.random.default_rng(4)
    homes = [
        home(
            key=f"home-{i:04d}",
            latitude=AUCKLAND[0] + rng.uniform(-0.03, 0.03),
            longitude=AUCKLAND[1] + rng.uniform(-0.03, 0.03),
            pv_kwp=float(rng.uniform(3, 8)),
            pv_tilt=float(rng.choice([15, 20, 25, 30])),
            pv_azimuth=float(rng.choice([-45, 0, 45, 90])),
        )
        for i in range(1000)
    ]
    started = time.perf_counter()
    pv = inputs.pv_kwh(YEAR_2025, homes, auckland_2025_clearness)
    seconds = time.perf_counter() - started
    assert pv.shape == (1000, YEAR_2025.periods)
    assert seconds < 10, f"1,000 homes x a year took {seconds:.1f} s"
    one = inputs.pv_kwh(YEAR_2025, homes[7:8], auckland_2025_clearness)
    assert np.array_equal(one[0], pv[7])


# --- Household load -----------------------------------------------------------------------


def test_a_default_home_uses_a_typical_nz_year(shared_data):
    load, provenance = inputs.load_kwh(YEAR_2025, [home()], shared_data / SHAPES)
    assert load.shape == (1, YEAR_2025.periods)
    assert 6000 <= load.sum() <= 8000  # a typical NZ house: 6,000-8,000 kWh a year
    assert load.sum() == pytest.approx(7000, rel=0.02)
    assert load.min() > 0
    assert "GREEN Grid Total circuit" in provenance[0].source
    assert "2014, 2015, 2016, 2017, 2018" in provenance[0].source


def test_winter_evenings_peak_higher_than_summer_ones(shared_data):
    load, _ = inputs.load_kwh(YEAR_2025, [home(seed=s) for s in range(20)], shared_data / SHAPES)
    mean = load.mean(axis=0)
    evening = (YEAR_2025.slot >= 34) & (YEAR_2025.slot < 42)  # 17:00-21:00
    july = evening & (YEAR_2025.month == 7)
    january = evening & (YEAR_2025.month == 1)
    assert mean[july].mean() > 1.5 * mean[january].mean()


def test_a_homes_load_depends_on_its_seed_and_not_on_the_span(shared_data):
    shapes = shared_data / SHAPES
    year, _ = inputs.load_kwh(YEAR_2025, [home(seed=1), home(seed=2)], shapes)
    again, _ = inputs.load_kwh(YEAR_2025, [home(seed=1), home(seed=2)], shapes)
    assert np.array_equal(year, again)
    assert not np.allclose(year[0], year[1])
    june = calendar(dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    part, _ = inputs.load_kwh(june, [home(seed=1)], shapes)
    start = int(np.searchsorted(YEAR_2025.local_date, np.datetime64("2025-06-01")))
    assert np.allclose(part[0], year[0][start : start + june.periods])
    # A winter month takes more than its twelfth of the year.
    assert part.sum() > 7000 * 30 / 365 * 1.15


def test_the_season_blend_has_no_step_between_days(shared_data):
    shapes = inputs.read_load_shapes(shared_data / SHAPES)
    days = np.arange(1.0, 366.0)
    energy = inputs._daily_watts(shapes, days).sum(axis=1)
    change = np.abs(np.diff(np.append(energy, energy[0]))) / energy
    assert change.max() < 0.01


def test_without_a_shapes_file_the_embedded_days_are_used():
    load, provenance = inputs.load_kwh(YEAR_2025, [home(annual_load_kwh=5000.0)], None)
    assert load.sum() == pytest.approx(5000, rel=0.02)
    assert "embedded in metering.household_model" in provenance[0].source
    july = YEAR_2025.month == 7
    january = YEAR_2025.month == 1
    assert load[0][july].mean() > load[0][january].mean()


def test_a_shapes_file_of_the_wrong_kind_is_refused(shared_data):
    with pytest.raises(InputError) as caught:
        inputs.load_kwh(YEAR_2025, [home()], shared_data / FARMS)
    assert caught.value.where.endswith("line 1")
    assert "not a GREEN Grid mean-power file" in caught.value.message


def test_prices_come_in_cents_excluding_gst(tmp_path):
    day = dt.date(2026, 6, 1)
    file = write(tmp_path / "p.csv", [HEADER, *(f"{day},{n},PEN0331,123.45" for n in range(1, 49))])
    series, _ = inputs.wholesale_prices(
        calendar(day, day), "PEN0331", [file], allow_synthetic=False
    )
    assert series.price_c[0] == pytest.approx(float(Decimal("123.45") / 10))

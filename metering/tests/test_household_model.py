import datetime as dt
from statistics import median

import numpy as np
import pandas as pd
import pytest

from metering.household_model import SUMMER_W, WINTER_W, HouseSpec, house_size, simulate

AUCKLAND = (-36.85, 174.76)
YEAR = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_a_typical_house_uses_what_nz_houses_use():
    totals = [
        simulate(HouseSpec(*AUCKLAND, seed), *YEAR).load.sum() / house_size(seed)
        for seed in range(6)
    ]
    assert all(6000 < t < 8000 for t in totals), totals
    community = [simulate(HouseSpec(*AUCKLAND, seed), *YEAR).load.sum() for seed in range(20)]
    assert 6000 < median(community) < 8000


def test_auckland_pv_yields_1300_to_1500_kwh_per_kwp():
    pv = simulate(HouseSpec(*AUCKLAND, 1, pv_kwp=4.0, inverter_kw=5), *YEAR).pv.sum() / 4
    assert 1300 < pv < 1500, pv


def test_energy_balances_every_half_hour_and_nothing_is_negative():
    spec = HouseSpec(
        *AUCKLAND,
        3,
        pv_kwp=6.6,
        inverter_kw=5,
        battery_kwh=13.5,
        battery_kw=5,
        ev_kwh=60,
        ev_charger_kw=7.4,
    )
    h = simulate(
        spec, dt.datetime(2026, 6, 1, tzinfo=dt.UTC), dt.datetime(2026, 6, 15, tzinfo=dt.UTC)
    )
    supply = h.pv + h.grid_import + h.battery_discharge
    demand = h.load + h.grid_export + h.battery_charge
    assert np.allclose(supply, demand, atol=1e-9)
    for series in (h.load, h.pv, h.grid_import, h.grid_export, h.battery_charge, h.ev):
        assert (series >= 0).all()
    assert h.battery_discharge.sum() > 0
    assert h.ev.sum() > 0
    assert not ((h.grid_import > 1e-9) & (h.grid_export > 1e-9)).any()


def test_same_seed_same_energy_whatever_the_window():
    spec = HouseSpec(*AUCKLAND, 11, pv_kwp=5, inverter_kw=5)
    day = simulate(
        spec, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    )
    week = simulate(
        spec, dt.datetime(2026, 2, 27, tzinfo=dt.UTC), dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
    )
    offset = week.starts.get_loc(day.starts[0])
    assert np.array_equal(day.load, week.load[offset : offset + 48])
    assert np.array_equal(day.pv, week.pv[offset : offset + 48])
    other = simulate(
        HouseSpec(*AUCKLAND, 12, pv_kwp=5, inverter_kw=5), day.starts[0], day.starts[-1]
    )
    assert not np.array_equal(day.load[:47], other.load)


def test_embedded_shape_matches_the_green_grid_file(shared_data):
    df = pd.read_csv(
        shared_data
        / "consumption/greengrid_mean_household_halfhour_power_W_by_circuit_season_year.csv"
    )
    total = df[df.eecaCircuit == "Total"].groupby(["season", "obsHalfHour"]).davgW.mean()
    assert np.allclose(total["Winter"].to_numpy(), WINTER_W, atol=1)
    assert np.allclose(total["Summer"].to_numpy(), SUMMER_W, atol=1)


@pytest.mark.parametrize("day", [dt.date(2026, 4, 5), dt.date(2026, 9, 27)])
def test_daylight_saving_days_have_their_own_number_of_half_hours(day):
    from coop import nz

    periods = nz.trading_periods(day)
    h = simulate(HouseSpec(*AUCKLAND, 1), periods[0][1], periods[-1][2])
    assert len(h.starts) == len(periods)


def test_the_panels_irradiance_kept_by_the_day_is_what_pvlib_gives_for_the_window():
    """household_model keeps each UTC day's plane-of-array irradiance; a window across days
    (and DST), on the half hours or off them, gets exactly what one pvlib call over it gives."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from metering import household_model as hm

    site = (-36.85, 174.76, 25.0, 10.0)
    for first, periods in [
        ("2026-04-04T11:00Z", 96),  # across the end of NZ daylight time
        ("2026-07-05T12:30Z", 150),
        ("2026-12-31T23:30Z", 3),
    ]:
        starts = pd.date_range(first, periods=periods, freq="30min")
        direct = hm._poa(*site, starts)
        assert np.array_equal(hm._poa_w_m2(*site, starts), direct)
        assert np.array_equal(hm._poa_w_m2(*site, starts), direct)  # from the days kept
    off = pd.DatetimeIndex([dt.datetime(2026, 1, 5, 1, 10, tzinfo=dt.UTC)])
    assert np.array_equal(hm._poa_w_m2(*site, off), hm._poa(*site, off))
    kept = hm._poa_day(*site, 20_000)
    assert not kept.flags.writeable  # shared between callers
    assert hm._poa_w_m2(*site, pd.DatetimeIndex([], tz="UTC")).shape == (0,)

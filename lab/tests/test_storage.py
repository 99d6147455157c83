"""The battery and EV strategies (lab.core.storage): the energy balance, the battery's limits,
the self-consumption rules, the EV sessions and their needs, the energy manager against
self-consumption on a time-of-use tariff, daylight-saving days and determinism. Pure: made-up
homes and profiles, no database."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from lab.core import storage
from lab.core.calendar import Calendar, calendar
from lab.core.community import HomeSpec

TOL = 1e-6  # kWh, on the LP's limits and needs (HiGHS' tolerances)
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))


def home(key: str, **equipment) -> HomeSpec:
    return HomeSpec(
        key=key,
        latitude=-36.9,
        longitude=174.8,
        annual_load_kwh=6000.0,
        tariff="tou",
        feeder="F1",
        transformer="T1",
        **equipment,
    )


BATTERY = {"battery_kwh": 13.5, "battery_kw": 5.0}
HOMES = (
    home("pv-battery", pv_kwp=5.0, **BATTERY),
    home("pv", pv_kwp=5.0),
    home("battery", **BATTERY),
    home("neither"),
    home("pv-battery-ev", pv_kwp=6.0, ev_kwh_per_day=10.0, **BATTERY),
    home("ev", ev_kwh_per_day=8.0),
    home("pv-ev", pv_kwp=4.0, ev_kwh_per_day=12.0, ev_plug_in_hour=17.5, ev_depart_hour=8.0),
    home(
        "small-battery",
        pv_kwp=3.0,
        battery_kwh=5.0,
        battery_kw=2.5,
        battery_reserve=0.2,
        battery_round_trip=0.85,
    ),
)
BATTERY_ROWS = [i for i, h in enumerate(HOMES) if h.battery_kwh > 0]


def profiles(cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Load with a morning and a larger evening peak, and PV as a midday bell under a cloud
    factor per day, kWh per half hour."""
    rng = np.random.default_rng(7)
    hour = cal.slot / 2 + 0.25
    shape = (
        0.4
        + 0.5 * np.exp(-0.5 * (hour - 7.5) ** 2)
        + 1.2 * np.exp(-0.5 * ((hour - 18.5) / 1.6) ** 2)
    )
    load = 0.5 * shape * rng.lognormal(0.0, 0.2, (len(HOMES), cal.periods))
    sun = np.clip(np.cos((hour - 12.5) / 6.5 * np.pi / 2), 0.0, None) ** 1.5
    cloud = rng.uniform(0.4, 1.0, cal.days)[cal.day_index]
    kwp = np.array([h.pv_kwp for h in HOMES])[:, None]
    return load, 0.5 * 0.8 * kwp * sun * cloud


def time_of_use(cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """38 c 07-11 and 17-21, 24 c otherwise; sell 12 c."""
    peak = ((cal.slot >= 14) & (cal.slot < 22)) | ((cal.slot >= 34) & (cal.slot < 42))
    return np.where(peak, 38.0, 24.0), np.full(cal.periods, 12.0)


def bill_c(flows: storage.Flows, buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    return flows.grid_import @ buy - flows.grid_export @ sell


class Span:
    """Every strategy over one span, for the homes above."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        self.cal = calendar(first, last)
        self.load, self.pv = profiles(self.cal)
        self.buy, self.sell = time_of_use(self.cal)
        self.sessions = storage.ev_sessions(self.cal, HOMES)
        self.dumb_ev = storage.ev_on_arrival(self.cal, HOMES, self.sessions)
        self.none = storage.no_battery(HOMES, self.load, self.pv, self.dumb_ev)
        self.self_consumption = storage.self_consumption(HOMES, self.load, self.pv, self.dumb_ev)
        self.hem = storage.energy_manager(
            self.cal, HOMES, self.load, self.pv, self.sessions, self.buy, self.sell
        )

    def strategies(self) -> dict[str, storage.Flows]:
        return {"none": self.none, "self": self.self_consumption, "hem": self.hem}


@pytest.fixture(scope="module")
def week() -> Span:
    return Span(*WEEK)


@pytest.fixture(scope="module", params=["dst-ends", "dst-starts"])
def dst(request) -> Span:
    day = dt.date(2026, 4, 5) if request.param == "dst-ends" else dt.date(2026, 9, 27)
    return Span(day - dt.timedelta(days=1), day + dt.timedelta(days=1))


def test_the_balance_holds_for_every_strategy(week):
    for name, flows in week.strategies().items():
        flows.check_balance()
        for field in ("ev", "charge", "discharge", "grid_import", "grid_export", "curtailed"):
            assert (getattr(flows, field) >= -TOL).all(), (name, field)
        assert (flows.grid_export <= storage.EXPORT_KW * 0.5 + TOL).all(), name
        np.testing.assert_allclose(flows.net, flows.grid_import - flows.grid_export)


def test_check_balance_names_where_it_fails(week):
    f = week.self_consumption
    grid_import = f.grid_import.copy()
    grid_import[0, 50] += 0.1
    broken = storage.Flows(
        load=f.load,
        pv=f.pv,
        ev=f.ev,
        charge=f.charge,
        discharge=f.discharge,
        grid_import=grid_import,
        grid_export=f.grid_export,
        curtailed=f.curtailed,
        soc=f.soc,
    )
    with pytest.raises(ValueError, match=r"0\.1 kWh at home index 0, period 50"):
        broken.check_balance()


def test_the_soc_stays_between_reserve_and_capacity(week):
    for flows in (week.self_consumption, week.hem):
        for i in BATTERY_ROWS:
            h = HOMES[i]
            assert flows.soc[i].min() >= h.battery_reserve * h.battery_kwh - TOL
            assert flows.soc[i].max() <= h.battery_kwh + TOL
            assert flows.charge[i].max() <= h.battery_kw * 0.5 + TOL
            assert flows.discharge[i].max() <= h.battery_kw * 0.5 + TOL
        no_battery = [i for i in range(len(HOMES)) if i not in BATTERY_ROWS]
        assert not flows.soc[no_battery].any()
        assert not flows.charge[no_battery].any()


@pytest.mark.parametrize("flows_of", ["self_consumption", "hem"])
def test_the_soc_follows_the_charge_and_discharge(week, flows_of):
    flows = getattr(week, flows_of)
    for i in BATTERY_ROWS:
        h = HOMES[i]
        eta = math.sqrt(h.battery_round_trip)
        change = np.cumsum(eta * flows.charge[i] - flows.discharge[i] / eta)
        np.testing.assert_allclose(flows.soc[i], 0.5 * h.battery_kwh + change, atol=1e-5)


def test_self_consumption_imports_only_when_the_battery_cannot_discharge(week):
    f = week.self_consumption
    for i in BATTERY_ROWS:
        h = HOMES[i]
        eta = math.sqrt(h.battery_round_trip)
        before = np.concatenate(([0.5 * h.battery_kwh], f.soc[i, :-1]))
        could = np.minimum(h.battery_kw * 0.5, (before - h.battery_reserve * h.battery_kwh) * eta)
        importing = f.grid_import[i] > 1e-12
        assert importing.any()
        assert (f.discharge[i, importing] >= could[importing] - 1e-9).all()
        room = np.minimum(h.battery_kw * 0.5, (h.battery_kwh - before) / eta)
        exporting = f.grid_export[i] > 1e-12
        assert (f.charge[i, exporting] >= room[exporting] - 1e-9).all()
        # Never both, and the battery serves the home, not the grid.
        assert not (importing & (f.grid_export[i] > 0)).any()
        assert not ((f.discharge[i] > 0) & exporting).any()


def test_a_battery_home_imports_and_exports_less_than_without_its_battery(week):
    with_battery, without = week.self_consumption, week.none
    for i in BATTERY_ROWS:
        assert (with_battery.grid_import[i] <= without.grid_import[i] + 1e-12).all()
        assert (with_battery.grid_export[i] <= without.grid_export[i] + 1e-12).all()
        assert with_battery.grid_import[i].sum() < without.grid_import[i].sum()
        if HOMES[i].pv_kwp > 0:
            assert with_battery.grid_export[i].sum() < without.grid_export[i].sum()
    others = [i for i in range(len(HOMES)) if i not in BATTERY_ROWS]
    np.testing.assert_array_equal(with_battery.grid_import[others], without.grid_import[others])


def test_ev_sessions_run_evening_to_morning_and_share_the_cut_nights():
    cal = calendar(*WEEK)
    sessions = storage.ev_sessions(cal, HOMES)
    assert [len(s) for s in sessions] == [0, 0, 0, 0, 8, 8, 8, 0]
    ev = sessions[4]
    assert (ev[0].start, cal.slot[ev[0].end]) == (0, 15)  # home from the night before
    for s in ev[1:-1]:
        assert (cal.slot[s.start], cal.slot[s.end]) == (36, 15)
        assert s.need_kwh == 10.0
        assert cal.day_index[s.end] == cal.day_index[s.start] + 1
    assert (cal.slot[ev[-1].start], ev[-1].end) == (36, cal.periods)
    # 15 of the night's 27 periods fall on the first morning, 12 on the last evening.
    assert ev[0].need_kwh == pytest.approx(10.0 * 15 / 27)
    assert ev[-1].need_kwh == pytest.approx(10.0 * 12 / 27)
    assert sum(s.need_kwh for s in ev) == pytest.approx(10.0 * cal.days)
    later = sessions[6]  # plugged in 17:30, away at 08:00
    assert (cal.slot[later[1].start], cal.slot[later[1].end]) == (35, 16)


def test_a_day_time_plug_in_gives_sessions_within_each_day():
    cal = calendar(*WEEK)
    worker = home("day", ev_kwh_per_day=6.0, ev_plug_in_hour=9.25, ev_depart_hour=16.75)
    (sessions,) = storage.ev_sessions(cal, [worker])
    assert len(sessions) == cal.days
    for s in sessions:
        assert (cal.slot[s.start], cal.slot[s.end]) == (19, 33)
        assert cal.day_index[s.start] == cal.day_index[s.end]
        assert s.need_kwh == 6.0


def test_ev_hours_out_of_range_are_refused():
    with pytest.raises(ValueError, match="home late: ev_depart_hour must be in"):
        storage.ev_sessions(calendar(*WEEK), [home("late", ev_kwh_per_day=5.0, ev_depart_hour=24)])


def test_dumb_charging_runs_at_full_power_from_plug_in(week):
    for i, sessions in enumerate(week.sessions):
        step = HOMES[i].ev_charger_kw * 0.5
        plugged = np.zeros(week.cal.periods, dtype=bool)
        for s in sessions:
            got = week.dumb_ev[i, s.start : s.end]
            assert got.sum() == pytest.approx(s.need_kwh)
            full = int(s.need_kwh // step)
            np.testing.assert_allclose(got[:full], step)
            assert got[full + 1 :].sum() == 0.0
            plugged[s.start : s.end] = True
        assert not week.dumb_ev[i, ~plugged].any()


@pytest.mark.parametrize("horizon_days", [1, 2, 3])
def test_the_energy_manager_meets_every_ev_need_by_departure(horizon_days, week):
    hem = (
        week.hem
        if horizon_days == 2
        else storage.energy_manager(
            week.cal,
            HOMES,
            week.load,
            week.pv,
            week.sessions,
            week.buy,
            week.sell,
            horizon_days=horizon_days,
        )
    )
    hem.check_balance()
    for i, sessions in enumerate(week.sessions):
        plugged = np.zeros(week.cal.periods, dtype=bool)
        for s in sessions:
            assert hem.ev[i, s.start : s.end].sum() >= s.need_kwh - TOL
            plugged[s.start : s.end] = True
        assert hem.ev[i, ~plugged].max(initial=0.0) <= TOL
        assert hem.ev[i].max(initial=0.0) <= HOMES[i].ev_charger_kw * 0.5 + TOL


def test_the_energy_manager_charges_the_ev_off_peak(week):
    ev_only = [h.key for h in HOMES].index("ev")
    peak = week.buy > 30
    assert week.dumb_ev[ev_only, peak].sum() > 10.0  # dumb charging starts at 18:00, in the peak
    assert week.hem.ev[ev_only, peak].sum() <= TOL


def test_the_energy_manager_bills_no_more_than_self_consumption_on_time_of_use(week):
    hem = bill_c(week.hem, week.buy, week.sell)
    self_consumption = bill_c(week.self_consumption, week.buy, week.sell)
    assert (hem <= self_consumption + 1e-6).all()
    assert hem.sum() < self_consumption.sum() - 100.0  # more than a dollar a week saved


def test_homes_with_neither_battery_nor_ev_are_left_as_without_a_battery(week):
    plain = [i for i, h in enumerate(HOMES) if h.battery_kwh == 0 and not h.has_ev]
    for field in ("grid_import", "grid_export", "curtailed", "charge", "ev"):
        np.testing.assert_array_equal(
            getattr(week.hem, field)[plain], getattr(week.none, field)[plain]
        )


def test_daylight_saving_days_work(dst):
    day = dst.cal.local_date == dst.cal.local_date[0] + np.timedelta64(1, "D")
    assert day.sum() in (46, 50)
    for flows in dst.strategies().values():
        flows.check_balance()
    for i, sessions in enumerate(dst.sessions):
        plug_in, depart = 2 * HOMES[i].ev_plug_in_hour, 2 * HOMES[i].ev_depart_hour
        for s in sessions[1:-1]:
            assert (dst.cal.slot[s.start], dst.cal.slot[s.end]) == (plug_in, depart)
            assert dst.hem.ev[i, s.start : s.end].sum() >= s.need_kwh - TOL
            assert dst.dumb_ev[i, s.start : s.end].sum() == pytest.approx(s.need_kwh)
    for i in BATTERY_ROWS:
        assert dst.hem.soc[i].min() >= HOMES[i].battery_reserve * HOMES[i].battery_kwh - TOL


def test_the_energy_manager_reports_progress_and_is_deterministic(week):
    calls = []
    again = storage.energy_manager(
        week.cal,
        HOMES,
        week.load,
        week.pv,
        week.sessions,
        week.buy,
        week.sell,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(d, 7) for d in range(1, 8)]
    for field in ("charge", "discharge", "ev", "grid_import", "grid_export", "soc"):
        np.testing.assert_array_equal(getattr(again, field), getattr(week.hem, field))


def test_worker_processes_plan_the_same_as_one():
    cal = calendar(WEEK[0], WEEK[0] + dt.timedelta(days=2))
    load, pv = profiles(cal)
    buy, sell = time_of_use(cal)
    sessions = storage.ev_sessions(cal, HOMES)
    args = (cal, HOMES, load, pv, sessions, buy, sell)
    one = storage.energy_manager(*args)
    two = storage.energy_manager(*args, workers=2)
    for field in ("charge", "discharge", "ev", "grid_import", "grid_export", "soc"):
        np.testing.assert_array_equal(getattr(two, field), getattr(one, field))


def test_per_home_prices_are_each_homes_own(week):
    battery_only = [h.key for h in HOMES].index("battery")
    buy = np.tile(week.buy, (len(HOMES), 1))
    buy[battery_only] = 30.0  # a flat tariff: nothing to gain by charging from the grid
    hem = storage.energy_manager(week.cal, HOMES, week.load, week.pv, week.sessions, buy, week.sell)
    assert hem.charge[battery_only].max() <= TOL
    assert week.hem.charge[battery_only].sum() > 10.0  # on time of use it charges off-peak
    others = [i for i in range(len(HOMES)) if i != battery_only]
    np.testing.assert_allclose(
        bill_c(hem, week.buy, week.sell)[others],
        bill_c(week.hem, week.buy, week.sell)[others],
        atol=0.01,
    )


def test_the_cheap_strategies_are_deterministic(week):
    again = storage.self_consumption(HOMES, week.load, week.pv, week.dumb_ev)
    np.testing.assert_array_equal(again.soc, week.self_consumption.soc)
    np.testing.assert_array_equal(
        storage.ev_on_arrival(week.cal, HOMES, storage.ev_sessions(week.cal, HOMES)), week.dumb_ev
    )


def test_inputs_of_the_wrong_shape_or_not_finite_are_refused(week):
    with pytest.raises(ValueError, match=r"pv has shape \(8, 10\); it must be"):
        storage.no_battery(HOMES, week.load, week.pv[:, :10], week.dumb_ev)
    bad = week.load.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="load has a NaN"):
        storage.self_consumption(HOMES, bad, week.pv, week.dumb_ev)
    with pytest.raises(ValueError, match="soc0_fraction must be in"):
        storage.self_consumption(HOMES, week.load, week.pv, week.dumb_ev, soc0_fraction=1.5)
    with pytest.raises(ValueError, match="buy_c has shape"):
        storage.energy_manager(
            week.cal, HOMES, week.load, week.pv, week.sessions, week.buy[:5], week.sell
        )


def test_pv_beyond_the_export_limit_is_curtailed(week):
    flows = storage.no_battery(HOMES, week.load, week.pv, week.dumb_ev, export_kw=1.0)
    flows.check_balance()
    surplus = np.maximum(week.pv - week.load - week.dumb_ev, 0.0)
    np.testing.assert_allclose(flows.grid_export, np.minimum(surplus, 0.5))
    np.testing.assert_allclose(flows.curtailed, surplus - flows.grid_export)
    assert flows.curtailed.sum() > 1.0


def test_a_home_day_the_lp_cannot_plan_runs_as_self_consumption(week, caplog):
    load = week.load.copy()
    battery_only = [h.key for h in HOMES].index("battery")
    load[battery_only, 60] = 20.0  # 40 kW for half an hour: beyond the 15 kW fuse
    with caplog.at_level("WARNING", logger="lab.core.storage"):
        hem = storage.energy_manager(
            week.cal, HOMES, load, week.pv, week.sessions, week.buy, week.sell
        )
    hem.check_balance()
    assert [r.getMessage()[:16] for r in caplog.records] == ["battery, day 0: ", "battery, day 1: "]
    # Self-consumption on the two days whose plans hold that half hour: with no PV the battery
    # only discharges; the LP plans from day 2 on charge it off-peak again.
    assert hem.charge[battery_only, :96].max() == 0.0
    assert hem.discharge[battery_only, :96].sum() > 1.0
    assert hem.charge[battery_only, 96:].sum() > 1.0
    others = [i for i in range(len(HOMES)) if i != battery_only]
    np.testing.assert_allclose(
        bill_c(hem, week.buy, week.sell)[others],
        bill_c(week.hem, week.buy, week.sell)[others],
        atol=0.01,
    )

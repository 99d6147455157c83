""" "My battery and EV": opting in, refused values, another member's ICP, the EV override, the
latest plan's saving and chart, the admin's alarm for plans that fell back; a GET writes
nothing."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from conftest import make_member, make_period
from trading.energy_forms import next_occurrence
from trading.energy_models import EnergyManager, EnergyPlan, EVHabit

pytestmark = pytest.mark.django_db

NZ_NOW = dt.datetime(2026, 7, 13, 5, 50, tzinfo=dt.UTC)  # Monday 17:50 NZST
FIRST = dt.datetime(2026, 7, 13, 6, 0, tzinfo=dt.UTC)  # 18:00 NZST
PAGE = "/market/battery-ev/"


@pytest.fixture
def homes(resident, other_resident):
    """The resident's ICP with a battery and an EV; the other member's with a battery."""
    from coop.models import Battery, ElectricVehicle

    icp = resident.icps.get()
    Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
    ElectricVehicle.objects.create(
        icp=icp,
        battery_kwh=Decimal(40),
        charger_kw=Decimal(7),
        usual_plug_in=dt.time(18, 30),
        usual_departure=dt.time(7, 15),
    )
    other = other_resident.icps.get()
    Battery.objects.create(icp=other, capacity_kwh=Decimal(13), power_kw=Decimal(5))
    return icp, other


@pytest.fixture
def client_a(client, resident, homes):
    client.force_login(resident.user)
    return client


def settings_post(icp, **values):
    """A full settings form for `icp`: the given values over sensible ones; None leaves a
    field out (an unticked box)."""
    p = f"icp{icp.pk}"
    fields = {
        "battery_enabled": "on",
        "reserve_pct": "30",
        "battery_may_export": None,
        "ev_enabled": "on",
        "ev_target_pct": "90",
        "ev_arrival_pct": "40",
    }
    fields.update(values)
    data = {"icp": icp.pk, "action": "settings"}
    data.update({f"{p}-{k}": v for k, v in fields.items() if v is not None})
    data.update(
        {
            f"{p}-habit-TOTAL_FORMS": "7",
            f"{p}-habit-INITIAL_FORMS": "0",
            f"{p}-habit-MIN_NUM_FORMS": "7",
            f"{p}-habit-MAX_NUM_FORMS": "7",
        }
    )
    for day in range(7):
        if day != 5:  # away on Saturdays
            data[f"{p}-habit-{day}-at_home"] = "on"
        data[f"{p}-habit-{day}-plug_in"] = "17:30" if day < 5 else "12:00"
        data[f"{p}-habit-{day}-departure"] = "07:00"
    return data


def override_post(icp, action="override", **values):
    p = f"icp{icp.pk}-override"
    data = {"icp": icp.pk, "action": action}
    data.update({f"{p}-{k}": v for k, v in values.items()})
    return data


def plan_for(icp, *, created_at, saving="1.23", status="optimal", reason="", **extra):
    n = 4
    starts = [FIRST + i * dt.timedelta(minutes=30) for i in range(n)]
    inputs = {
        "starts": [s.isoformat() for s in starts],
        "load_kwh": [0.6, 0.8, 0.7, 0.5],
        "pv_kwh": [0.0, 0.0, 0.0, 0.0],
        "buy_c": [18.5, 31.0, 31.0, 22.0],
        "sell_c": [9.0, 12.0, 12.0, 10.0],
        "battery_kwh": 10.0,
        "battery_kw": 5.0,
        "reserve_kwh": 2.0,
        "soc_kwh": 5.0,
        "may_export_battery": False,
        "ev_kw": 7.0,
        "ev_sessions": extra.pop("ev_sessions", []),
    }
    schedule = {
        "charge": [2.0, 0.0, 0.0, 0.0],
        "discharge": [0.0, 0.8, 0.7, 0.0],
        "ev": extra.pop("ev", [0.0, 0.0, 0.0, 0.0]),
        "grid_import": [2.6, 0.0, 0.0, 0.5],
        "grid_export": [0.0, 0.0, 0.0, 0.0],
        "soc": [5.0, 6.9, 6.1, 5.4, 5.4],
        "offer_floor_c": [30.0] * n,
        "bid_cap_c": [20.0] * n,
    }
    return EnergyPlan.objects.create(
        icp=icp,
        created_at=created_at,
        first_start=starts[0],
        status=status,
        reason=reason,
        cost_nzd=Decimal("2.00"),
        baseline_cost_nzd=Decimal("2.00") + Decimal(saving),
        inputs=inputs,
        schedule=schedule,
        **extra,
    )


def chart_data(response) -> list[dict]:
    match = re.search(
        r'<script id="energy-plans-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def test_a_get_shows_the_forms_and_never_creates_rows(client_a, homes):
    page = client_a.get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "My battery and EV" in text
    assert "Manage my battery" in text
    assert "Kept for power cuts" in text  # help texts are shown
    assert "Monday" in text
    assert "Sunday" in text
    assert 'type="time"' in text
    assert 'value="18:30"' in text  # the EV's usual plug-in time is the default habit
    assert "I&#x27;m plugged in now" in text or "I'm plugged in now" in text
    assert "<script>" not in text  # CSP: no inline scripts
    assert " onclick=" not in text
    assert EnergyManager.objects.count() == 0
    assert EVHabit.objects.count() == 0


def test_the_market_subnav_links_the_page(client_a):
    assert f'href="{PAGE}"' in client_a.get(reverse("market")).content.decode()


def test_opting_in_creates_the_manager_with_the_posted_values(client_a, homes):
    icp, _ = homes
    response = client_a.post(PAGE, settings_post(icp))
    assert response.status_code == 302
    manager = EnergyManager.objects.get(icp=icp)
    assert manager.battery_enabled
    assert manager.reserve_pct == Decimal(30)
    assert not manager.battery_may_export  # stays off until the resident allows it
    assert manager.ev_enabled
    assert manager.ev_target_pct == Decimal(90)
    assert manager.ev_arrival_pct == Decimal(40)
    habits = {h.weekday: h for h in manager.habits.all()}
    assert sorted(habits) == list(range(7))
    assert habits[0].plug_in == dt.time(17, 30)
    assert habits[0].departure == dt.time(7)
    assert habits[5].plug_in == dt.time(12)
    assert not habits[5].at_home
    assert habits[6].at_home
    # Saved again: the same rows are changed, none added.
    client_a.post(PAGE, settings_post(icp, reserve_pct="25", battery_enabled=None))
    manager.refresh_from_db()
    assert manager.reserve_pct == Decimal(25)
    assert not manager.battery_enabled
    assert EnergyManager.objects.count() == 1
    assert EVHabit.objects.count() == 7


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reserve_pct": "120"}, "The battery reserve cannot be above 100%"),
        ({"reserve_pct": "-5"}, "The battery reserve cannot be below 0%"),
        ({"ev_target_pct": "101"}, "The EV target cannot be above 100%"),
        (
            {"ev_target_pct": "15", "reserve_pct": "20"},
            "The EV target is below the reserve you keep: raise it.",
        ),
        ({"reserve_pct": ""}, "Give the battery reserve as a percentage from 0 to 100."),
    ],
)
def test_bad_values_are_refused_with_the_message_and_nothing_saved(
    client_a, homes, values, message
):
    icp, _ = homes
    response = client_a.post(PAGE, settings_post(icp, **values))
    assert response.status_code == 200
    text = response.content.decode()
    assert message in text
    assert "Not saved" in text
    assert EnergyManager.objects.count() == 0
    assert EVHabit.objects.count() == 0


def test_a_bad_habit_is_refused_and_an_existing_manager_kept(client_a, homes):
    icp, _ = homes
    client_a.post(PAGE, settings_post(icp))
    data = settings_post(icp, reserve_pct="50")
    data[f"icp{icp.pk}-habit-2-departure"] = "17:30"  # Wednesday: leaves when plugged in
    text = client_a.post(PAGE, data).content.decode()
    assert "The departure must differ from the plug-in time" in text
    manager = EnergyManager.objects.get()
    assert manager.reserve_pct == Decimal(30)
    assert manager.habits.get(weekday=2).departure == dt.time(7)


def test_another_members_icp_is_a_404_and_nothing_saved(client_a, homes, other_resident):
    _, other = homes
    assert client_a.post(PAGE, settings_post(other)).status_code == 404
    future = override_post(other, now_pct="20", need_pct="80", by="07:00")
    assert client_a.post(PAGE, future).status_code == 404
    assert client_a.post(PAGE, override_post(other, "override-clear")).status_code == 404
    assert client_a.post(PAGE, {"icp": "nonsense", "action": "settings"}).status_code == 404
    assert client_a.post(PAGE, {"action": "settings"}).status_code == 404
    assert EnergyManager.objects.count() == 0
    assert EVHabit.objects.count() == 0


def test_an_icp_without_a_battery_or_ev_is_not_on_the_page(client):
    member = make_member("nobattery", 7)
    client.force_login(member.user)
    page = client.get(PAGE).content.decode()
    assert "None of your ICPs has a battery or an EV" in page
    assert client.post(PAGE, settings_post(member.icps.get())).status_code == 404
    assert EnergyManager.objects.count() == 0


def test_next_occurrence_is_today_or_tomorrow_in_nz_time():
    # 17:50 NZST on Monday 13 July.
    assert next_occurrence(dt.time(19), NZ_NOW) == dt.datetime(2026, 7, 13, 7, tzinfo=dt.UTC)
    assert next_occurrence(dt.time(7, 30), NZ_NOW) == dt.datetime(
        2026, 7, 13, 19, 30, tzinfo=dt.UTC
    )
    # Across the start of daylight saving (Sunday 27 September 2026, 02:00 -> 03:00): the
    # next 07:30 is 07:30 NZDT, twelve and a half hours after 19:00 NZST, not thirteen.
    evening = dt.datetime(2026, 9, 26, 7, 0, tzinfo=dt.UTC)  # Saturday 19:00 NZST
    assert next_occurrence(dt.time(7, 30), evening) == dt.datetime(
        2026, 9, 26, 18, 30, tzinfo=dt.UTC
    )


def test_the_override_sets_override_by_to_the_next_nz_time(client_a, homes):
    icp, _ = homes
    with time_machine.travel(NZ_NOW, tick=False):
        response = client_a.post(PAGE, override_post(icp, now_pct="25", need_pct="80", by="07:30"))
        assert response.status_code == 302
        manager = EnergyManager.objects.get(icp=icp)
        # 07:30 has passed today in NZ (it is 17:50): tomorrow morning, 07:30 NZST.
        assert manager.override_by == dt.datetime(2026, 7, 13, 19, 30, tzinfo=dt.UTC)
        assert manager.override_now_pct == Decimal(25)
        assert manager.override_need_pct == Decimal(80)
        # First saved by the override: the rest are the safe defaults.
        assert not manager.battery_enabled
        assert not manager.battery_may_export
        assert manager.reserve_pct == Decimal(20)
        page = client_a.get(PAGE).content.decode()
        assert "Override in force: 80% by 07:30 Tue 14 Jul (it had 25%)." in page
        client_a.post(PAGE, override_post(icp, now_pct="25", need_pct="60", by="21:00"))
        manager.refresh_from_db()
        assert manager.override_by == dt.datetime(2026, 7, 13, 9, tzinfo=dt.UTC)  # today 21:00
        client_a.post(PAGE, override_post(icp, "override-clear"))
    manager.refresh_from_db()
    assert manager.override_by is None
    assert manager.override_need_pct is None
    assert manager.override_now_pct is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"now_pct": "70", "need_pct": "50", "by": "07:30"},
            "You need less than it has now (70%)",
        ),
        ({"now_pct": "20", "need_pct": "80", "by": "17:50"}, "It is 17:50 now: give a later time"),
        ({"now_pct": "20", "need_pct": "180", "by": "07:30"}, "cannot be above 100%"),
        ({"now_pct": "20", "need_pct": "80", "by": ""}, "Say by when you need it (HH:MM)."),
    ],
)
def test_a_bad_override_is_refused_with_the_message(client_a, homes, values, message):
    icp, _ = homes
    with time_machine.travel(NZ_NOW, tick=False):
        response = client_a.post(PAGE, override_post(icp, **values))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert EnergyManager.objects.count() == 0


def test_the_page_shows_the_latest_plan_for_the_residents_icp_only(client_a, homes):
    icp, other = homes
    EnergyManager.objects.create(icp=icp, ev_enabled=True, ev_target_pct=Decimal(80))
    plan_for(icp, created_at=NZ_NOW - dt.timedelta(hours=1), saving="4.56")  # superseded
    plan_for(
        icp,
        created_at=NZ_NOW - dt.timedelta(minutes=5),
        saving="1.23",
        ev_short_kwh=Decimal("2.000"),
        ev_sessions=[[0, 4, 10.0]],
        ev=[2.0, 2.0, 2.0, 2.0],
    )
    plan_for(other, created_at=NZ_NOW - dt.timedelta(minutes=5), saving="9.99")
    with time_machine.travel(NZ_NOW, tick=False):
        page = client_a.get(PAGE)
    text = page.content.decode()
    assert "Expected saving over the next 2 h: $1.23 against self-consumption" in text
    assert "$4.56" not in text
    assert "$9.99" not in text
    assert other.identifier not in text
    # 2 kWh short of a 40 kWh EV's 80%: about 75%, by the end of the session (20:00 NZST).
    assert (
        "The EV cannot reach 80% by 20:00: it will charge at full power and reach about 75%."
        in text
    )
    assert "Battery: 10.0 kWh" in text  # why: the inputs in words
    assert "starting charge 5.0 kWh" in text
    assert "18.5 to 31.0 c/kWh" in text
    assert f'id="plan-chart-{icp.pk}"' in text
    assert "vendor/plotly/plotly.min.js" in text
    assert "js/energy_manager.js" in text
    [chart] = chart_data(page)
    assert chart["id"] == icp.pk
    assert chart["x"] == [
        "2026-07-13 18:00",
        "2026-07-13 18:30",
        "2026-07-13 19:00",
        "2026-07-13 19:30",
    ]
    assert chart["x_edges"][-1] == "2026-07-13 20:00"  # the charge after the last period
    assert chart["soc_kwh"] == [5.0, 6.9, 6.1, 5.4, 5.4]
    assert chart["charge_kwh"] == [2.0, 0.0, 0.0, 0.0]
    assert chart["discharge_kwh"] == [-0.0, -0.8, -0.7, -0.0]
    assert chart["ev_kwh"] == [2.0, 2.0, 2.0, 2.0]
    assert chart["buy_c"] == [18.5, 31.0, 31.0, 22.0]
    assert "+12:00" not in json.dumps(chart)  # clock times, no offsets
    assert "NZ time" in text


def test_a_fallback_plan_says_so_with_its_reason(client_a, homes):
    icp, _ = homes
    plan_for(
        icp,
        created_at=NZ_NOW,
        saving="0",
        status=EnergyPlan.Status.FALLBACK,
        reason="the solver found no feasible plan",
    )
    text = client_a.get(PAGE).content.decode()
    assert "fell back to self-consumption" in text
    assert "the solver found no feasible plan" in text
    assert "$0.00 against self-consumption" in text


def test_the_other_member_sees_only_their_own_plan(client, homes, other_resident):
    icp, _ = homes
    plan_for(icp, created_at=NZ_NOW, saving="1.23")
    client.force_login(other_resident.user)
    page = client.get(PAGE)
    text = page.content.decode()
    assert icp.identifier not in text
    assert "$1.23" not in text
    assert chart_data(page) == []


def test_the_managers_open_orders_are_listed_with_a_cancel_link(client_a, homes, resident):
    from trading.models import Order

    icp, _ = homes
    plan = plan_for(icp, created_at=NZ_NOW)
    period = make_period(dt.date(2026, 7, 13), 37, state="open")
    placed = Order.objects.create(
        member=resident,
        icp=icp,
        period=period,
        side=Order.Side.BUY,
        energy_kwh=Decimal("2.600"),
        limit_price_c=Decimal("20.0000"),
        submitted_at=NZ_NOW,
        energy_plan=plan,
    )
    own = Order.objects.create(
        member=resident,
        icp=icp,
        period=period,
        side=Order.Side.SELL,
        energy_kwh=Decimal("7.770"),
        limit_price_c=Decimal(30),
        submitted_at=NZ_NOW,
    )
    text = client_a.get(PAGE).content.decode()
    assert reverse("order-cancel", args=[placed.pk]) in text
    assert reverse("order-cancel", args=[own.pk]) not in text  # the resident's own order
    with time_machine.travel(NZ_NOW, tick=False):  # before the period's gate closes
        response = client_a.post(reverse("order-cancel", args=[placed.pk]), {"next": PAGE})
    assert response.status_code == 302
    assert response["Location"] == PAGE
    placed.refresh_from_db()
    assert placed.status == Order.Status.CANCELLED


def test_the_admin_alarm_lists_homes_whose_latest_plan_fell_back(admin_client_, homes, coop_admin):
    icp, other = homes
    now = dt.datetime.now(dt.UTC)
    plan_for(
        icp,
        created_at=now - dt.timedelta(minutes=10),
        status=EnergyPlan.Status.FALLBACK,
        reason="no forecast for 3 periods",
    )
    # Older than two hours: not an alarm now.
    plan_for(
        other,
        created_at=now - dt.timedelta(hours=3),
        status=EnergyPlan.Status.FALLBACK,
        reason="stale failure",
    )
    # Fell back, then planned again: the latest plan is what matters.
    admin_icp = coop_admin.icps.get()
    plan_for(
        admin_icp,
        created_at=now - dt.timedelta(minutes=40),
        status=EnergyPlan.Status.FALLBACK,
        reason="recovered failure",
    )
    plan_for(admin_icp, created_at=now - dt.timedelta(minutes=10))
    home = admin_client_.get("/admin/").content.decode()
    assert "Home energy plans that fell back to self-consumption" in home
    assert f"ICP {icp.identifier}" in home
    assert "no forecast for 3 periods" in home
    assert "stale failure" not in home
    assert "recovered failure" not in home

    listing = admin_client_.get(
        "/admin/trading/energyplan/", {"latest": "yes", "status__exact": "fallback"}
    )
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "no forecast for 3 periods" in text
    assert "stale failure" in text  # the latest of its home, though old
    assert "recovered failure" not in text
    assert admin_client_.get("/admin/trading/energyplan/").status_code == 200
    plan = EnergyPlan.objects.filter(icp=icp).get()
    detail = admin_client_.get(f"/admin/trading/energyplan/{plan.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # read-only


def test_the_admin_shows_each_homes_settings_with_its_latest_plan(admin_client_, homes):
    icp, _ = homes
    manager = EnergyManager.objects.create(icp=icp, battery_enabled=True)
    EVHabit.objects.create(manager=manager, weekday=0, plug_in=dt.time(18), departure=dt.time(7))
    plan_for(icp, created_at=NZ_NOW, status=EnergyPlan.Status.FALLBACK, reason="broken")
    listing = admin_client_.get("/admin/trading/energymanager/").content.decode()
    assert icp.identifier in listing
    assert "Self-consumption" in listing
    assert "icon-no.svg" in listing
    detail = admin_client_.get(f"/admin/trading/energymanager/{manager.pk}/change/")
    assert detail.status_code == 200
    assert "18:00" in detail.content.decode()

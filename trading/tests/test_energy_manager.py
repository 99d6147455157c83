"""The home energy manager on the demo co-op: plans for the opted-in homes, stored with their
inputs, dispatched to the devices, and turned into ordinary orders before gate closure."""

import datetime as dt
from decimal import Decimal

import pytest

from coop import demo, nz
from coop.models import ICP, CoopSettings
from metering.models import Dispatch
from trading import demo as trading_demo
from trading.models import EnergyManager, EnergyPlan, Order, TradingPeriod
from trading.services import energy_manager, network_prices, periods
from trading.services.orders import order_cancel

pytestmark = pytest.mark.django_db
AFTERNOON = nz.trading_period_start(dt.date(2026, 7, 13), 31)  # Monday 15:00 NZST


@pytest.fixture
def community(db):
    demo.seed()
    trading_demo._seed_energy_managers()
    settings_row = CoopSettings.load()
    settings_row.mechanism = CoopSettings.Mechanism.TIME_VALUE
    settings_row.save()
    periods.periods_ensure(now=AFTERNOON, hours=26)
    network_prices.feeder_prices_publish(now=AFTERNOON, iterate=False)
    return EnergyManager.objects.select_related("icp")


def test_every_opted_in_home_gets_a_plan_a_dispatch_and_its_next_orders(community):
    planned = energy_manager.plans_make(now=AFTERNOON)
    managers = list(community)
    assert planned.homes == len(managers) > 0
    assert planned.fallbacks == 0
    for manager in managers:
        plan = EnergyPlan.objects.filter(icp=manager.icp).latest("created_at")
        assert plan.status == "optimal"
        assert len(plan.inputs["starts"]) == 48
        assert plan.inputs["starts"][0] == (AFTERNOON + nz.TRADING_PERIOD).isoformat()
        assert len(plan.schedule["soc"]) == 49
        assert plan.saving_nzd >= Decimal("-0.0001")  # never worse than self-consumption
        assert Dispatch.objects.filter(icp=manager.icp).count() == 48
    # A battery that may export plans to sell in the evening peak, at its offer floor.
    battery_icps = [m.icp for m in managers if m.battery_enabled]
    sold = [
        plan
        for plan in EnergyPlan.objects.filter(icp__in=battery_icps)
        if max(plan.schedule["discharge"][4:12]) > 0.1  # 17:00-21:00
    ]
    assert sold


def test_planned_orders_are_ordinary_orders_the_resident_can_cancel(community):
    # 16:40: the 17:00 and 17:30 periods are still open.
    now = AFTERNOON + dt.timedelta(minutes=100)
    energy_manager.plans_make(now=now)
    orders = list(Order.objects.filter(energy_plan__isnull=False).select_related("icp", "member"))
    assert orders
    for order in orders:
        assert order.member_id == order.icp.member_id
        assert order.period.gate_closes_at > now
        plan = order.energy_plan
        i = plan.inputs["starts"].index(order.period.start.isoformat())
        if order.side == "sell":
            floor = Decimal(repr(plan.schedule["offer_floor_c"][i])).quantize(Decimal("0.0001"))
            assert order.limit_price_c == max(floor, CoopSettings.load().price_floor_c)
    first = orders[0]
    order_cancel(member=first.member, order=first, now=now)
    # The next solve cancels its own open orders for those periods and places them anew.
    energy_manager.plans_make(now=now + dt.timedelta(minutes=1))
    open_orders = Order.objects.filter(energy_plan__isnull=False, status="open")
    assert open_orders.exists()
    assert not open_orders.filter(period=first.period, icp=first.icp, side=first.side).count() > 1


def test_an_unreachable_ev_target_is_missed_as_little_as_possible_and_said(community):
    ev_manager = community.filter(ev_enabled=True).first()
    ev_manager.override_now_pct = Decimal(5)
    ev_manager.override_need_pct = Decimal(100)
    ev_manager.override_by = AFTERNOON + dt.timedelta(hours=1, minutes=30)
    ev_manager.save()
    energy_manager.plans_make(now=AFTERNOON)
    plan = EnergyPlan.objects.filter(icp=ev_manager.icp).latest("created_at")
    assert plan.status == "optimal"
    assert plan.ev_short_kwh > 0
    ev_kw = float(sum(e.charger_kw for e in ev_manager.icp.evs.all()))
    # It charges at full power until the deadline.
    assert plan.schedule["ev"][:2] == pytest.approx([ev_kw * 0.5] * 2, abs=1e-3)


def test_a_home_without_a_tariff_is_left_out_and_the_others_are_planned(community):
    stray = community.first().icp
    stray.tariffs.all().delete()
    planned = energy_manager.plans_make(now=AFTERNOON)
    assert planned.homes == community.count() - 1
    assert not EnergyPlan.objects.filter(icp=stray).exists()
    assert EnergyPlan.objects.exclude(icp=stray).count() == planned.homes


def test_network_prices_iterate_with_the_planned_schedules(community):
    """Prices -> the managed homes' schedules -> flows -> prices: the evening's price moves
    once batteries plan to discharge into it, and every row says how many rounds it took."""
    from trading.models import FeederPrice

    evening = TradingPeriod.objects.get(trading_date=dt.date(2026, 7, 13), number=37)
    first = dict(FeederPrice.objects.filter(period=evening).values_list("feeder_id", "price_c"))
    network_prices.feeder_prices_publish(now=AFTERNOON)
    rounds = set(FeederPrice.objects.values_list("rounds", flat=True))
    assert 2 <= max(rounds) <= network_prices.MAX_ROUNDS
    after = dict(FeederPrice.objects.filter(period=evening).values_list("feeder_id", "price_c"))
    assert after != first
    assert ICP.objects.filter(energy_manager__isnull=False).count() == community.count()


def test_a_new_holder_starts_with_the_manager_off(community):
    from conftest import make_member
    from coop.services import icp_assign_member

    manager = community.filter(battery_may_export=True).first()
    newcomer = make_member("newcomer", 77)
    icp_assign_member(icp=manager.icp, member=newcomer, on=nz.today() + dt.timedelta(days=1))
    assert manager.icp.pk not in {m.icp.pk for m in energy_manager.managers_due()}


def test_a_device_that_refused_its_setpoint_is_said_on_the_residents_page_and_in_the_admin(
    community, client, admin_client
):
    from django.utils import timezone

    from metering.models import Meter

    manager = community.filter(battery_enabled=True).first()
    Meter.objects.create(
        icp=manager.icp,
        adapter=Meter.Adapter.MQTT,
        settings={"topic": "home/1/status"},
        dispatch_failed_at=timezone.now(),
        last_dispatch_error="no command topic is configured",
    )
    client.force_login(manager.icp.member.user)
    page = client.get("/market/battery-ev/").content.decode()
    assert "did not take the plan" in page
    assert "no command topic is configured" in page
    listing = admin_client.get("/admin/trading/energymanager/").content.decode()
    assert "Not following" in listing


def test_a_new_holder_sees_the_defaults_not_the_last_holders_settings(community, client):
    from conftest import make_member
    from coop.services import icp_assign_member
    from trading.models import EVHabit

    manager = community.filter(ev_enabled=True).first()
    EVHabit.objects.create(
        manager=manager, weekday=0, plug_in=dt.time(23, 45), departure=dt.time(5, 15)
    )
    newcomer = make_member("newcomer", 78)
    icp_assign_member(icp=manager.icp, member=newcomer, on=nz.today())
    EnergyManager.objects.filter(pk=manager.pk).update(
        ev_target_pct=Decimal(95),
        updated_at=nz.trading_day_start(nz.today()) - dt.timedelta(hours=1),
    )
    client.force_login(newcomer.user)
    page = client.get("/market/battery-ev/").content.decode()
    assert "The manager is off for this ICP" in page
    assert "23:45" not in page  # the last holder's habit is not shown
    # Its form saves over the old row rather than adding a second one.
    form = client.get("/market/battery-ev/").context["homes"][0].settings_form
    assert form.instance.pk == manager.pk
    assert form.instance.ev_target_pct == Decimal(80)  # the default, whatever was saved


def test_a_new_holder_of_a_battery_home_starts_with_no_battery_export(community, client):
    from conftest import make_member
    from coop.services import icp_assign_member

    manager = community.filter(battery_may_export=True).first()
    icp_assign_member(icp=manager.icp, member=make_member("buyer", 79), on=nz.today())
    EnergyManager.objects.filter(pk=manager.pk).update(
        updated_at=nz.trading_day_start(nz.today()) - dt.timedelta(hours=1)
    )
    client.force_login(EnergyManager.objects.get(pk=manager.pk).icp.member.user)
    form = client.get("/market/battery-ev/").context["homes"][0].settings_form
    assert EnergyManager.objects.get(pk=manager.pk).battery_may_export is True  # the old row
    assert form.instance.battery_may_export is False  # what the new holder is shown

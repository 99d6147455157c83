"""Failures show red in the admin, and the admin home lists what needs a person: periods stuck
with an error and ICPs held aside at settlement, by ICP number."""

import datetime as dt

import pytest

from conftest import make_period
from trading.models import SettlementHold, TradingPeriod

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 7, 8)


def period(number: int, state: str = "metered", error: str = "") -> TradingPeriod:
    return make_period(DAY, number, state=state, last_error=error)


def test_the_periods_list_shows_an_error_in_red_never_a_green_tick(admin_client_):
    period(20, error="settled: no metered data for traded ICPs 9000000001UNXXX")
    period(21, state="settled")
    listing = admin_client_.get("/admin/trading/tradingperiod/").content.decode()
    assert 'class="hapori-error"' in listing
    assert "icon-no.svg" in listing
    assert "no metered data for traded ICPs" in listing
    assert "icon-yes.svg" not in listing  # the green tick once meant "has an error"
    stuck = admin_client_.get("/admin/trading/tradingperiod/", {"error": "yes"}).content.decode()
    assert "TP20" in stuck
    assert "TP21" not in stuck


def test_the_admin_home_raises_alarms_for_stuck_periods_and_held_icps(admin_client_, resident):
    period(20, error="settled: database is locked")
    settled = period(21, state="settled")
    icp = resident.icps.get()
    SettlementHold.objects.create(
        period=settled,
        icp=icp,
        member=resident,
        reason=f"ICP {icp.identifier}: no tariff in force on 08 Jul 2026",
    )
    home = admin_client_.get("/admin/").content.decode()
    assert 'id="hapori-alarms"' in home
    assert "Trading periods stuck with an error" in home
    assert "2026-07-08 TP20 (Metered): settled: database is locked" in home
    assert f"2026-07-08 TP21: ICP {icp.identifier}: no tariff in force on 08 Jul 2026" in home
    # The periods list counts the hold, and the holds list shows it open (a red cross).
    listing = admin_client_.get("/admin/trading/tradingperiod/").content.decode()
    assert "1 held" in listing
    holds = admin_client_.get(
        "/admin/trading/settlementhold/", {"period__id__exact": settled.pk, "open": "yes"}
    ).content.decode()
    assert icp.identifier in holds
    assert "icon-no.svg" in holds


def test_no_alarm_when_all_is_well(admin_client_):
    from coop.models import ICP

    ICP.objects.update(member=None)  # the admin's own ICP is incomplete; leave it unheld
    period(21, state="settled")
    assert 'id="hapori-alarms"' not in admin_client_.get("/admin/").content.decode()


def test_retrying_a_hold_from_the_admin_says_why_it_is_still_held(admin_client_, resident):
    settled = period(21, state="settled")
    icp = resident.icps.get()
    hold = SettlementHold.objects.create(
        period=settled, icp=icp, member=resident, reason=f"ICP {icp.identifier}: no reading"
    )
    response = admin_client_.post(
        "/admin/trading/settlementhold/",
        {"action": "retry", "_selected_action": [hold.pk]},
        follow=True,
    )
    text = [str(m) for m in response.context["messages"]]
    assert text == [
        f"Still held: ICP {icp.identifier}: no meter and no reading, no tariff in "
        "force on 08 Jul 2026."
    ]

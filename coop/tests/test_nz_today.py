"""At 11:30 UTC on 1 December it is already 2 December in NZ (00:30 NZDT): every "today" the
co-op uses is the NZ day, never the server's UTC date (issue 11)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from conftest import make_member
from coop import nz, selectors, services
from coop.models import ICP, ICPHolding, Member

pytestmark = pytest.mark.django_db

UTC_LATE = dt.datetime(2026, 12, 1, 11, 30, tzinfo=dt.UTC)
NZ_DAY = dt.date(2026, 12, 2)


@pytest.fixture
def late_utc_evening():
    with time_machine.travel(UTC_LATE, tick=False):
        yield


def test_the_nz_day_turns_at_nz_midnight():
    assert nz.today(UTC_LATE) == NZ_DAY
    assert nz.today(UTC_LATE - dt.timedelta(hours=1)) == dt.date(2026, 12, 1)  # 23:30 NZDT
    winter = dt.datetime(2026, 7, 8, 12, 0, tzinfo=dt.UTC)  # 00:00 NZST
    assert nz.today(winter) == dt.date(2026, 7, 9)


def test_a_new_member_joins_on_the_nz_day(late_utc_evening):
    member = services.member_create(
        username="late", email="late@example.nz", password="pw-late-1234", display_name="Late"
    )
    assert member.joined_on == NZ_DAY


def test_the_model_default_is_the_nz_day(late_utc_evening, django_user_model):
    user = django_user_model.objects.create_user("bare", password="x")
    assert Member.objects.create(user=user, display_name="Bare").joined_on == NZ_DAY


def test_an_icp_holding_starts_on_the_nz_day(late_utc_evening, resident):
    base = "0000099999UN"
    icp = services.icp_create(
        member=resident,
        identifier=base + nz.icp_checksum(base),
        address="1 Late Street",
        grid_exit_point="PEN0331",
        latitude=Decimal("-36.9"),
        longitude=Decimal("174.81"),
    )
    assert ICPHolding.objects.get(icp=icp).started_on == NZ_DAY


def test_the_tariff_in_force_is_the_nz_days(late_utc_evening, resident):
    icp = resident.icps.get()
    rates = [{"kind": "import", "label": "Anytime", "rate_c": Decimal("30")}]
    services.tariff_create(
        icp=icp,
        rates=rates,
        retailer="Old",
        plan_name="Until 1 Dec",
        effective_from=dt.date(2026, 1, 1),
        effective_to=dt.date(2026, 12, 1),
        daily_fixed_c=Decimal(150),
        buyback_c=Decimal(10),
    )
    services.tariff_create(
        icp=icp,
        rates=rates,
        retailer="New",
        plan_name="From 2 Dec",
        effective_from=NZ_DAY,
        daily_fixed_c=Decimal(150),
        buyback_c=Decimal(12),
    )
    shown = selectors.icps_of_member(resident).get()
    assert [t.retailer for t in shown.current_tariffs] == ["New"]


def test_the_admin_reassigns_an_icp_from_the_nz_day(late_utc_evening, admin_client, resident):
    other = make_member("newholder", 7)
    icp = resident.icps.get()
    page = admin_client.get(f"/admin/coop/icp/{icp.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        {
            "member": other.pk,
            **{f"{p}-TOTAL_FORMS": "0" for p in _inline_prefixes(page)},
            **{f"{p}-INITIAL_FORMS": "0" for p in _inline_prefixes(page)},
        }
    )
    response = admin_client.post(f"/admin/coop/icp/{icp.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    holding = ICPHolding.objects.get(icp=icp, member=other)
    assert holding.started_on == NZ_DAY
    assert ICP.objects.get(pk=icp.pk).member == other


def _inline_prefixes(page) -> list[str]:
    return [formset.formset.prefix for formset in page.context["inline_admin_formsets"]]


def test_the_eiep3_export_is_named_for_the_nz_run_date(late_utc_evening, admin_client, resident):
    response = admin_client.post(
        "/admin/metering/meter/export/",
        {
            "icps": [resident.icps.get().pk],
            "start": "2026-11-01",
            "end": "2026-11-30",
            "recipient": "RCPT",
        },
    )
    assert response.status_code == 200
    assert "_20261202_1.txt" in response["Content-Disposition"]

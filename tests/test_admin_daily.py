"""The admin's daily work (issue 15): a member with their login in one form, ICPs added from the
member page with their holding, ICP numbers typed in lower case, a checksum message that does
not give the answer away, system-written records that cannot be added, names that read well,
meter settings as fields per kind, and the admin home linking the chain status."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse

from coop import nz
from coop.admin import ICPForm
from coop.models import ICP, ICPHolding, Member
from metering.forms import HTTPMeterForm, ModbusMeterForm, meter_form
from metering.models import Meter, Reading, ReadingRevision
from trading.models import MemberPeriodSummary, SettlementLine, Trade

pytestmark = pytest.mark.django_db

GOOD = "0000638109TRE20"
WRONG = "0000638109TRE21"  # its right checksum is E20


def management(prefix: str, total: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def inline_prefixes(html: str) -> list[str]:
    return re.findall(r'name="([\w-]+)-TOTAL_FORMS"', html)


def new_icp(prefix: str, identifier: str, n: int = 0) -> dict[str, str]:
    row = f"{prefix}-{n}"
    return {
        f"{row}-identifier": identifier,
        f"{row}-address": "7 Pukeko Lane, Ellerslie",
        f"{row}-grid_exit_point": "PEN0331",
        f"{row}-feeder": "",
        f"{row}-latitude": "-36.9",
        f"{row}-longitude": "174.81",
    }


def member_add_data(client, **extra: str) -> dict[str, str]:
    page = client.get(reverse("admin:coop_member_add"))
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("username", "email", "password", "display_name"):
        assert f'name="{name}"' in html
    data = {
        "username": "tui",
        "email": "tui@example.nz",
        "password": "kereru-flies-at-dawn-42",
        "display_name": "Tui Ngata",
        "phone": "",
        "status": Member.Status.ACTIVE,
        "joined_on": nz.today().isoformat(),
        **extra,
    }
    for prefix in inline_prefixes(html):
        data.update(management(prefix))
    return data


def test_member_and_their_login_are_created_together(admin_client_):
    response = admin_client_.post(reverse("admin:coop_member_add"), member_add_data(admin_client_))
    assert response.status_code == 302, response.content.decode()[:2000]
    member = Member.objects.get(display_name="Tui Ngata")
    assert member.user.username == "tui"
    assert member.user.email == "tui@example.nz"
    assert member.user.check_password("kereru-flies-at-dawn-42")
    assert not member.user.is_staff
    assert member.status == Member.Status.ACTIVE


def test_member_add_refuses_a_taken_username_and_saves_nothing(admin_client_, resident):
    before = Member.objects.count()
    data = member_add_data(admin_client_, username="resident")
    response = admin_client_.post(reverse("admin:coop_member_add"), data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Member.objects.count() == before


def test_member_added_with_an_icp_holds_it_from_today(admin_client_):
    data = member_add_data(admin_client_)
    prefix = next(
        p
        for p in inline_prefixes(
            admin_client_.get(reverse("admin:coop_member_add")).content.decode()
        )
        if p != "icps"
    )
    data.update(management(prefix, total=1))
    data.update(new_icp(prefix, GOOD.lower()))
    response = admin_client_.post(reverse("admin:coop_member_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    member = Member.objects.get(user__username="tui")
    icp = ICP.objects.get(identifier=GOOD)
    assert icp.member == member
    holding = ICPHolding.objects.get(icp=icp)
    assert (holding.member, holding.started_on, holding.ended_on) == (member, nz.today(), None)


def test_icp_added_from_the_member_page_creates_a_holding(admin_client_, resident):
    url = reverse("admin:coop_member_change", args=[resident.pk])
    page = admin_client_.get(url)
    html = page.content.decode()
    assert "add icps (held by this member" in html.lower()  # the inline that adds
    prefixes = inline_prefixes(html)
    assert len(prefixes) == 2
    data = {
        "display_name": resident.display_name,
        "user": str(resident.user_id),
        "phone": "",
        "postal_address": "",
        "joined_on": resident.joined_on.isoformat(),
        "left_on": "",
        "status": resident.status,
    }
    for prefix in prefixes:
        data.update(management(prefix))
    # the read-only list has its one ICP as an initial form
    listed = prefixes[0]
    data[f"{listed}-TOTAL_FORMS"] = data[f"{listed}-INITIAL_FORMS"] = "1"
    data[f"{listed}-0-id"] = str(resident.icps.get().pk)
    data[f"{listed}-0-member"] = str(resident.pk)
    adding = prefixes[1]
    data.update(management(adding, total=1))
    data.update(new_icp(adding, GOOD))
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    icp = ICP.objects.get(identifier=GOOD)
    assert icp.member == resident
    assert ICPHolding.objects.filter(
        icp=icp, member=resident, started_on=nz.today(), ended_on__isnull=True
    ).exists()
    assert resident.icps.count() == 2


def test_icp_typed_in_lower_case_is_accepted_and_upper_cased(resident):
    assert ICPForm().fields["identifier"].clean(" 0000638109tre20 ") == GOOD


def test_icp_admin_add_upper_cases_a_lower_case_icp(admin_client_):
    data = {
        "identifier": GOOD.lower(),
        "member": "",
        "address": "7 Pukeko Lane, Ellerslie",
        "grid_exit_point": "PEN0331",
        "feeder": "",
        "connection_segment": "",
        "service_length_m": "15.0",
        "service_cable_type": ICP._meta.get_field("service_cable_type").default,
        "latitude": "-36.9",
        "longitude": "174.81",
        "max_import_kw": "15.00",
    }
    page = admin_client_.get(reverse("admin:coop_icp_add")).content.decode()
    for prefix in inline_prefixes(page):
        data.update(management(prefix))
    response = admin_client_.post(reverse("admin:coop_icp_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ICP.objects.filter(identifier=GOOD).exists()


def test_checksum_message_does_not_give_the_right_checksum():
    with pytest.raises(nz.InvalidICP) as err:
        nz.validate_icp(WRONG)
    message = str(err.value)
    assert "wrong checksum" in message
    assert "bill" in message
    assert nz.icp_checksum(WRONG[:12]) not in message
    assert GOOD not in message


def test_checksum_message_on_the_form_does_not_give_the_answer():
    with pytest.raises(ValidationError) as err:
        ICPForm().fields["identifier"].clean(WRONG.lower())
    text = " ".join(err.value.messages)
    assert "wrong checksum" in text
    assert "E20" not in text
    assert GOOD not in text


@pytest.mark.parametrize("model", [Trade, SettlementLine, Reading, ReadingRevision])
def test_system_written_records_cannot_be_added_or_changed(admin_client_, coop_admin, model):
    request = RequestFactory().get("/admin/")
    request.user = coop_admin.user
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    opts = model._meta
    add_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    assert admin_client_.get(add_url).status_code == 403
    listing = admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert listing.status_code == 200
    assert add_url not in listing.content.decode()


def test_verbose_names_read_well(admin_client_):
    assert MemberPeriodSummary._meta.verbose_name_plural == "member period summaries"
    assert ICPHolding._meta.verbose_name_plural == "ICP holdings"
    home = admin_client_.get(reverse("admin:index")).content.decode()
    assert "Member period summaries" in home
    assert "ICP holdings" in home
    assert "summarys" not in home
    assert "Icp holdings" not in home


def test_coordinates_say_why_they_are_needed_and_stay_required():
    for name in ("latitude", "longitude"):
        field = ICP._meta.get_field(name)
        assert "pvlib" in field.help_text
        assert "network map" in field.help_text
        assert not field.blank
        assert not field.null


def test_admin_home_links_chain_status_alarms_and_failing_periods(admin_client_):
    home = admin_client_.get(reverse("admin:index")).content.decode()
    assert reverse("admin:blockchain_chain_status") in home
    assert reverse("admin:trading_tradingperiod_changelist") + "?error=yes" in home
    assert "Alarms" in home


def test_modbus_meter_settings_are_fields_written_as_json(resident):
    meter = Meter.objects.create(
        icp=resident.icps.get(), adapter=Meter.Adapter.MODBUS, settings={"note": "kept"}
    )
    form = ModbusMeterForm(
        instance=meter,
        data={
            "icp": meter.icp_id,
            "adapter": Meter.Adapter.MODBUS,
            "host": "10.0.0.7",
            "port": "1502",
            "unit_id": "3",
            "sunspec_base": "",
            "storage_control": "window",
        },
    )
    assert form.is_valid(), form.errors
    form.save()
    meter.refresh_from_db()
    assert meter.settings == {
        "note": "kept",
        "host": "10.0.0.7",
        "port": 1502,
        "unit_id": 3,
        "storage_control": "window",
    }


def test_meter_settings_are_validated(resident):
    icp = resident.icps.get()
    bad_port = ModbusMeterForm(
        data={"icp": icp.pk, "adapter": "modbus", "host": "h", "port": "70000", "unit_id": "1"}
    )
    assert not bad_port.is_valid()
    assert "port" in bad_port.errors
    no_fields = HTTPMeterForm(
        data={
            "icp": icp.pk,
            "adapter": "http",
            "url": "http://meter.local/status",
            "measures": "energy",
            "unit": "kWh",
            "import_field": "",
            "export_field": "emeters..total",
        }
    )
    assert not no_fields.is_valid()
    assert "import_field" in no_fields.errors
    assert "export_field" in no_fields.errors
    assert meter_form("simulated").setting_fields == ()


def test_meter_change_form_hides_internals_and_raw_json(admin_client_, resident):
    meter = Meter.objects.create(icp=resident.icps.get(), adapter=Meter.Adapter.MODBUS)
    html = admin_client_.get(reverse("admin:metering_meter_change", args=[meter.pk])).content
    page = html.decode()
    assert 'name="settings"' not in page
    for internal in ("consecutive_misses", "next_poll_at", "import_register_kwh"):
        assert f'name="{internal}"' not in page
    assert 'name="host"' in page
    assert 'name="unit_id"' in page

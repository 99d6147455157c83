"""An ICP held by a member with no meter or no tariff in force is told to the admin everywhere
they look: on saving it, in the ICP list (column and filter), on the admin home page, and in
`manage.py check --database default`."""

import pytest

from conftest import give_flat_tariff

pytestmark = pytest.mark.django_db


def admin_post_data(response) -> dict:
    """The POST an admin change form would send back unchanged (main form and inlines)."""
    data = {}

    def take(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value

    take(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        take(formset.management_form)
        for form in formset.forms:
            take(form)
    return data


def add_meter(icp) -> None:
    # metering's Meter, by the ICP's relation to it: coop's code and tests never import
    # metering (coop <- metering <- trading).
    icp._meta.get_field("meter").related_model.objects.create(icp=icp)


@pytest.fixture
def complete(resident):
    """The resident's ICP with a meter and a tariff: complete."""
    give_flat_tariff(resident)
    add_meter(resident.icps.get())
    return resident.icps.get()


def test_saving_an_incomplete_icp_in_the_admin_warns(admin_client_, other_resident):
    icp = other_resident.icps.get()
    url = f"/admin/coop/icp/{icp.pk}/change/"
    response = admin_client_.post(url, admin_post_data(admin_client_.get(url)), follow=True)
    assert response.status_code == 200
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"ICP {icp.identifier} (held by Other): no meter, no tariff")
    assert "held aside" in warnings[0]


def test_saving_a_complete_icp_does_not_warn(admin_client_, complete):
    url = f"/admin/coop/icp/{complete.pk}/change/"
    response = admin_client_.post(url, admin_post_data(admin_client_.get(url)), follow=True)
    assert not [m for m in response.context["messages"] if m.level_tag == "warning"]


def test_the_icp_list_shows_and_filters_incomplete_icps(admin_client_, complete, other_resident):
    incomplete = other_resident.icps.get()
    add_meter(incomplete)  # a meter, still no tariff
    listing = admin_client_.get("/admin/coop/icp/").content.decode()
    assert "icp-incomplete" in listing
    assert "no tariff in force" in listing
    no_tariff = admin_client_.get("/admin/coop/icp/", {"incomplete": "no_tariff"}).content.decode()
    assert incomplete.identifier in no_tariff
    assert complete.identifier not in no_tariff
    no_meter = admin_client_.get("/admin/coop/icp/", {"incomplete": "no_meter"}).content.decode()
    assert incomplete.identifier not in no_meter
    assert complete.identifier not in no_meter
    either = admin_client_.get("/admin/coop/icp/", {"incomplete": "any"}).content.decode()
    assert incomplete.identifier in either
    assert complete.identifier not in either


def test_the_admin_home_lists_incomplete_icps_by_number(admin_client_, complete, other_resident):
    home = admin_client_.get("/admin/").content.decode()
    assert 'id="hapori-alarms"' in home
    assert f"ICP {other_resident.icps.get().identifier} (held by Other): no meter" in home
    assert complete.identifier not in home


def test_a_database_check_warns_of_incomplete_icps(complete, other_resident):
    from coop.checks import held_icps_are_complete

    assert held_icps_are_complete(None) == []  # only with --database
    found = held_icps_are_complete(None, databases=["default"])
    assert [w.id for w in found] == ["coop.W001"]
    assert found[0].msg.startswith(f"ICP {other_resident.icps.get().identifier} (held by Other)")

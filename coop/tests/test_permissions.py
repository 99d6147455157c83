"""Named users: a resident, another resident, a co-op admin and anonymous."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    for url in (reverse("home"), "/icps/0000638109TRE20/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_resident_sees_only_their_own_icps(client, resident, other_resident):
    client.force_login(resident.user)
    mine = resident.icps.get().identifier
    theirs = other_resident.icps.get().identifier
    page = client.get(reverse("home")).content.decode()
    assert mine in page
    assert theirs not in page
    assert client.get(reverse("icp-detail", args=[mine])).status_code == 200
    assert client.get(reverse("icp-detail", args=[theirs])).status_code == 404


def test_non_staff_cannot_reach_the_admin(client, resident):
    client.force_login(resident.user)
    response = client.get("/admin/coop/icp/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_lists_and_searches_icps(client, coop_admin, resident):
    client.force_login(coop_admin.user)
    mine = resident.icps.get().identifier
    for url in (
        "/admin/",
        "/admin/coop/member/",
        "/admin/coop/tariff/",
        "/admin/coop/coopsettings/",
        f"/admin/coop/icp/{resident.icps.get().pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    found = client.get("/admin/coop/icp/", {"q": mine}).content.decode()
    assert mine in found
    found = client.get("/admin/coop/member/", {"q": "Resident"}).content.decode()
    assert "Resident" in found


def test_login_logout_and_password_reset(client, resident):
    from django.core import mail

    response = client.post(reverse("login"), {"username": "resident", "password": "pw-resident"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302
    client.post(reverse("password_reset"), {"email": "resident@example.nz"})
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body

"""Login and password-reset throttling (issue 10, item 7): django-axes per username and per
address, a clear lockout page, staff unlock; reset mail limited per address and per IP."""

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.cache import cache

pytestmark = pytest.mark.django_db

PASSWORD = "pw-resident"  # conftest.make_member


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def _login(client, url, username, password, ip="10.9.8.7"):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=ip, follow=False
    )


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(client, resident, url):
    for _ in range(30):
        _login(client, url, "resident", "wrong")
    response = _login(client, url, "resident", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_from_any_address(client, resident):
    for n in range(5):
        _login(client, "/accounts/login/", "resident", "wrong", ip=f"10.0.0.{n}")
    assert (
        _login(client, "/accounts/login/", "resident", PASSWORD, ip="10.0.1.1").status_code == 429
    )


def test_the_lockout_is_per_address_for_any_username(client, resident, other_resident):
    for n in range(5):
        _login(client, "/accounts/login/", f"guess{n}", "wrong", ip="10.5.5.5")
    assert _login(client, "/accounts/login/", "other", "pw-other", ip="10.5.5.5").status_code == 429
    # Another address still logs in.
    assert _login(client, "/accounts/login/", "other", "pw-other", ip="10.6.6.6").status_code == 302


def test_a_few_mistakes_then_the_right_password_logs_in_and_clears_the_count(client, resident):
    for _ in range(3):
        assert _login(client, "/accounts/login/", "resident", "wrong").status_code == 200
    assert _login(client, "/accounts/login/", "resident", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="resident", failures_since_start__gt=0)


def test_staff_unlock_by_deleting_the_attempts_in_the_admin(client, resident, coop_admin):
    for _ in range(6):
        _login(client, "/accounts/login/", "resident", "wrong", ip="10.1.1.1")
    attempt = AccessAttempt.objects.get(username="resident")
    staff = type(client)()
    staff.force_login(coop_admin.user)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "resident" in listing.content.decode()
    staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert not AccessAttempt.objects.exists()
    assert (
        _login(client, "/accounts/login/", "resident", PASSWORD, ip="10.1.1.1").status_code == 302
    )


def test_password_reset_mail_is_limited_per_address(client, resident):
    for _ in range(6):
        response = client.post(
            "/accounts/password_reset/", {"email": resident.user.email}, REMOTE_ADDR="10.2.2.2"
        )
        assert response.status_code == 302  # always "check your email": nothing is revealed
    assert len(mail.outbox) == 3


def test_password_reset_is_refused_per_ip_with_a_message(client, resident):
    codes = [
        client.post(
            "/accounts/password_reset/", {"email": f"x{n}@example.nz"}, REMOTE_ADDR="10.3.3.3"
        ).status_code
        for n in range(11)
    ]
    assert codes[:10] == [302] * 10
    assert codes[10] == 429
    refused = client.post(
        "/accounts/password_reset/", {"email": resident.user.email}, REMOTE_ADDR="10.3.3.3"
    )
    assert "Too many password resets" in refused.content.decode()
    assert len(mail.outbox) == 0

"""The market API with named users: idempotency, bad input, and nobody acts for anyone else."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import give_flat_tariff
from coop.models import PVSystem
from trading.models import Order, StandingOrder, TradingPeriod
from trading.services import periods

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_period(resident, other_resident):
    give_flat_tariff(resident, other_resident)
    PVSystem.objects.create(icp=other_resident.icps.get(), capacity_kwp=5, inverter_kw=5)
    periods.periods_ensure(hours=3)
    return TradingPeriod.objects.filter(state="open").order_by("start").last()


@pytest.fixture
def api(resident):
    client = APIClient()
    token = Token.objects.create(user=resident.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def order_body(period, icp, **extra):
    return {
        "period": period.pk,
        "icp": icp.identifier,
        "side": "buy",
        "energy_kwh": "1.5",
        "limit_price_c": "25",
        **extra,
    }


def test_anonymous_gets_401(client, open_period):
    response = APIClient().get("/api/orders/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_suspended_member_cannot_order(api, resident, open_period):
    resident.status = type(resident).Status.SUSPENDED
    resident.save(update_fields=["status"])
    response = api.post("/api/orders/", order_body(open_period, resident.icps.get()), format="json")
    assert response.status_code == 403
    assert "Only active members can trade" in response.json()["detail"]
    assert not Order.objects.exists()


def test_place_amend_cancel_with_token(api, resident, open_period):
    response = api.post("/api/orders/", order_body(open_period, resident.icps.get()), format="json")
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    assert (
        api.patch(f"/api/orders/{order_id}/", {"energy_kwh": "2"}, format="json").json()[
            "energy_kwh"
        ]
        == "2.000"
    )
    assert api.delete(f"/api/orders/{order_id}/").json()["status"] == "cancelled"
    assert [o["id"] for o in api.get("/api/orders/").json()] == [order_id]


def test_idempotency_key_replays_and_conflicts(api, resident, open_period):
    body = order_body(open_period, resident.icps.get())
    first = api.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
    again = api.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Order.objects.count() == 1
    other = api.post(
        "/api/orders/", {**body, "energy_kwh": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="abc-123"
    )
    assert other.status_code == 409
    bad = api.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="no spaces allowed!")
    assert bad.status_code == 400
    assert "Idempotency-Key" in bad.json()["detail"]
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"energy_kwh": "0"}, "energy_kwh"),
        ({"energy_kwh": "-2"}, "energy_kwh"),
        ({"energy_kwh": "NaN"}, "energy_kwh"),
        ({"energy_kwh": "1e9"}, "energy_kwh"),
        ({"limit_price_c": "500"}, "limit_price_c"),
        ({"side": "hold"}, "side"),
    ],
)
def test_bad_orders_get_400_and_store_nothing(api, resident, open_period, change, field):
    response = api.post(
        "/api/orders/", order_body(open_period, resident.icps.get(), **change), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Order.objects.exists()


def test_orders_on_anothers_icp_or_closed_period_are_refused(
    api, resident, other_resident, open_period
):
    response = api.post(
        "/api/orders/", order_body(open_period, other_resident.icps.get()), format="json"
    )
    assert response.status_code == 403
    closed = TradingPeriod.objects.order_by("start").first()
    closed.state = "gate_closed"
    closed.save()
    response = api.post("/api/orders/", order_body(closed, resident.icps.get()), format="json")
    assert response.status_code == 400
    assert "closed for orders" in str(response.json())
    assert not Order.objects.exists()


def test_others_orders_are_invisible(api, resident, other_resident, open_period):
    from trading.services.orders import order_place

    theirs = order_place(
        member=other_resident,
        icp=other_resident.icps.get(),
        period=open_period,
        side="sell",
        energy_kwh="1",
        limit_price_c="15",
    )
    assert api.get(f"/api/orders/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/orders/{theirs.pk}/").status_code == 404
    assert api.get("/api/orders/").json() == []
    assert api.get("/api/trades/").json() == []


RULE = {
    "side": "buy",
    "limit_price_c": "22",
    "max_kwh": "1",
    "days": "Mon-Fri",
    "start_time": "06:00",
    "end_time": "22:00",
}


def test_standing_orders_api(api, resident, other_resident, open_period):
    body = {**RULE, "icp": resident.icps.get().identifier}
    created = api.post("/api/standing-orders/", body, format="json")
    assert created.status_code == 201, created.content
    assert (
        api.post(
            "/api/standing-orders/",
            {**body, "icp": other_resident.icps.get().identifier},
            format="json",
        ).status_code
        == 400
    )
    assert (
        api.post("/api/standing-orders/", {**body, "days": "Funday"}, format="json").status_code
        == 400
    )
    assert StandingOrder.objects.count() == 1
    assert api.delete(f"/api/standing-orders/{created.json()['id']}/").status_code == 204


def test_schema_and_docs_are_served(client, resident):
    client.force_login(resident.user)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_an_api_view_answers_json_whatever_accept_asks_and_the_schema_still_negotiates(
    resident_client,
):
    """One renderer (JSON): nothing to negotiate, so no 406; the schema has YAML and JSON."""
    for accept in ("text/html", "application/xml", "*/*", "application/json"):
        answer = resident_client.get("/api/periods/", HTTP_ACCEPT=accept)
        assert answer.status_code == 200, accept
        assert answer["Content-Type"] == "application/json"
    assert resident_client.get("/api/schema/?format=json")["Content-Type"].startswith(
        "application/vnd.oai.openapi+json"
    )
    assert resident_client.get("/api/schema/")["Content-Type"].startswith(
        "application/vnd.oai.openapi"
    )
    assert "json" not in resident_client.get("/api/schema/")["Content-Type"]

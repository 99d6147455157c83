import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from conftest import give_flat_tariff
from trading.models import MemberPeriodSummary, Order, StandingOrder, TradingPeriod
from trading.services import periods

pytestmark = pytest.mark.django_db


@pytest.fixture
def periods_open(resident):
    give_flat_tariff(resident)
    periods.periods_ensure(hours=3)


def test_pages_need_login(client):
    for name in ("market", "my-orders", "my-trades", "standing-orders", "statements"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_market_page_places_an_order(client, resident, periods_open):
    client.force_login(resident.user)
    page = client.get(reverse("market"))
    assert page.status_code == 200
    assert b"Place an order" in page.content
    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    response = client.post(
        reverse("market"),
        {
            "period": period.pk,
            "icp": resident.icps.get().pk,
            "side": "buy",
            "energy_kwh": "1.250",
            "limit_price_c": "24",
        },
    )
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.energy_kwh == Decimal("1.250")
    assert order.member == resident
    response = client.post(
        reverse("market"),
        {
            "period": period.pk,
            "icp": resident.icps.get().pk,
            "side": "buy",
            "energy_kwh": "1",
            "limit_price_c": "900",
        },
        follow=True,
    )
    assert b"between the co-op" in response.content
    assert Order.objects.count() == 1


def test_others_cannot_cancel_or_edit(client, resident, other_resident, periods_open):
    from trading.services.orders import order_place

    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    order = order_place(
        member=resident,
        icp=resident.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1",
        limit_price_c="20",
    )
    rule = StandingOrder.objects.create(
        member=resident,
        icp=resident.icps.get(),
        side="buy",
        limit_price_c=20,
        max_kwh=1,
        start_time=dt.time(6),
        end_time=dt.time(9),
    )
    client.force_login(other_resident.user)
    assert client.post(reverse("order-cancel", args=[order.pk])).status_code == 404
    assert client.get(reverse("standing-order-edit", args=[rule.pk])).status_code == 404
    assert client.post(reverse("standing-order-delete", args=[rule.pk])).status_code == 404
    order.refresh_from_db()
    assert order.status == "open"
    assert StandingOrder.objects.count() == 1


def test_statement_page_and_csv(client, resident, periods_open):
    period = TradingPeriod.objects.order_by("start").first()
    MemberPeriodSummary.objects.create(
        period=period,
        member=resident,
        imported_kwh=Decimal("1.5"),
        exported_kwh=0,
        bought_p2p_kwh=Decimal("1"),
        sold_p2p_kwh=0,
        net_amount_nzd=Decimal("-0.4"),
        retailer_only_nzd=Decimal("-0.45"),
    )
    client.force_login(resident.user)
    month = period.trading_date.strftime("%Y-%m")
    page = client.get(reverse("statements")).content.decode()
    assert "0.05" in page  # the saving
    detail = client.get(reverse("statement-detail", args=[month])).content.decode()
    assert "Your saving" in detail
    assert "1 settled trading period ·" in detail
    assert f'"x": "{period.trading_date.isoformat()}"' in detail.replace("&quot;", '"')
    csv_text = client.get(reverse("statement-csv", args=[month])).content.decode()
    assert csv_text.splitlines()[1].endswith("-0.400000,-0.450000,0.050000")
    assert client.get(reverse("statement-detail", args=["July"])).status_code == 404


def test_admin_pages_for_the_market_list_what_there_is(client, coop_admin, resident, periods_open):
    from trading.models import NetworkPriceWindow
    from trading.services.orders import order_place

    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    order_place(
        member=resident,
        icp=resident.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1.5",
        limit_price_c="23",
    )
    StandingOrder.objects.create(
        member=resident,
        icp=resident.icps.get(),
        side=StandingOrder.Side.BUY,
        limit_price_c=Decimal("21.5"),
        max_kwh=Decimal(1),
        days="Mon-Fri",
        start_time=dt.time(6),
        end_time=dt.time(9),
    )
    windows = NetworkPriceWindow.objects.count()
    client.force_login(coop_admin.user)
    expected = {
        "tradingperiod": [str(period)],
        "order": [resident.icps.get().identifier, "1.500", "23.0000"],
        "standingorder": ["Mon-Fri", "21.5000"],
        "trade": ["0 trades"],
        "settlementline": ["0 settlement lines"],
        "memberperiodsummary": ["0 member period summar"],
        "networkpricewindow": [f"{windows} network price window"],
    }
    for model, texts in expected.items():
        page = client.get(f"/admin/trading/{model}/")
        assert page.status_code == 200, model
        html = page.content.decode()
        for text in texts:
            assert text in html, (model, text)


def test_a_login_that_is_no_member_is_refused_everywhere_with_one_message(
    client, django_user_model
):
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("visitor", password="x")
    client.force_login(user)
    for url in ("/market/", "/market/orders/", "/statements/", "/energy/", "/icps/X/"):
        response = client.get(url)
        assert response.status_code == 403, url
    api = APIClient()
    api.force_authenticate(user)
    response = api.get("/api/orders/")
    assert response.status_code == 403
    assert "not a member" in response.json()["detail"]

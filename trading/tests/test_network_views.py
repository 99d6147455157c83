"""The time-value network prices where people see them: the API, the market page's chart, the
wall display's "Network now" and the admin's network map."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from conftest import feeder_named, make_member
from coop import nz
from coop.cables import CABLE_TYPES
from coop.models import ICP, LineSegment
from trading import network_selectors
from trading.live.snapshot import display_snapshot
from trading.models import FeederPrice, TradingPeriod

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 7, 13, 5, 10, tzinfo=dt.UTC)  # 17:10 NZST, a winter Monday: TP35
HOURS_MESSAGE = "hours must be a whole number from 1 to 48."


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def period_at(start: dt.datetime) -> TradingPeriod:
    day, number = nz.trading_period_of(start)
    period, _ = TradingPeriod.objects.get_or_create(
        trading_date=day,
        number=number,
        defaults={
            "start": start,
            "end": start + nz.TRADING_PERIOD,
            "gate_closes_at": start - dt.timedelta(minutes=5),
        },
    )
    return period


def price_row(feeder, period, price_c: str, *, loading: str = "85.0", firm=False):
    return FeederPrice.objects.create(
        feeder=feeder,
        period=period,
        forecast_kw=Decimal("120.50"),
        loading_pct=Decimal(loading),
        v_min_pu=Decimal("0.9712"),
        v_max_pu=Decimal("1.0100"),
        reverse_flow_kw=Decimal("0.00"),
        losses_kw=Decimal("1.250"),
        base_c=Decimal("8.0000"),
        price_c=Decimal(price_c),
        export_credit_c=Decimal("1.5000"),
        source=FeederPrice.Source.POWER_FLOW,
        computed_at=NOW - dt.timedelta(minutes=10),
        firm=firm,
    )


@pytest.fixture
def far_member(db):
    """A member on another feeder (F2, its own transformer T-F2)."""
    return make_member("faraway", 5, feeder="F2")


@pytest.fixture
def prices(resident, far_member):
    """F1 and F2 priced from the period before NOW's to 49 h on: F1 from 23.4510 c/kWh up a
    hundredth of a cent each period, F2 at 77.77 c/kWh; the period NOW is in is firm."""
    first = nz.trading_period_start(*nz.trading_period_of(NOW))
    f1, f2 = feeder_named("F1"), feeder_named("F2")
    rows = []
    for k in range(-1, 99):  # one period before NOW's, then 49 h of periods
        period = period_at(first + k * nz.TRADING_PERIOD)
        f1_price = Decimal("23.4510") + Decimal(k) / 10_000
        rows.append(price_row(f1, period, str(f1_price), firm=k == 0))
        price_row(f2, period, "77.7700", loading="12.5", firm=k == 0)
    return f1, f2, rows


# --- selectors ---------------------------------------------------------------------------


def test_outlook_is_the_periods_overlapping_the_hours_ahead(prices):
    f1, _, _ = prices
    rows = network_selectors.feeder_outlook(f1.pk, NOW)
    assert len(rows) == 97  # the period now (17:00-17:30) to the one starting before 17:10 + 48 h
    first = rows[0]
    assert first == {
        "start": "2026-07-13T05:00:00+00:00",
        "start_nz": "2026-07-13T17:00:00+12:00",
        "trading_period": 35,
        "price_c": "23.4510",
        "export_credit_c": "1.5000",
        "loading_pct": "85.0",
        "v_min_pu": "0.9712",
        "v_max_pu": "1.0100",
        "reverse_flow_kw": "0.00",
        "forecast_kw": "120.50",
        "source": "power_flow",
        "firm": True,
    }
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert rows[-1]["start_nz"] == "2026-07-15T17:00:00+12:00"
    assert len(network_selectors.feeder_outlook(f1.pk, NOW, hours=1)) == 3  # 17:00, 17:30, 18:00


def test_feeders_now_and_member_feeders(prices, resident, far_member):
    f1, f2, _ = prices
    now = {row["name"]: row for row in network_selectors.feeders_now(NOW)}
    assert now["F1"] == {
        "id": f1.pk,
        "name": "F1",
        "transformer": "T-F1",
        "rating_kva": "200.0",
        "price_c": "23.4510",
        "export_credit_c": "1.5000",
        "loading_pct": "85.0",
        "source": "power_flow",
    }
    assert now["F2"]["price_c"] == "77.7700"
    later = network_selectors.feeders_now(NOW + dt.timedelta(days=5))
    assert all(row["price_c"] is None and row["source"] is None for row in later)
    assert network_selectors.member_feeders(resident) == [f1]
    assert network_selectors.member_feeders(far_member) == [f2]


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def api(resident):
    client = APIClient()
    client.force_authenticate(resident.user)
    return client


def test_api_lists_the_feeders_with_their_price_now(frozen, prices, api):
    response = api.get("/api/network/feeders/")
    assert response.status_code == 200
    body = {row["name"]: row for row in response.json()}
    assert body["F1"]["price_c"] == "23.4510"
    assert body["F1"]["rating_kva"] == "200.0"
    assert body["F2"]["loading_pct"] == "12.5"


def test_api_gives_a_feeders_prices_for_the_hours_asked(frozen, prices, api):
    f1, f2, _ = prices
    response = api.get(f"/api/network/feeders/{f1.pk}/prices/")
    assert response.status_code == 200
    rows = response.json()
    assert rows == network_selectors.feeder_outlook(f1.pk, NOW)
    assert len(rows) == 97
    assert rows[0]["firm"] is True
    assert rows[1]["firm"] is False
    short = api.get(f"/api/network/feeders/{f2.pk}/prices/", {"hours": "1"}).json()
    assert [r["start_nz"][11:16] for r in short] == ["17:00", "17:30", "18:00"]
    assert {r["price_c"] for r in short} == {"77.7700"}


@pytest.mark.parametrize("hours", ["0", "49", "-1", "abc", "2.5", ""])
def test_api_refuses_hours_outside_1_to_48_with_a_message(frozen, prices, api, hours):
    f1, _, _ = prices
    response = api.get(f"/api/network/feeders/{f1.pk}/prices/", {"hours": hours})
    assert response.status_code == 400
    assert response.json()["detail"] == HOURS_MESSAGE
    assert response.json()["hours"] == [HOURS_MESSAGE]


def test_api_unknown_feeder_is_a_404(frozen, prices, api):
    response = api.get("/api/network/feeders/999999/prices/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_api_is_for_signed_in_members_only(frozen, prices, client):
    f1, _, _ = prices
    for url in ("/api/network/feeders/", f"/api/network/feeders/{f1.pk}/prices/"):
        assert client.get(url).status_code in (401, 403)
    outsider = APIClient()
    outsider.force_authenticate(User.objects.create_user("outsider", password="pw-outsider"))
    assert outsider.get("/api/network/feeders/").status_code == 403


def test_the_schema_documents_the_network_paths_with_types(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    feeders = schema["paths"]["/api/network/feeders/"]["get"]
    prices = schema["paths"]["/api/network/feeders/{feeder_id}/prices/"]["get"]
    hours = next(p for p in prices["parameters"] if p["name"] == "hours")
    assert hours["in"] == "query"
    assert hours["schema"] == {"type": "integer", "minimum": 1, "maximum": 48}
    assert {"200", "400", "401", "403", "404"} <= set(prices["responses"])
    assert feeders["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    row = schema["components"]["schemas"]["FeederPrice"]["properties"]
    assert row["price_c"]["type"] == "string"
    assert row["price_c"]["format"] == "decimal"
    assert row["start_nz"]["format"] == "date-time"
    assert row["firm"]["type"] == "boolean"
    assert row["loading_pct"].get("nullable") is True


# --- the market page -----------------------------------------------------------------------


def test_market_page_charts_the_residents_feeder_only(frozen, prices, client, resident):
    f1, f2, _ = prices
    client.force_login(resident.user)
    page = client.get("/market/")
    assert page.status_code == 200
    charts = page.context["network"]
    assert [c["id"] for c in charts] == [f1.pk]
    chart = charts[0]
    assert chart["x"][:3] == ["2026-07-13 17:00", "2026-07-13 17:30", "2026-07-13 18:00"]
    assert chart["start_nz"][0] == "2026-07-13T17:00:00+12:00"
    assert chart["price_c"][0] == "23.4510"
    assert chart["loading_pct"][0] == "85.0"
    html = page.content.decode()
    assert 'id="network-data"' in html
    assert f'id="network-chart-{f1.pk}"' in html
    assert "23.4510" in html
    assert "77.7700" not in html
    assert f'id="network-chart-{f2.pk}"' not in html
    assert "lower (or negative) when local solar floods it; firm at gate closure." in html
    assert "js/network.js" in html


def test_market_page_without_prices_says_so(frozen, client, resident):
    client.force_login(resident.user)
    page = client.get("/market/")
    assert page.status_code == 200
    assert page.context["network"][0]["x"] == []
    assert "has not published prices for this feeder yet" in page.content.decode()


# --- the wall display ----------------------------------------------------------------------


def test_display_snapshot_has_the_feeders_and_nobody(prices, resident, far_member):
    snapshot = display_snapshot(NOW)
    text = json.dumps(snapshot)  # also what the websocket sends: plain JSON
    by_name = {f["name"]: f for f in snapshot["feeders"]}
    assert by_name["F1"]["loading_pct"] == "85.0"
    assert by_name["F1"]["price_c"] == "23.4510"
    assert by_name["F2"]["price_c"] == "77.7700"
    for icp in ICP.objects.all():
        assert icp.identifier not in text
        assert icp.address not in text
    for member in (resident, far_member):
        assert member.display_name not in text
        assert member.user.username not in text


def test_display_network_chart_has_each_feeders_coming_prices_at_nz_clock_times(prices):
    lines = {line["feeder"]: line for line in display_snapshot(NOW)["network"]}
    assert set(lines) == {"F1", "F2"}
    # From the period NOW (17:10 NZST) is in, for 6 hours, at NZ clock times without an offset.
    assert lines["F1"]["x"][0] == "2026-07-13 17:00"
    assert lines["F1"]["x"][-1] == "2026-07-13 23:00"  # the last to start before 23:10
    assert lines["F1"]["price_c"][:2] == ["23.4510", "23.4511"]
    assert lines["F2"]["price_c"][0] == "77.7700"


def test_display_page_has_the_network_now_panel(client):
    html = client.get("/display/").content.decode()
    assert "Network now" in html
    assert 'id="feeders"' in html


# --- the admin -----------------------------------------------------------------------------


@pytest.fixture
def segments(resident, far_member):
    """F1's LV main: S1 from the transformer, S2 on from S1, where the resident connects."""
    f1, cable = feeder_named("F1"), next(iter(CABLE_TYPES))
    s1 = LineSegment.objects.create(feeder=f1, name="S1", length_m=Decimal(80), cable_type=cable)
    s2 = LineSegment.objects.create(
        feeder=f1, name="S2", upstream=s1, length_m=Decimal(60), cable_type=cable
    )
    icp = resident.icps.get()
    icp.connection_segment = s2
    icp.latitude, icp.longitude = Decimal("-36.901"), Decimal("174.813")
    icp.save()
    return s1, s2


def test_admin_map_draws_transformers_icps_and_segments(client, coop_admin, resident, segments):
    client.force_login(coop_admin.user)
    page = client.get("/admin/coop/transformer/map/")
    assert page.status_code == 200
    data = page.context["network_map"]
    transformers = {t["name"]: t for t in data["transformers"]}
    assert transformers["T-F1"]["lat"] == -36.9
    assert transformers["T-F1"]["lon"] == 174.81
    icp = resident.icps.get()
    drawn = {i["identifier"]: i for i in data["icps"]}
    assert drawn[icp.identifier]["lat"] == -36.901
    assert drawn[icp.identifier]["lon"] == 174.813
    assert drawn[icp.identifier]["address"] == icp.address
    lines = {s["name"]: s for s in data["segments"]}
    # S1 has no ICPs of its own: it ends where it starts (the transformer); S2 goes on to the
    # mean position of its ICPs.
    assert lines["S1"]["from"] == lines["S1"]["to"] == [-36.9, 174.81]
    assert lines["S2"]["from"] == [-36.9, 174.81]
    assert lines["S2"]["to"] == [-36.901, 174.813]
    html = page.content.decode()
    assert 'id="network-map-data"' in html
    assert "js/network_map.js" in html
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert not inline, inline
    changelist = client.get("/admin/coop/transformer/").content.decode()
    assert "/admin/coop/transformer/map/" in changelist


def test_admin_map_is_refused_to_a_resident(client, resident):
    client.force_login(resident.user)
    response = client.get("/admin/coop/transformer/map/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_network_pages_and_read_only_feeder_prices(client, coop_admin, prices, segments):
    f1, _, rows = prices
    client.force_login(coop_admin.user)
    for url in (
        "/admin/coop/transformer/",
        "/admin/coop/feeder/",
        f"/admin/coop/feeder/{f1.pk}/change/",
        "/admin/coop/linesegment/",
        f"/admin/coop/linesegment/{segments[1].pk}/change/",
        "/admin/trading/timevalueparameters/",
        "/admin/trading/timevalueparameters/add/",
        "/admin/trading/feederprice/?source__exact=power_flow&firm__exact=1",
        f"/admin/trading/feederprice/{rows[0].pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/trading/feederprice/add/").status_code == 403
    assert client.post(f"/admin/trading/feederprice/{rows[0].pk}/delete/").status_code == 403
    assert FeederPrice.objects.filter(pk=rows[0].pk).exists()
    # The inline offers only this feeder's segments as upstream.
    form = client.get(f"/admin/coop/feeder/{f1.pk}/change/").context["inline_admin_formsets"][0]
    choices = form.formset.forms[0].fields["upstream"].queryset
    assert set(choices) == set(segments)

"""Every URL of the site x every identity (anonymous, resident A, resident B, the co-op admin),
generated from the URL configuration: a resident only ever reaches their own objects, the admin
is staff only, and a URL added without an entry here fails this test (issue 10).

A's objects (ICP, order, standing order, trade) are built first; each resident URL is then
called with A's object by each identity. What counts as "reached" is a 2xx, or a 302 that is
not a redirect to a login page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from conftest import give_flat_tariff, make_member

pytestmark = pytest.mark.django_db

ANON, A, B, STAFF = "anonymous", "resident A", "resident B", "co-op admin"
IDENTITIES = (ANON, A, B, STAFF)


def _walk(resolver, prefix="", namespace=None):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield namespace, prefix + str(entry.pattern), entry


def all_patterns():
    return list(_walk(get_resolver()))


@dataclass(frozen=True)
class Rule:
    """Who may reach a URL. `url` builds it from A's objects; `method` is how it is called."""

    url: str
    reach: frozenset[str]
    method: str = "get"


def everyone(url: str) -> Rule:
    return Rule(url, frozenset(IDENTITIES))


def signed_in(url: str, method: str = "get") -> Rule:
    return Rule(url, frozenset({A, B, STAFF}), method)


def only_a(url: str, method: str = "get") -> Rule:
    return Rule(url, frozenset({A}), method)


def lab_only(url: str, method: str = "get") -> Rule:
    """The research lab: staff (and the researcher group, tested in tests/test_lab.py)."""
    return Rule(url, frozenset({STAFF}), method)


def rules(objs) -> dict[str, Rule]:
    """One entry per URL pattern (the pattern as the URL configuration spells it)."""
    month = objs["month"]
    return {
        "accounts/password_reset/": everyone("/accounts/password_reset/"),
        "accounts/login/": everyone("/accounts/login/"),
        # Everyone lands on the login page after logging out (called on a client of its own).
        "accounts/logout/": Rule("/accounts/logout/", frozenset(), "post"),
        "accounts/password_change/": signed_in("/accounts/password_change/"),
        "accounts/password_change/done/": signed_in("/accounts/password_change/done/"),
        "accounts/password_reset/done/": everyone("/accounts/password_reset/done/"),
        "accounts/reset/<uidb64>/<token>/": everyone("/accounts/reset/MQ/set-password/"),
        "accounts/reset/done/": everyone("/accounts/reset/done/"),
        "api/schema/": everyone("/api/schema/"),
        "api/docs/": everyone("/api/docs/"),
        "energy/": signed_in("/energy/"),
        "energy/csv/": signed_in("/energy/csv/"),
        # A's upload is refused as a file (no file given), but it is A's own page that answers.
        "energy/upload/": signed_in("/energy/upload/", "post"),
        "chain/api/trades/<int:trade_id>/proof/": only_a(
            f"/chain/api/trades/{objs['trade'].pk}/proof/"
        ),
        # Each member's own trades' proofs of the month (the download's content is tested in
        # blockchain/tests/test_app_verify_proofs.py).
        "chain/api/proofs/<str:month>/": signed_in(f"/chain/api/proofs/{month}/"),
        "display/": everyone("/display/"),
        "favicon.ico": everyone("/favicon.ico"),
        "live/": signed_in("/live/"),
        "market/": signed_in("/market/"),
        "market/orders/": signed_in("/market/orders/"),
        "market/trades/": signed_in("/market/trades/"),
        "market/standing/": signed_in("/market/standing/"),
        # Each member's own ICPs only; a POST naming another's ICP is a 404 (tested in
        # trading/tests/test_energy_manager_page.py).
        "market/battery-ev/": signed_in("/market/battery-ev/"),
        "market/standing/<int:pk>/": only_a(f"/market/standing/{objs['standing'].pk}/"),
        # Each member's own sharing page; the forms (an empty form is the page again, with its
        # errors; nothing to stop is a message) act on the caller's own arrangements only.
        "market/sharing/": signed_in("/market/sharing/"),
        "market/sharing/code/": signed_in("/market/sharing/code/", "post"),
        "market/sharing/partners/": signed_in("/market/sharing/partners/", "post"),
        "market/sharing/gift/": signed_in("/market/sharing/gift/", "post"),
        "market/sharing/gift/stop/": signed_in("/market/sharing/gift/stop/", "post"),
        "statements/": signed_in("/statements/"),
        "statements/<str:month>/": signed_in(f"/statements/{month}/"),
        "statements/<str:month>/csv/": signed_in(f"/statements/{month}/csv/"),
        "api/^periods/$": signed_in("/api/periods/"),
        "api/^periods/(?P<pk>[0-9]+)/$": signed_in(f"/api/periods/{objs['period'].pk}/"),
        "api/^orders/$": signed_in("/api/orders/"),
        "api/^orders/(?P<pk>[0-9]+)/$": only_a(f"/api/orders/{objs['order'].pk}/"),
        "api/^standing-orders/$": signed_in("/api/standing-orders/"),
        "api/^standing-orders/(?P<pk>[0-9]+)/$": only_a(
            f"/api/standing-orders/{objs['standing'].pk}/", "patch"
        ),
        "api/^trades/$": signed_in("/api/trades/"),
        "api/": signed_in("/api/"),
        "api/statements/<str:month>/": signed_in(f"/api/statements/{month}/"),
        # Network prices are the distributor's, per feeder: any member reads any feeder's.
        "api/network/feeders/": signed_in("/api/network/feeders/"),
        "api/network/feeders/<int:feeder_id>/prices/": signed_in(
            f"/api/network/feeders/{objs['icp'].feeder_id}/prices/"
        ),
        "lab/": lab_only("/lab/"),
        "lab/scenarios/new/": lab_only("/lab/scenarios/new/"),
        "lab/scenarios/<int:pk>/": lab_only(f"/lab/scenarios/{objs['scenario'].pk}/"),
        "lab/scenarios/<int:pk>/run/": lab_only(
            f"/lab/scenarios/{objs['scenario'].pk}/run/", "post"
        ),
        "lab/scenarios/<int:pk>/sweep/": lab_only(
            f"/lab/scenarios/{objs['scenario'].pk}/sweep/", "post"
        ),
        "lab/runs/<int:pk>/": lab_only(f"/lab/runs/{objs['run'].pk}/"),
        "lab/runs/<int:pk>/progress/": lab_only(f"/lab/runs/{objs['run'].pk}/progress/"),
        "lab/runs/<int:pk>/files/<str:name>": lab_only(
            f"/lab/runs/{objs['run'].pk}/files/report.html"
        ),
        "": signed_in("/"),
        "icps/<str:identifier>/": only_a(f"/icps/{objs['icp'].identifier}/"),
        # Last: these change A's objects (when A calls them).
        "market/orders/<int:pk>/cancel/": only_a(
            f"/market/orders/{objs['order'].pk}/cancel/", "post"
        ),
        # Cancels A's rule's open orders (none of anyone else's); B and the admin get a 404.
        "market/standing/<int:pk>/cancel-orders/": only_a(
            f"/market/standing/{objs['standing'].pk}/cancel-orders/", "post"
        ),
        "market/standing/<int:pk>/delete/": only_a(
            f"/market/standing/{objs['standing'].pk}/delete/", "post"
        ),
        # A shares with a partner: only A (or that partner, not one of these identities) moves
        # or ends it; B and the admin get a 404.
        "market/sharing/partners/<int:pk>/move/": only_a(
            f"/market/sharing/partners/{objs['partnership'].pk}/move/", "post"
        ),
        "market/sharing/partners/<int:pk>/end/": only_a(
            f"/market/sharing/partners/{objs['partnership'].pk}/end/", "post"
        ),
    }


@pytest.fixture
def world(resident, other_resident, coop_admin, settings, tmp_path):
    from lab.models import Run, Scenario
    from trading.models import Order, StandingOrder, Trade, TradingPeriod
    from trading.services import orders, periods
    from trading.sharing_models import Partnership

    settings.LAB_RUNS_DIR = tmp_path / "lab"
    scenario = Scenario.objects.create(
        name="Matrix",
        text="name: m\nspan: {from: 2026-06-01, to: 2026-06-01}\ndata: {synthetic_prices: true}\n",
    )
    run = Run.objects.create(scenario=scenario, name="m", text=scenario.text, state="done")
    run.folder.mkdir(parents=True)
    (run.folder / "report.html").write_text("<!doctype html><title>report</title>")

    seller = make_member("seller", 4)
    give_flat_tariff(resident, other_resident, coop_admin, seller)
    periods.periods_ensure(hours=4)
    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    icp = resident.icps.get()
    order = orders.order_place(
        member=resident, icp=icp, period=period, side="buy", energy_kwh="1", limit_price_c="20"
    )
    standing = StandingOrder.objects.create(
        member=resident,
        icp=icp,
        side=StandingOrder.Side.BUY,
        limit_price_c=Decimal(22),
        max_kwh=Decimal(1),
        days="All",
        start_time=dt.time(6),
        end_time=dt.time(22),
    )
    sell = Order.objects.create(
        member=seller,
        icp=seller.icps.get(),
        period=period,
        side=Order.Side.SELL,
        energy_kwh=Decimal(1),
        limit_price_c=Decimal(10),
        submitted_at=period.start - dt.timedelta(hours=1),
    )
    trade = Trade.objects.create(
        period=period,
        sequence=1,
        buy_order=order,
        sell_order=sell,
        buyer=resident,
        seller=seller,
        buyer_icp=icp,
        seller_icp=seller.icps.get(),
        energy_kwh=Decimal(1),
        price_c=Decimal(15),
        network_c=Decimal(2),
        fee_c=Decimal("0.5"),
        energy_value_nzd=Decimal("0.15"),
        network_value_nzd=Decimal("0.02"),
        fee_value_nzd=Decimal("0.005"),
    )
    partnership = Partnership.objects.create(seller=resident, partner=seller, price_c=Decimal(5))
    users = {A: resident.user, B: other_resident.user, STAFF: coop_admin.user}
    return {
        "partnership": partnership,
        "icp": icp,
        "order": order,
        "standing": standing,
        "trade": trade,
        "period": period,
        "month": period.trading_date.strftime("%Y-%m"),
        "scenario": scenario,
        "run": run,
        "users": users,
        "secret": icp.identifier,
    }


def _client(world, who: str) -> Client:
    client = Client()
    if who != ANON:
        client.force_login(world["users"][who])
    return client


def _reached(response) -> bool:
    if response.status_code in (301, 302, 303):
        return "/login/" not in response.get("Location", "")
    return 200 <= response.status_code < 300


def test_every_url_has_an_entry(world):
    table = rules(world)
    site_patterns = [pattern for namespace, pattern, _ in all_patterns() if namespace != "admin"]
    missing = sorted(set(site_patterns) - set(table))
    assert not missing, f"URLs with no authorization entry: {missing}"
    stale = sorted(set(table) - set(site_patterns))
    assert not stale, f"entries for URLs that no longer exist: {stale}"


@pytest.mark.parametrize("who", IDENTITIES)
def test_each_identity_reaches_exactly_what_it_may(world, who):
    from trading.models import Order, StandingOrder

    client = _client(world, who)
    wrong = []
    for pattern, rule in rules(world).items():
        own = _client(world, who) if pattern == "accounts/logout/" else client
        call = getattr(own, rule.method)
        body = {"limit_price_c": "21"} if rule.method == "patch" else {}
        response = (
            call(rule.url, body, content_type="application/json")
            if rule.method == "patch"
            else call(rule.url, body)
        )
        assert response.status_code < 500, (pattern, who, response.status_code)
        if _reached(response) != (who in rule.reach):
            wrong.append(f"{pattern} as {who}: {response.status_code}")
        if who in (B, STAFF) and _reached(response) and world["secret"] in _text(response):
            wrong.append(f"{pattern} as {who} shows A's ICP {world['secret']}")
    assert not wrong, "\n".join(wrong)
    if who != A:  # nobody but A changed A's order or rule
        assert Order.objects.get(pk=world["order"].pk).status == Order.Status.OPEN
        assert StandingOrder.objects.get(pk=world["standing"].pk).limit_price_c == Decimal(22)


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


# The admin's own door: its login page, and logging out (which lands on it).
ADMIN_PUBLIC = {"admin/login/", "admin/logout/"}


@pytest.mark.parametrize("who", [ANON, A, B])
def test_the_admin_is_staff_only(world, who):
    client = _client(world, who)
    reached = []
    for namespace, pattern, _ in all_patterns():
        if namespace != "admin" or pattern in ADMIN_PUBLIC:
            continue
        url = "/admin/" + _fill(pattern.removeprefix("admin/"), world)
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code == 200 or (
            response.status_code == 302 and "/admin/login/" not in response["Location"]
        ):
            reached.append(f"{url}: {response.status_code}")
    assert not reached, "\n".join(reached)


def test_staff_reach_every_admin_page_without_a_server_error(world):
    client = _client(world, STAFF)
    for namespace, pattern, _ in all_patterns():
        if namespace == "admin":
            url = "/admin/" + _fill(pattern.removeprefix("admin/"), world)
            assert client.get(url).status_code < 500, url


# Admin pages of our own beside the ModelAdmins' (walked by the two tests above like every
# admin URL): named here too, so that one going missing or refusing staff fails.
ADMIN_OWN_PAGES = {"admin/coop/transformer/map/"}


def test_our_own_admin_pages_are_walked_and_reach_staff(world):
    walked = {pattern for namespace, pattern, _ in all_patterns() if namespace == "admin"}
    assert walked >= ADMIN_OWN_PAGES
    for pattern in sorted(ADMIN_OWN_PAGES):
        assert _client(world, STAFF).get("/" + pattern).status_code == 200, pattern
        refused = _client(world, A).get("/" + pattern)
        assert refused.status_code == 302, pattern
        assert "/admin/login/" in refused["Location"], pattern


def _fill(pattern: str, world) -> str:
    """A concrete URL for an admin pattern: object ids of A's objects, an app label."""
    import re

    from django.contrib.contenttypes.models import ContentType

    values = {
        "app_label": "coop",
        "object_id": str(world["order"].pk),
        "content_type_id": str(ContentType.objects.get_for_model(type(world["order"])).pk),
        "id": str(world["order"].pk),
        "pk": str(world["order"].pk),
    }
    pattern = re.sub(r"\(\?P<app_label>[^)]*\)", values["app_label"], pattern)
    pattern = pattern.lstrip("^").rstrip("$")

    def value(match):
        return values.get(match.group(1).split(":")[-1], "1")

    return re.sub(r"<([^>]+)>", value, pattern)


def test_a_token_acts_only_as_its_owner(world):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world['users'][B]).key}")
    assert api.get(f"/api/orders/{world['order'].pk}/").status_code == 404
    assert api.delete(f"/api/orders/{world['order'].pk}/").status_code == 404
    assert world["secret"] not in api.get("/api/orders/").content.decode()
    assert world["secret"] not in api.get("/api/trades/").content.decode()


# --- websockets: every route x every identity ---------------------------------------------

WEBSOCKETS = {"ws/display/": frozenset(IDENTITIES), "ws/live/": frozenset({A, B, STAFF})}


def test_every_websocket_route_has_an_entry():
    from config.routing import websocket_urlpatterns

    routes = {str(route.pattern) for route in websocket_urlpatterns}
    assert routes == set(WEBSOCKETS), (
        f"websocket routes without an entry: {routes - set(WEBSOCKETS)}"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", IDENTITIES)
def test_each_identity_connects_to_exactly_the_sockets_it_may(world, who):
    import asyncio

    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from config.routing import websocket_urlpatterns

    user = AnonymousUser() if who == ANON else world["users"][who]

    async def connects(path: str) -> bool:
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/" + path)
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    for path, reach in WEBSOCKETS.items():
        assert asyncio.run(connects(path)) == (who in reach), (path, who)


@pytest.mark.django_db(transaction=True)
def test_a_residents_socket_hears_their_own_power_never_anothers(world):
    import asyncio

    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from config.routing import websocket_urlpatterns
    from trading.live import broadcast

    a, b = world["users"][A].member, world["users"][B].member

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/live/")
        communicator.scope["user"] = world["users"][A]
        assert (await communicator.connect())[0]
        heard = [await communicator.receive_json_from(timeout=5) for _ in range(2)]  # hello
        await asyncio.get_running_loop().run_in_executor(
            None, broadcast.push, broadcast.member_group(b.pk), "power", {"who": "B"}
        )
        await asyncio.get_running_loop().run_in_executor(
            None, broadcast.push, broadcast.member_group(a.pk), "power", {"who": "A"}
        )
        heard.append(await communicator.receive_json_from(timeout=5))
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return heard

    heard = asyncio.run(scenario())
    assert heard[-1]["data"] == {"who": "A"}


def test_another_resident_can_neither_edit_nor_delete_by_any_method(world):
    from rest_framework.test import APIClient

    from trading.models import Order, StandingOrder

    page = _client(world, B)
    standing, order = world["standing"], world["order"]
    edit = page.post(
        f"/market/standing/{standing.pk}/",
        {"side": "buy", "limit_price_c": "1", "max_kwh": "1", "days": "All"},
    )
    assert edit.status_code == 404
    api = APIClient()
    api.force_authenticate(world["users"][B])
    for call in (
        lambda: api.get(f"/api/standing-orders/{standing.pk}/"),
        lambda: api.patch(f"/api/standing-orders/{standing.pk}/", {"limit_price_c": "1"}),
        lambda: api.delete(f"/api/standing-orders/{standing.pk}/"),
        lambda: api.patch(f"/api/orders/{order.pk}/", {"limit_price_c": "1"}),
        lambda: api.delete(f"/api/orders/{order.pk}/"),
    ):
        assert call().status_code in (404, 405)
    assert StandingOrder.objects.get(pk=standing.pk).limit_price_c == Decimal(22)
    assert Order.objects.get(pk=order.pk).status == Order.Status.OPEN

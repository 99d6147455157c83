"""The order API's fast path: what a placement asks the database, and the locks that let
placements run side by side while keeping every rule (own ICP, gate closure, no self-crossing,
idempotency).

The lock tests hold one transaction open in a thread and check that the other waits (or does
not) and then ends as the rules say; they need PostgreSQL's row locks (an in-memory SQLite test
database cannot run two writers at once, as test_api_hardening says), so they skip on SQLite.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import give_flat_tariff
from coop.models import Battery, PVSystem
from trading.api.serializers import OrderSerializer
from trading.models import IdempotencyKey, Order, TradingPeriod
from trading.services import one_row, orders, periods

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(resident, other_resident):
    give_flat_tariff(resident, other_resident)
    for member in (resident, other_resident):
        icp = member.icps.get()
        PVSystem.objects.create(icp=icp, capacity_kwp=Decimal("6.6"), inverter_kw=Decimal(5))
        Battery.objects.create(icp=icp, capacity_kwh=Decimal(10), power_kw=Decimal(5))
    periods.periods_ensure(hours=3)
    return TradingPeriod.objects.filter(state="open").order_by("start").last()


def token_client(member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member.user).key}")
    return client


def body(period, member, **extra):
    return {
        "period": period.pk,
        "icp": member.icps.get().identifier,
        "side": "buy",
        "energy_kwh": "1.5",
        "limit_price_c": "20",
        **extra,
    }


def _main_table(sql, verb):
    """The table after the statement's own FROM (or INTO), not a subquery's."""
    keyword, depth = (" FROM " if verb == "SELECT" else " INTO "), 0
    for at, char in enumerate(sql):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and sql.startswith(keyword, at):
            return sql[at + len(keyword) :].split()[0].strip('"')
    raise AssertionError(f"no {keyword.strip()} in {sql}")


def statements(captured):
    """Each statement as its verb and main table, transaction control apart: what a
    placement asks the database, in order."""
    shown = []
    for query in captured.captured_queries:
        verb = query["sql"].split()[0].upper()
        if verb not in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
            shown.append(f"{verb} {_main_table(query['sql'], verb)}")
    return shown


# Before this work a placement asked 8 (no key) and 11 (with a key) statements: the token and
# user, the member, the period, the ICP, the period again FOR UPDATE, the co-op settings, the
# crossing check, the insert; with a key also the key's lookup, its insert and the lookup
# again after the insert failed (a race) - besides savepoints. Then 4 and 6; now 3 and 5, and
# no savepoint.
PLACEMENT = [
    "SELECT authtoken_token",  # the token, its user and member (MemberTokenAuthentication)
    "SELECT trading_tradingperiod",  # period, member, settings, ICP, export kW: the locks
    "INSERT trading_order",  # unless the member's own order crosses it (NOT EXISTS)
]


def savepoints(captured):
    """The savepoints the statements made (not their releases)."""
    return [q["sql"] for q in captured.captured_queries if q["sql"].upper().startswith("SAVEPOINT")]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_placement_asks_three_statements(market, resident, side):
    client = token_client(resident)
    order = body(market, resident, side=side, limit_price_c="20" if side == "buy" else "30")
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/orders/", order, format="json")
    assert response.status_code == 201, response.content
    assert statements(captured) == PLACEMENT


def test_with_an_idempotency_key_it_asks_two_more_and_a_replay_two(market, resident):
    client = token_client(resident)
    order = body(market, resident)
    with CaptureQueriesContext(connection) as captured:
        first = client.post("/api/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert (
        statements(captured)
        == [
            "SELECT authtoken_token",
            "SELECT trading_idempotencykey",  # a key seen before is answered from here
            *PLACEMENT[1:],
            "INSERT trading_idempotencykey",  # ON CONFLICT DO NOTHING: a race needs no re-read
        ]
    )
    # The placement runs in the key's transaction without a savepoint of its own: the one
    # savepoint is the key's transaction, a savepoint only because the test runs in one.
    assert len(savepoints(captured)) == 1
    with CaptureQueriesContext(connection) as captured:
        again = client.post("/api/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert statements(captured) == ["SELECT authtoken_token", "SELECT trading_idempotencykey"]
    assert Order.objects.count() == IdempotencyKey.objects.count() == 1


def test_refusals_are_the_same_as_before(market, resident, other_resident):
    client = token_client(resident)
    for period in (999_999, 2**63, 10**30):  # none such, past a bigint, past any integer
        response = client.post(
            "/api/orders/", {**body(market, resident), "period": period}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"period": "No such trading period."}
    for icp in (other_resident.icps.get().identifier, "0000000000XX000"):
        response = client.post(
            "/api/orders/", {**body(market, resident), "icp": icp}, format="json"
        )
        assert response.status_code == 403
        assert response.json() == {"detail": f"ICP {icp} is not yours to trade."}
    too_much = client.post(
        "/api/orders/", body(market, resident, side="sell", energy_kwh="5.001"), format="json"
    )
    assert too_much.status_code == 400
    assert "at most 5.000 kWh" in str(too_much.json())  # 5 kW inverter + 5 kW battery, 30 min
    assert not Order.objects.exists()


def test_the_export_limit_adds_up_exactly_on_every_database(resident, other_resident):
    """The limit is summed by the database (SQLite sums decimals as floats: 3.3 + 4.4 is
    7.699999...); read back as the ORM reads a decimal, it is exact."""
    give_flat_tariff(resident)
    icp = resident.icps.get()
    for kw in ("3.3", "4.4"):
        PVSystem.objects.create(icp=icp, capacity_kwp=Decimal(kw), inverter_kw=Decimal(kw))
    periods.periods_ensure(hours=3)
    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    place = {"member": resident, "icp": icp, "period": period, "side": "sell"}
    assert orders.order_place(**place, energy_kwh="3.850", limit_price_c="30").pk
    with pytest.raises(orders.ValidationError, match=r"at most 3\.850 kWh"):
        orders.order_place(**place, energy_kwh="3.851", limit_price_c="30")


def test_rows_read_in_plain_sql_equal_the_orms(market):
    """one_row's conversions (SQLite's text dates and float decimals) give what the ORM gives."""
    fields = tuple(TradingPeriod._meta.concrete_fields)
    columns = one_row.Columns(*fields)
    sql = (
        f"SELECT {', '.join(one_row.column(f, 'p') for f in fields)} "
        f"FROM {one_row.quoted(TradingPeriod, 'p')} WHERE p.id = %s"
    )
    read = one_row.instance(TradingPeriod, fields, one_row.fetch_row(sql, [market.pk], columns))
    orm = TradingPeriod.objects.get(pk=market.pk)
    for field in fields:
        assert getattr(read, field.attname) == getattr(orm, field.attname), field.name
    assert read.start.tzinfo is not None
    assert isinstance(read.network_price_c, Decimal)


def test_the_order_answer_is_drfs_field_by_field_answer(market, resident):
    """OrderSerializer writes its answer out by hand; DRF's own walk of its fields gives the
    same, whatever the digits and whichever side of daylight saving."""
    icp = resident.icps.get()
    times = [
        dt.datetime(2026, 4, 5, 13, 59, 59, 999999, tzinfo=dt.UTC),  # NZDT ends at 14:00 UTC
        dt.datetime(2026, 4, 5, 14, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 9, 26, 14, 0, tzinfo=dt.UTC),  # NZST ends
        dt.datetime(2026, 7, 8, 0, 0, 0, 1, tzinfo=dt.UTC),
    ]
    amounts = [("0.001", "0"), ("7.5", "99.9999"), ("123.456", "0.0001"), ("2", "100")]
    for n, (when, (kwh, price)) in enumerate(zip(times, amounts, strict=True)):
        order = Order.objects.create(
            period=market,
            member=resident,
            icp=icp,
            side="sell" if n % 2 else "buy",
            energy_kwh=Decimal(kwh),
            limit_price_c=Decimal(price),
            matched_kwh=Decimal(kwh) / 2 if n == 2 else Decimal(0),
            submitted_at=when,
        )
        order = Order.objects.select_related("icp").get(pk=order.pk)
        serializer = OrderSerializer(order)
        drf = serializers.ModelSerializer.to_representation(serializer, order)
        assert serializer.data == drf
        assert list(serializer.data) == OrderSerializer.Meta.fields


def test_token_answers_are_drfs(market, resident, django_user_model):
    anonymous = APIClient()
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = anonymous.post("/api/orders/", body(market, resident), format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"
    resident.user.is_active = False
    resident.user.save(update_fields=["is_active"])
    response = token_client(resident).post("/api/orders/", body(market, resident), format="json")
    assert (response.status_code, response.json()) == (401, {"detail": "User inactive or deleted."})
    guest = APIClient()
    user = django_user_model.objects.create_user("guest", password="x")
    guest.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = guest.get("/api/orders/")
    assert response.status_code == 403
    assert "not a member" in response.json()["detail"]


# --- the locks -------------------------------------------------------------------------------


def _needs_row_locks():
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL (an in-memory SQLite test database has one writer)")


class Held(threading.Thread):
    """Run `work` in a transaction of its own and keep it open until released."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.result, self.error = work, None, None
        self.started, self.release = threading.Event(), threading.Event()

    def run(self):
        try:
            with transaction.atomic():
                self.result = self.work()
                self.started.set()
                self.release.wait(30)
        except Exception as exc:  # handed to the test, which asserts on it
            self.error = exc
            self.started.set()
        finally:
            connection.close()


class Call(threading.Thread):
    """Run `work` (in its own transaction, as a request does) and keep its answer."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.result, self.error = work, None, None
        self.start()

    def run(self):
        try:
            self.result = self.work()
        except Exception as exc:
            self.error = exc
        finally:
            connection.close()


def close_gate(period):
    """The gate closure's own service, as its task runs it when the gate time comes."""
    return periods.period_close_gate(period_id=period.pk, now=period.gate_closes_at)


def place(member, period, side, price):
    return lambda: orders.order_place(
        member=member,
        icp=member.icps.get(),
        period=period.pk,
        side=side,
        energy_kwh="1",
        limit_price_c=price,
    )


@pytest.mark.django_db(transaction=True)
def test_one_members_two_crossing_orders_at_once_cannot_both_stand(market, resident):
    _needs_row_locks()
    first = Held(place(resident, market, "buy", "30"))
    first.start()
    assert first.started.wait(10)
    assert first.error is None
    second = Call(place(resident, market, "sell", "20"))  # would cross the bid at 30
    second.join(1)
    assert second.is_alive(), "the second order did not wait for the member's first"
    first.release.set()
    first.join(10)
    second.join(10)
    assert isinstance(second.error, orders.CrossesOwnOrder)
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_members_placing_in_one_period_do_not_wait_for_each_other(market, resident, other_resident):
    _needs_row_locks()
    first = Held(place(resident, market, "buy", "30"))
    first.start()
    assert first.started.wait(10)
    assert first.error is None
    other = Call(place(other_resident, market, "sell", "20"))
    other.join(5)
    finished = not other.is_alive()
    first.release.set()
    first.join(10)
    assert finished, "a placement waited for another member's"
    assert other.error is None
    assert Order.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_order_placed_while_the_gate_closes_waits_and_is_refused(market, resident):
    _needs_row_locks()
    gate = Held(lambda: close_gate(market))
    gate.start()
    assert gate.started.wait(10)
    assert gate.result is True
    late = Call(place(resident, market, "buy", "20"))
    late.join(1)
    assert late.is_alive(), "the placement did not wait for the gate closure"
    gate.release.set()
    gate.join(10)
    late.join(10)
    assert isinstance(late.error, orders.ValidationError)
    assert "closed for orders" in str(late.error)
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_gate_waits_for_a_placement_in_flight_and_closes_on_it(market, resident):
    _needs_row_locks()
    placing = Held(place(resident, market, "buy", "20"))
    placing.start()
    assert placing.started.wait(10)
    assert placing.error is None
    gate = Call(lambda: close_gate(market))
    gate.join(1)
    assert gate.is_alive(), "the gate closed under a placement in flight"
    placing.release.set()
    placing.join(10)
    gate.join(10)
    assert gate.result is True
    market.refresh_from_db()
    assert market.state == TradingPeriod.State.GATE_CLOSED
    assert Order.objects.get().status == Order.Status.OPEN  # in the book that clears

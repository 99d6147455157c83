"""How the ledger is stored for speed keeps what it guarantees (migrations trading 0013 and
0014)."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import ProtectedError

from metering.models import Reading
from trading.models import Order, SettlementLine, Trade, TradingPeriod
from trading.services import orders, periods
from trading.tests.conftest import MARKET_NOW

pytestmark = pytest.mark.django_db


def _cleared_trade(market) -> Trade:
    buyer, seller = market
    period = TradingPeriod.objects.filter(start__gt=MARKET_NOW).earliest("start")
    for member, side, price in ((buyer, "buy", "25"), (seller, "sell", "15")):
        orders.order_place(
            member=member,
            icp=member.icps.get(),
            period=period,
            side=side,
            energy_kwh="1.0",
            limit_price_c=price,
            now=MARKET_NOW,
        )
    periods.periods_advance(now=period.gate_closes_at + dt.timedelta(seconds=1))
    return Trade.objects.get(period=period)


def test_a_traded_order_member_icp_or_period_cannot_be_deleted(market):
    """None of a trade's keys has a database constraint (migrations trading 0014, 0015):
    Django's PROTECT still refuses the delete of each thing it names."""
    trade = _cleared_trade(market)
    for owner in (
        trade.buy_order,
        trade.sell_order,
        trade.buyer,
        trade.seller,
        trade.buyer_icp,
        trade.seller_icp,
        trade.period,
    ):
        with pytest.raises(ProtectedError):
            owner.delete()
    assert Trade.objects.filter(pk=trade.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage settings")
def test_order_outcomes_can_be_hot_updates(market):
    """The clearing rewrites every order's status and matched energy: HOT (no index entry
    rewritten) only while neither is in an index and the page has room for the new version."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'trading_order'")
        (options,) = cursor.fetchone()
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'trading_order'::regclass"
        )
        indexed = {row[0] for row in cursor.fetchall()}
    assert "fillfactor=50" in options
    assert not indexed & {"status", "matched_kwh", "updated_at"}, indexed
    assert {"id", "period_id", "member_id"} <= indexed  # the keys the site looks orders up by


def test_the_clearing_sets_each_orders_outcome(market):
    trade = _cleared_trade(market)
    outcomes = dict(Order.objects.filter(period=trade.period).values_list("side", "status"))
    assert outcomes == {"buy": Order.Status.FILLED, "sell": Order.Status.FILLED}


def test_a_settled_periods_lines_keep_what_they_name_from_deletion(market):
    """Settlement lines and member summaries carry no database constraints (migrations trading
    0014, 0015): Django's PROTECT still refuses to delete the period, member, ICP or trade a
    line or summary names."""
    trade = _cleared_trade(market)
    period = trade.period
    for member in market:
        Reading.objects.create(
            icp=member.icps.get(),
            interval_start=period.start,
            import_kwh=Decimal("0.5"),
            export_kwh=Decimal("1.5"),
            source="test",
        )
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))
    period.refresh_from_db()
    assert period.state == "settled"
    lines = SettlementLine.objects.filter(period=period)
    assert lines.filter(trade=trade).count() == 2  # the energy transfer (charges are per ICP)
    for owner, key in (
        (period, "SettlementLine.period"),
        (trade, "SettlementLine.trade"),
        (trade.buyer, "SettlementLine.member"),
        (trade.buyer_icp, "SettlementLine.icp"),
        (period, "MemberPeriodSummary.period"),
        (trade.buyer, "MemberPeriodSummary.member"),
    ):
        with pytest.raises(ProtectedError) as refused:
            owner.delete()
        assert f"'{key}'" in str(refused.value)  # among the keys that refuse it
    assert lines.count()
    assert sum(line.amount_nzd for line in lines) == 0


def test_a_failed_step_leaves_garbage_collection_on(market):
    """Clearing and settling pause the cyclic collector for their step, whatever happens."""
    period = TradingPeriod.objects.filter(start__gt=MARKET_NOW).earliest("start")

    def broken(*, period):
        raise RuntimeError("the step fails")

    assert gc.isenabled()
    assert not periods._step(period.pk, period.state, "gate_closed", broken)
    assert gc.isenabled()
    period.refresh_from_db()
    assert period.state == "open"
    assert "the step fails" in period.last_error


def test_the_admin_cannot_delete_a_trade(market, admin_client_):
    """A trade is settled and committed on chain as it is; deleting one by hand would orphan
    its settlement lines (no database key stops it) and break the period's Merkle root."""
    trade = _cleared_trade(market)
    page = admin_client_.get(f"/admin/trading/trade/{trade.pk}/delete/")
    assert page.status_code == 403
    answer = admin_client_.post(
        "/admin/trading/trade/",
        {"action": "delete_selected", "_selected_action": [trade.pk], "post": "yes"},
    )
    assert answer.status_code in (200, 302)
    assert Trade.objects.filter(pk=trade.pk).exists()


def test_the_admin_cancels_an_open_order_and_cannot_add_edit_or_delete_one(market, admin_client_):
    """Orders keep no database key under a trade: the site never deletes one (cancelled
    instead), so the admin can't either, nor write one past the market's rules."""
    buyer, _ = market
    period = TradingPeriod.objects.filter(start__gt=MARKET_NOW).earliest("start")
    period.gate_closes_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # open for now
    period.save(update_fields=["gate_closes_at"])
    order = orders.order_place(
        member=buyer,
        icp=buyer.icps.get(),
        period=period,
        side="buy",
        energy_kwh="1.0",
        limit_price_c="25",
    )
    assert admin_client_.get(f"/admin/trading/order/{order.pk}/delete/").status_code == 403
    assert admin_client_.get("/admin/trading/order/add/").status_code == 403
    edit = admin_client_.post(f"/admin/trading/order/{order.pk}/change/", {"status": "filled"})
    assert edit.status_code == 403
    deleted = admin_client_.post(
        "/admin/trading/order/",
        {"action": "delete_selected", "_selected_action": [order.pk], "post": "yes"},
    )
    assert deleted.status_code in (200, 302)
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN
    cancelled = admin_client_.post(
        "/admin/trading/order/", {"action": "cancel_orders", "_selected_action": [order.pk]}
    )
    assert cancelled.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED

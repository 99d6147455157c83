"""The full price of a trade (trading.price_selectors), the order and standing-order forms, the
open orders page and its "cancel all" for a rule (issue 15, Residents)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from conftest import give_flat_tariff
from coop.models import CoopSettings
from trading.forms import StandingOrderForm
from trading.models import FeederPrice, Order, StandingOrder, TimeValueParameters, TradingPeriod
from trading.price_selectors import trade_prices
from trading.services import periods
from trading.services.orders import order_place
from trading.services.standing_rules import standing_order_orders_cancel, standing_order_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_periods(resident):
    """The periods still open for orders, at a fixed instant well clear of a gate closure
    (15:10 NZST on a winter Monday), so the test never races a real gate."""
    with time_machine.travel(dt.datetime(2026, 7, 13, 3, 10, tzinfo=dt.UTC), tick=False):
        give_flat_tariff(resident)
        periods.periods_ensure(hours=30)
        yield list(
            TradingPeriod.objects.filter(state="open", gate_closes_at__gt=timezone.now()).order_by(
                "start"
            )
        )


def _time_value(upstream: str = "3") -> None:
    settings = CoopSettings.load()
    settings.mechanism = CoopSettings.Mechanism.TIME_VALUE
    settings.save()
    TimeValueParameters.objects.create(
        effective_from=dt.date(2026, 1, 1), upstream_c=Decimal(upstream)
    )


def test_the_price_between_feeders_without_time_value(resident, open_periods):
    period, icp = open_periods[-1], resident.icps.get()
    price = trade_prices([period], [icp])[(period.pk, icp.pk)]
    assert (price.network_near_c, price.network_far_c) == (Decimal(2), Decimal(4))
    assert price.export_credit_c == 0
    assert price.coop_fee_c == Decimal("0.5")
    assert price.buy_all_in_c(Decimal(20)) == (Decimal("22.5"), Decimal("24.5"))
    assert price.sell_all_in_c(Decimal(20)) == Decimal(20)
    buy = price.breakdown("buy", Decimal(20))
    assert buy["all_in"] == "22.50-24.50"
    assert buy["all_in_gst"] == "25.88-28.18"
    assert buy["network"] == "2.00 c on your feeder, 4.00 c between feeders"


def test_the_price_under_time_value_is_the_feeders_with_the_upstream_part(resident, open_periods):
    _time_value(upstream="3")
    period, icp = open_periods[-1], resident.icps.get()
    FeederPrice.objects.create(
        feeder=icp.feeder,
        period=period,
        forecast_kw=Decimal(10),
        base_c=Decimal(5),
        price_c=Decimal("7.25"),
        export_credit_c=Decimal("1.5"),
        source=FeederPrice.Source.POWER_FLOW,
        computed_at=timezone.now(),
    )
    price = trade_prices([period], [icp])[(period.pk, icp.pk)]
    assert price.time_value
    assert price.published
    assert not price.firm
    assert (price.network_near_c, price.network_far_c) == (Decimal("7.25"), Decimal("10.25"))
    assert price.network_words == "from 7.25 c on your feeder, 10.25 c from another transformer"
    assert price.buy_all_in_c(Decimal(20)) == (Decimal("27.75"), Decimal("30.75"))
    sell = price.breakdown("sell", Decimal(20))
    assert (sell["credit"], sell["all_in"], sell["all_in_gst"]) == ("1.50", "21.50", "24.73")


def test_a_feeder_without_a_published_price_takes_the_static_fallback(resident, open_periods):
    _time_value()
    period, icp = open_periods[-1], resident.icps.get()
    price = trade_prices([period], [icp])[(period.pk, icp.pk)]
    assert price.time_value
    assert not price.published
    assert price.network_far_c == price.network_near_c + 3


def _rule(member, **fields) -> StandingOrder:
    values = {
        "icp": member.icps.get(),
        "side": StandingOrder.Side.BUY,
        "limit_price_c": Decimal(20),
        "max_kwh": Decimal(1),
        "days": "Mon-Fri",
        "start_time": dt.time(6),
        "end_time": dt.time(9),
    }
    return StandingOrder(**{**values, **fields})


def test_overlapping_rules_for_one_icp_and_side_are_refused_naming_the_other(resident):
    standing_order_save(member=resident, standing=_rule(resident))
    with pytest.raises(ValidationError) as refused:
        standing_order_save(
            member=resident, standing=_rule(resident, days="Fri", start_time=dt.time(8))
        )
    text = " ".join(refused.value.messages)
    assert "overlaps your rule" in text
    assert "Mon-Fri 06:00-09:00" in text
    # Hours that only touch, other days, the other side or an inactive rule do not overlap.
    standing_order_save(
        member=resident, standing=_rule(resident, start_time=dt.time(9), end_time=dt.time(10))
    )
    standing_order_save(member=resident, standing=_rule(resident, days="Sat,Sun"))
    standing_order_save(
        member=resident,
        standing=_rule(resident, side=StandingOrder.Side.SELL_SURPLUS, limit_price_c=30),
    )
    standing_order_save(member=resident, standing=_rule(resident, active=False))
    assert StandingOrder.objects.count() == 5
    # Editing a rule does not clash with itself.
    first = StandingOrder.objects.order_by("pk").first()
    first.limit_price_c = Decimal(21)
    standing_order_save(member=resident, standing=first)


def test_a_rule_that_starts_and_stops_at_once_needs_all_day(resident):
    with pytest.raises(ValidationError, match="start and stop at 09:00"):
        standing_order_save(
            member=resident, standing=_rule(resident, start_time=dt.time(9), end_time=dt.time(9))
        )
    data = {
        "icp": resident.icps.get().pk,
        "side": "buy",
        "limit_price_c": "20",
        "max_kwh": "1",
        "days": "All",
        "start_time": "09:00",
        "end_time": "09:00",
        "active": "on",
    }
    form = StandingOrderForm(data, member=resident)
    assert not form.is_valid()
    assert "start and stop at 09:00" in str(form.errors["end_time"])
    form = StandingOrderForm({**data, "all_day": "on"}, member=resident)
    assert form.is_valid(), form.errors
    rule = standing_order_save(member=resident, standing=form.save(commit=False))
    assert (rule.start_time, rule.end_time) == (dt.time(0), dt.time(0))
    assert StandingOrderForm(instance=rule, member=resident)["all_day"].value() is True


def test_the_standing_form_speaks_plainly(client, resident):
    client.force_login(resident.user)
    html = client.get(reverse("standing-orders")).content.decode()
    assert "ICP" in html
    assert "Limit (c/kWh)" in html
    assert "Icp" not in html
    assert "Limit price c" not in html
    assert "wraps past midnight" in html
    assert "cheaper half" in html
    assert "Mon,Wed,Fri" in html


def test_the_order_form_offers_every_open_period_by_day_the_next_chosen(
    client, resident, open_periods
):
    client.force_login(resident.user)
    html = client.get(reverse("market")).content.decode()
    assert "---------" not in html
    for period in (open_periods[0], open_periods[-1]):
        assert f'value="{period.pk}"' in html
    days = {p.trading_date for p in open_periods}
    assert html.count("<optgroup") == len(days) >= 2
    assert f'<option value="{open_periods[0].pk}" selected>' in html
    assert 'id="trade-prices"' in html
    assert "Buyer pays all in" in html


def test_a_closed_period_and_a_placed_order_say_what_happened(client, resident, open_periods):
    client.force_login(resident.user)
    period = open_periods[0]
    body = {"icp": resident.icps.get().pk, "side": "buy", "energy_kwh": "1", "limit_price_c": "20"}
    TradingPeriod.objects.filter(pk=period.pk).update(state=TradingPeriod.State.GATE_CLOSED)
    html = client.post(reverse("market"), {**body, "period": period.pk}).content.decode()
    assert "Select a valid choice" not in html
    assert "is closed for orders (gate closed at" in html
    later = open_periods[-1]
    page = client.post(reverse("market"), {**body, "period": later.pk}, follow=True)
    start = timezone.localtime(later.start)
    end = timezone.localtime(later.end)
    expected = (
        f"Order placed: buy 1.000 kWh at 20.0000 c/kWh in {later.trading_date:%a %d %b} "
        f"TP{later.number} ({start:%H:%M}-{end:%H:%M})"
    )
    assert expected in page.content.decode()


def test_cancel_all_cancels_only_that_rules_open_orders(
    client, resident, other_resident, open_periods
):
    rule = standing_order_save(
        member=resident,
        standing=_rule(resident, days="All", start_time=dt.time(0), end_time=dt.time(0)),
    )
    icp = resident.icps.get()
    for period in open_periods[1:4]:
        order_place(
            member=resident,
            icp=icp,
            period=period,
            side="buy",
            energy_kwh="1",
            limit_price_c="20",
            standing_order=rule,
        )
    by_hand = order_place(
        member=resident,
        icp=icp,
        period=open_periods[5],
        side="buy",
        energy_kwh="1",
        limit_price_c="20",
    )
    client.force_login(resident.user)
    html = client.get(reverse("my-orders")).content.decode()
    assert "Standing order: Buy up to 1.000 kWh at 20.0000 c, All all day" in html
    assert "Placed by you" in html
    assert "Cancel all 3" in html
    client.force_login(other_resident.user)
    url = reverse("standing-order-orders-cancel", args=[rule.pk])
    assert client.post(url).status_code == 404
    assert standing_order_orders_cancel(member=resident, standing=rule) == 3
    client.force_login(resident.user)
    assert client.post(url).status_code == 302
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses.pop(by_hand.pk) == Order.Status.OPEN
    assert set(statuses.values()) == {Order.Status.CANCELLED}

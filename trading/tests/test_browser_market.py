"""In a real browser: a resident places an order for the next period, sees it cleared after
gate closure, and finds the trade on their trades page and their statement."""

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import give_flat_tariff
from coop.models import PVSystem
from coop.tests.test_browser_home import CHROMIUM, page  # noqa: F401  (the browser fixture)
from metering.services.readings import readings_upsert
from metering.values import IntervalEnergy
from trading.models import TradingPeriod
from trading.services import orders, periods

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_order_to_statement_in_the_browser(live_server, page, resident, other_resident):  # noqa: F811
    give_flat_tariff(resident, other_resident)
    PVSystem.objects.create(icp=other_resident.icps.get(), capacity_kwp=5, inverter_kw=5)
    periods.periods_ensure(hours=2)
    period = TradingPeriod.objects.filter(state="open").order_by("start").last()
    orders.order_place(
        member=other_resident,
        icp=other_resident.icps.get(),
        period=period,
        side="sell",
        energy_kwh="2",
        limit_price_c="15",
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "resident")
    page.fill("input[name=password]", "pw-resident")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/market/")
    page.select_option("select[name=period]", str(period.pk))
    page.fill("input[name=energy_kwh]", "1.5")
    page.fill("input[name=limit_price_c]", "25")
    page.click("text=Place order")
    assert "Order placed: buy 1.500 kWh at 25.0000 c/kWh in" in page.inner_text("main")
    page.wait_for_selector("#depth .main-svg")  # the Plotly depth chart drew the book
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "market.png"), full_page=True)

    # Time passes: the gate closes, the book clears, the half hour is metered and settled.
    periods.periods_advance(now=period.gate_closes_at)
    readings_upsert(
        source="test",
        rows=[
            IntervalEnergy(resident.icps.get().pk, period.start, Decimal("1.5"), Decimal(0)),
            IntervalEnergy(other_resident.icps.get().pk, period.start, Decimal(0), Decimal("2")),
        ],
    )
    periods.periods_advance(now=period.end + dt.timedelta(minutes=1))

    page.goto(f"{live_server.url}/market/orders/")
    assert "Filled" in page.inner_text("main")
    page.goto(f"{live_server.url}/market/trades/")
    trades = page.inner_text("main")
    assert "bought" in trades
    assert "1.500" in trades
    assert "20.0000" in trades
    page.goto(f"{live_server.url}/statements/")
    page.click("text=View")
    statement = page.inner_text("main")
    assert "Bought from neighbours" in statement, statement
    assert "1.500" in statement, statement
    page.screenshot(path=str(ARTIFACTS / "statement.png"), full_page=True)

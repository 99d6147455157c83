"""Charts read NZ time in a browser whose zone is UTC (Debian Chromium against the demo site on
a real daphne): the Energy page's half hours and months, a statement's days and months, and
the market's depth chart as two named step curves from 0 kWh with their crossing marked."""

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from coop import nz
from coop.tests.test_browser_home import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

# The NZ day the test fills: yesterday in NZ, a whole day that is over.
DAY = nz.today() - dt.timedelta(days=1)
HOURS = re.compile(r"^\d\d:\d\d$")

# Aroha (with PV) has a metered import and export for every half hour of DAY, and two of its
# periods settled with summaries; the next open period has bids and offers from the residents.
SETUP = f"""
import datetime as dt
from decimal import Decimal
from coop import nz
from coop.models import ICP, Member
from metering.models import Reading
from trading.models import MemberPeriodSummary, Order, TradingPeriod
from trading.selectors import next_open_period
from trading.services import orders, periods

day = dt.date.fromisoformat("{DAY.isoformat()}")
aroha = Member.objects.get(user__username="aroha")
icp = ICP.objects.filter(member=aroha).first()
for n, start, end in nz.trading_periods(day):
    Reading.objects.update_or_create(
        icp=icp, interval_start=start,
        defaults=dict(import_kwh=Decimal("0.400"), export_kwh=Decimal("0.100"),
                      quality="actual", source="test"),
    )
for n, net, alone in ((1, "-0.40", "-0.45"), (27, "0.30", "0.10")):
    start = nz.trading_period_start(day, n)
    period, _ = TradingPeriod.objects.get_or_create(
        start=start,
        defaults=dict(trading_date=day, number=n, end=start + nz.TRADING_PERIOD,
                      gate_closes_at=start, state="settled"),
    )
    MemberPeriodSummary.objects.update_or_create(
        period=period, member=aroha,
        defaults=dict(imported_kwh=Decimal("0.4"), exported_kwh=Decimal("0.1"),
                      bought_p2p_kwh=0, sold_p2p_kwh=0, net_amount_nzd=Decimal(net),
                      retailer_only_nzd=Decimal(alone)),
    )

periods.periods_ensure(hours=3)
period = next_open_period()
Order.objects.filter(period=period).update(status="cancelled")
sellers = [
    i for i in ICP.objects.exclude(member=aroha).filter(member__isnull=False)
    if orders.max_sell_kwh(i) >= 1
]
buyer = ICP.objects.exclude(member=aroha).exclude(pk__in=[i.pk for i in sellers[:2]]).filter(
    member__isnull=False).first()
book = [(icp, "buy", "1.4", "30"), (buyer, "buy", "1", "22"),
        (sellers[0], "sell", "1", "18"), (sellers[1], "sell", "1", "26")]
for i, side, kwh, price in book:
    orders.order_place(member=i.member, icp=i, period=period, side=side, energy_kwh=kwh,
                       limit_price_c=price)
"""


@pytest.fixture(scope="module")
def site(demo_site):
    demo_site.manage("shell", "-c", SETUP)
    return demo_site.url


@pytest.fixture
def utc_page(page):
    """A page of a browser context whose time zone is UTC (the fixture's browser)."""
    context = page.context.browser.new_context(
        viewport={"width": 1200, "height": 900}, timezone_id="UTC"
    )
    utc = context.new_page()
    yield utc
    context.close()


def _log_in(page, site):
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=username]", "aroha")
    page.fill("input[name=password]", "hapori-demo")
    page.click("button[type=submit]")


def _ticks(page, chart):
    page.wait_for_selector(f"{chart} .xtick text")
    return page.locator(f"{chart} .xtick text").all_text_contents()


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_the_browser_is_in_utc(site, utc_page):
    utc_page.goto(f"{site}/accounts/login/")
    assert utc_page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"
    assert utc_page.evaluate("new Date(0).getTimezoneOffset()") == 0


def test_energy_day_is_drawn_in_nz_time(site, utc_page):
    _log_in(utc_page, site)
    utc_page.goto(f"{site}/energy/?range=day&end={DAY.isoformat()}")
    ticks = _ticks(utc_page, "#energy-chart")
    rows = json.loads(utc_page.get_attribute("#energy-chart", "data-series"))
    _shot(utc_page, "energy-day-utc-browser.png")

    # The data's x values are NZ clock times, from NZ midnight, one per half hour.
    xs = [r["x"] for r in rows]
    assert xs[0] == f"{DAY.isoformat()} 00:00"
    assert len(xs) == nz.trading_period_count(DAY)
    # Solar peaks around NZ midday (solar noon in Auckland is 12:20-13:20 NZ time), not at 01:00.
    peak = max(rows, key=lambda r: float(r["generation"]))["x"]
    assert float(max(r["generation"] for r in rows)) > 0
    assert 11 <= int(peak[11:13]) <= 14, peak

    # The axis ticks are those NZ clock hours: every two hours from NZ midnight.
    assert all(HOURS.match(t) for t in ticks), ticks
    assert ticks[:12] == [f"{h:02d}:00" for h in range(0, 24, 2)]
    assert set(ticks) <= {x[11:16] for x in xs}
    assert "NZ time" in utc_page.text_content("#energy-chart .g-xtitle")


def test_energy_year_is_drawn_as_monthly_bars(site, utc_page):
    _log_in(utc_page, site)
    utc_page.goto(f"{site}/energy/?range=year&end={DAY.isoformat()}")
    ticks = _ticks(utc_page, "#energy-chart")
    _shot(utc_page, "energy-year-utc-browser.png")
    rows = json.loads(utc_page.get_attribute("#energy-chart", "data-series"))
    assert [r["x"] for r in rows] == [DAY.replace(day=1).isoformat()]
    assert all(re.match(r"^[A-Z][a-z]{2} \d{4}$", t) for t in ticks), ticks
    assert DAY.strftime("%b %Y") in ticks
    assert utc_page.locator("#energy-chart .bars path").count() >= 1


def test_statement_is_drawn_on_nz_days_and_months(site, utc_page):
    _log_in(utc_page, site)
    month = DAY.strftime("%Y-%m")
    utc_page.goto(f"{site}/statements/{month}/")
    assert "2 settled trading periods ·" in utc_page.inner_text(".lede")
    ticks = _ticks(utc_page, "#statement-days")
    chart = json.loads(utc_page.get_attribute("#statement-days", "data-chart"))
    _shot(utc_page, "statement-day-by-day-utc-browser.png")
    assert [r["x"] for r in chart["rows"]] == [DAY.isoformat()]
    # Dates, never times: the month's NZ days from its first.
    assert all(re.match(r"^\d{1,2} [A-Z][a-z]{2}$", t) for t in ticks), ticks
    assert ticks[0] == f"1 {DAY.strftime('%b')}"
    assert "NZ time" in utc_page.text_content("#statement-days .g-xtitle")

    utc_page.goto(f"{site}/statements/")
    ticks = _ticks(utc_page, "#savings")
    _shot(utc_page, "statements-utc-browser.png")
    assert DAY.strftime("%b %Y") in ticks
    assert not any(":" in t for t in ticks), ticks


def test_depth_chart_draws_bids_and_offers_from_zero(site, utc_page):
    _log_in(utc_page, site)
    utc_page.goto(f"{site}/market/")
    utc_page.wait_for_selector("#depth .main-svg")
    _shot(utc_page, "market-depth-utc-browser.png")
    traces = utc_page.evaluate(
        "Array.from(document.getElementById('depth').data,"
        " (t) => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))"
    )
    curves = {t["name"]: t for t in traces}
    assert {"Bids", "Offers"} <= set(curves)
    # Bids: 1.4 kWh at 30 c, then 1 kWh at 22 c; offers: 1 kWh at 18 c, then 1 kWh at 26 c.
    # Each curve starts at 0 kWh at its best price and steps at each level's end.
    assert curves["Bids"]["x"] == [0, 1.4, 2.4]
    assert curves["Bids"]["y"] == [30, 22, 22]
    assert curves["Offers"]["x"] == [0, 1, 2]
    assert curves["Offers"]["y"] == [18, 26, 26]
    # They cross at 1.4 kWh, where the bids fall from 30 c to 22 c through the offers' 26 c.
    cross = curves["Where they cross"]
    assert cross["x"] == [1.4]
    assert cross["y"] == [26]
    legend = utc_page.locator("#depth .legendtext").all_text_contents()
    assert legend[:2] == ["Bids", "Offers"]
    assert utc_page.locator("#depth .xtick text").first.text_content() == "0"

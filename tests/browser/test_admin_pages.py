"""The admin's daily pages in a real browser (Debian Chromium, Playwright, headless) on the
demo site: the lists fit a 1366 x 768 laptop screen without scrolling sideways, the meter form
shows fields instead of raw JSON, and the admin home links the chain status."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTH, HEIGHT = 1366, 768

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


# Three past periods of a day long gone (nothing else on the site looks at them), one stuck
# with a long error: the periods list has rows to lay out. Removed afterwards.
PERIODS = """
import datetime as dt
from coop import nz
from trading.models import TradingPeriod
day = dt.date(2020, 1, 15)
for number in (1, 2, 3):
    start = nz.trading_period_start(day, number)
    TradingPeriod.objects.get_or_create(
        trading_date=day,
        number=number,
        defaults=dict(
            start=start,
            end=start + nz.TRADING_PERIOD,
            gate_closes_at=start - dt.timedelta(minutes=30),
            state="cleared" if number == 3 else "settled",
            mechanism="uniform",
            last_error=(
                "settlement failed: ICP 0000638109TRE20 has no tariff in force on 2020-01-15 "
                "and no reading for the half hour, so its deviation cannot be priced; " * 3
            )
            if number == 3
            else "",
        ),
    )
"""
PERIODS_GONE = (
    "import datetime as dt; from trading.models import TradingPeriod; "
    "TradingPeriod.objects.filter(trading_date=dt.date(2020, 1, 15)).delete()"
)


@pytest.fixture
def some_periods(demo_site):
    demo_site.manage("shell", "-c", PERIODS)
    yield
    demo_site.manage("shell", "-c", PERIODS_GONE)


def admin_login(page, demo_site) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto(f"{demo_site.url}/admin/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "hapori-admin")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{demo_site.url}/admin/")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("icps", "/admin/coop/icp/"),
        ("meters", "/admin/metering/meter/"),
        ("periods", "/admin/trading/tradingperiod/"),
    ],
)
@pytest.mark.usefixtures("some_periods")
def test_changelists_fit_a_1366_px_screen(page, demo_site, name, path):
    admin_login(page, demo_site)
    page.goto(f"{demo_site.url}{path}")
    shot(page, f"{name}-1366")
    assert page.locator("#result_list").count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{path} is {width} px wide at {WIDTH} px"
    # Nor cut off inside the page: the list's own box does not scroll sideways either.
    table, box = page.evaluate(
        "[document.querySelector('#result_list').scrollWidth,"
        " document.querySelector('#result_list').parentElement.clientWidth]"
    )
    assert table <= box, f"{path}: the list is {table} px wide in a {box} px box"
    if name == "periods":  # the failed step: red, with its message, never a green tick
        error = page.locator("#result_list .hapori-error")
        assert error.count() == 1
        assert "settlement failed" in error.inner_text()
        assert page.locator("#result_list img[src$='icon-yes.svg']").count() == 0


def test_meter_form_shows_settings_fields_not_raw_json(page, demo_site):
    admin_login(page, demo_site)
    page.goto(f"{demo_site.url}/admin/metering/meter/")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("#meter_form")
    assert page.locator("textarea[name=settings]").count() == 0
    for internal in ("consecutive_misses", "next_poll_at", "import_register_kwh"):
        assert page.locator(f"[name={internal}]").count() == 0
    shot(page, "meter-simulated")
    # A Modbus meter's form: its settings as fields of their own.
    page.goto(f"{demo_site.url}/admin/metering/meter/add/?adapter=modbus")
    assert page.locator("textarea[name=settings]").count() == 0
    for field in ("host", "port", "unit_id", "sunspec_base"):
        assert page.locator(f"input[name={field}]").count() == 1
    shot(page, "meter-modbus")


def test_admin_home_links_chain_status(page, demo_site):
    admin_login(page, demo_site)
    link = page.locator("#hapori-daily a#hapori-chain-status")
    assert link.count() == 1
    assert page.locator("#hapori-failing-periods").count() == 1
    shot(page, "home")
    link.click()
    page.wait_for_url("**/chaindeployment/status/")
    assert "Chain status" in page.title()

"""The wall display in Debian Chromium against a real daphne: it renders, and a price pushed
through the Redis channel layer shows on screen within a second."""

import os
import re
import threading
import time
from pathlib import Path

import pytest

from coop.tests.test_browser_home import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.fixture
def site(demo_site):
    return demo_site.url


def test_display_receives_a_pushed_price_within_a_second(site, page):
    from trading.live import broadcast

    page.goto(f"{site}/display/")
    page.wait_for_selector("#feed[data-state=live]", timeout=10_000)
    page.wait_for_selector("#prices .price", timeout=10_000)
    message = {
        "latest": {
            "PEN0331": {
                "price": "123.45",
                "at": "2026-07-08T01:00:00+00:00",
                "kind": "dispatch",
                "source": "test",
            }
        },
        "status": {"source": "test"},
    }
    # Playwright's sync API owns this thread's event loop; broadcast from another thread.
    sender = threading.Thread(target=broadcast.to_display, args=("prices", message))
    started = time.monotonic()
    sender.start()
    # Locators, not wait_for_function: the page's CSP forbids the eval that the latter uses.
    page.locator("[data-node=PEN0331] .value", has_text="123.45").wait_for(timeout=2000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the pushed price took {elapsed:.3f} s to show"
    assert "source: test" in page.inner_text("#source")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "display.png"))


def test_resident_dashboard_shows_live_price_and_power(demo_site, site, page):
    # Aroha's meter reported the last half hour that is over: 1.234 kWh in, 0.5 kWh out.
    demo_site.manage(
        "shell",
        "-c",
        "from django.utils import timezone; from coop import nz; "
        "from coop.models import ICP; from metering.models import Reading; "
        "day, n = nz.trading_period_of(timezone.now()); "
        "start = nz.trading_period_start(day, n) - nz.TRADING_PERIOD; "
        "Reading.objects.update_or_create(icp=ICP.objects.filter(member__user__username='aroha')"
        ".first(), interval_start=start, defaults=dict(import_kwh='1.234', export_kwh='0.5', "
        "quality='actual', source='test'))",
    )
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=username]", "aroha")
    page.fill("input[name=password]", "hapori-demo")
    page.click("button[type=submit]")
    page.goto(f"{site}/live/")
    page.locator("#live-feed", has_text="live").wait_for(timeout=10_000)
    page.locator("#live-power", has_text="kW").wait_for(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    assert page.inner_text("#live-power") == "2.47 kW in · 1.00 kW out"
    page.locator("#live-price", has_text="/MWh").wait_for(timeout=10_000)
    assert re.fullmatch(r"\$\d+\.\d\d/MWh \(\d+\.\d\d c/kWh\)", page.inner_text("#live-price"))

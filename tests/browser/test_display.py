"""The wall display in Debian Chromium against a real daphne: it renders, and a price pushed
through the Redis channel layer shows on screen within a second."""

import datetime as dt
import os
import re
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coop.tests.test_browser_home import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NZ = ZoneInfo("Pacific/Auckland")
PANELS = [
    "#panel-now",
    "#panel-history",
    "#panel-market",
    "#panel-power",
    "#panel-network",
    "#panel-trades",
]

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
    # $123.45/MWh, shown as the wall shows every price: c/kWh to one decimal.
    page.locator("[data-node=PEN0331] .value", has_text="12.3").wait_for(timeout=2000)
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


def _screen(page, width, height, timezone_id=None):
    """A fresh page of the same browser at a screen's size (and a kiosk's time zone)."""
    options = {"viewport": {"width": width, "height": height}}
    if timezone_id:
        options["timezone_id"] = timezone_id
    return page.context.browser.new_context(**options).new_page()


def _open_display(screen, site):
    screen.goto(f"{site}/display/")
    screen.wait_for_selector("#feed[data-state=live]", timeout=10_000)
    screen.wait_for_selector("#feeders .feeder", timeout=10_000)  # the snapshot has drawn
    screen.wait_for_selector("#network .main-svg", timeout=10_000)
    screen.wait_for_selector("#history .main-svg", timeout=10_000)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 720)])
def test_display_fits_the_screen_without_scrolling(site, page, width, height):
    screen = _screen(page, width, height)
    _open_display(screen, site)
    screen.wait_for_timeout(300)  # Plotly's responsive resize settles
    ARTIFACTS.mkdir(exist_ok=True)
    screen.screenshot(path=str(ARTIFACTS / f"display-{width}x{height}.png"))
    sizes = screen.evaluate(
        "({scrollHeight: document.documentElement.scrollHeight, innerHeight: innerHeight,"
        " scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth})"
    )
    assert sizes["scrollHeight"] <= sizes["innerHeight"], sizes
    assert sizes["scrollWidth"] <= sizes["innerWidth"], sizes
    for selector in [*PANELS, "#network-now-title", "#feeders", "#network", "#history"]:
        box = screen.locator(selector).bounding_box()
        assert box is not None, f"{selector} is not shown"
        assert box["width"] > 0, (selector, box)
        assert box["height"] > 0, (selector, box)
        assert box["x"] >= 0, (selector, box)
        assert box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= width + 0.5, (selector, box)
        assert box["y"] + box["height"] <= height + 0.5, (selector, box)
    assert screen.locator("#network-now-title").is_visible()
    # The network chart keeps its line per feeder, inside its panel.
    feeders = screen.locator("#feeders .feeder").count()
    lines = screen.evaluate("document.getElementById('network').data.length")
    network = screen.evaluate("document.getElementById('network').data.map((t) => t.name)")
    assert lines == len(network)
    assert feeders >= 1
    chart = screen.locator("#network .main-svg").first.bounding_box()
    panel = screen.locator("#panel-network").bounding_box()
    assert chart["y"] + chart["height"] <= panel["y"] + panel["height"] + 0.5
    screen.context.close()


def _nz_clock(text: str, now: dt.datetime) -> dt.datetime:
    """'9:30 pm' as the NZ instant nearest `now` that shows it."""
    match = re.fullmatch(r"(\d{1,2}):(\d\d) ([ap]m)", text.strip())
    assert match, text
    hour = int(match[1]) % 12 + (12 if match[3] == "pm" else 0)
    candidates = [
        (now + dt.timedelta(days=d)).replace(
            hour=hour, minute=int(match[2]), second=0, microsecond=0
        )
        for d in (-1, 0, 1)
    ]
    return min(candidates, key=lambda c: abs(c - now))


def _nz_tick(text: str, now: dt.datetime) -> dt.datetime:
    """A '%H:%M' chart tick as the latest NZ instant at or before `now` (plus a period)."""
    match = re.search(r"(\d{1,2}):(\d\d)", text)
    assert match, text
    tick = now.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
    return tick if tick <= now + dt.timedelta(minutes=30) else tick - dt.timedelta(days=1)


def test_display_shows_nz_time_on_a_utc_kiosk(site, page):
    screen = _screen(page, 1920, 1080, timezone_id="UTC")
    assert screen.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") in ("UTC", "Etc/UTC")
    _open_display(screen, site)
    ARTIFACTS.mkdir(exist_ok=True)
    screen.screenshot(path=str(ARTIFACTS / "display-utc-kiosk.png"))
    # The clock: "Tue 1 Dec, 9:30 pm", NZ time to the minute.
    text = screen.inner_text("#clock")
    now = dt.datetime.now(NZ)
    day, clock = text.rsplit(", ", 1)
    shown = _nz_clock(clock, now)
    assert abs(shown - now.replace(second=0, microsecond=0)) <= dt.timedelta(minutes=1), text
    assert day == f"{now:%a} {now.day} {now:%b}" or abs(now - shown) <= dt.timedelta(minutes=1)
    # The 24 h chart: NZ clock times without an offset, its last point the current half hour
    # and its last tick in the last few hours of NZ time (UTC would be 12-13 hours behind).
    last_x = screen.evaluate("document.getElementById('history').data[0].x.at(-1)")
    last = dt.datetime.strptime(last_x, "%Y-%m-%d %H:%M").replace(tzinfo=NZ)
    assert dt.timedelta(0) <= now - last <= dt.timedelta(hours=1), last_x
    ticks = [t for t in screen.locator("#history .xtick text").all_text_contents() if t.strip()]
    assert ticks, "the 24 h chart has no x ticks"
    tick = _nz_tick(ticks[-1], now)
    assert dt.timedelta(0) <= now - tick <= dt.timedelta(hours=7), (ticks, now)
    assert "NZ time" in (screen.locator("#history .xtitle").text_content() or "")
    screen.context.close()


def test_display_says_plainly_that_prices_are_synthetic(site, page):
    # The demo has no internet: its prices are the synthetic feed's.
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{site}/display/")
    warning = page.locator("#price-warning", has_text="Synthetic prices — no live feed")
    warning.wait_for(state="visible", timeout=10_000)
    box = warning.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= 1080
    assert page.inner_text("#source") == "source: synthetic"
    # One style: every price in c/kWh to one decimal.
    page.wait_for_selector("#feeders .feeder", timeout=10_000)
    for text in page.locator(".feeder-figures").all_inner_texts():
        assert re.search(r"(\d+\.\d c/kWh|no price)$", text), text
    value = page.inner_text("[data-node=PEN0331] .value")
    assert re.fullmatch(r"-?\d+\.\d\s*c/kWh", value), value


def test_display_shows_community_power_once_a_reading_is_in(demo_site, site, page):
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
    page.goto(f"{site}/display/")
    page.locator("#power-figures").wait_for(state="visible", timeout=10_000)
    assert not page.locator("#power-waiting").is_visible()
    for key in ("generation", "consumption", "import", "export"):
        assert re.fullmatch(r"\d+\.\d", page.inner_text(f"#power-{key}")), key
    assert re.search(
        r"^\w{3} \d{1,2} \w{3}, \d{1,2}:\d\d( [ap]m)?-\d{1,2}:\d\d [ap]m",
        page.inner_text("#power-at"),
    )


LIVE_SOURCE = re.compile(
    r"at \d{1,2}:\d\d [ap]m \w{3} \d{1,2} \w{3} \(NZ time\) · source: synthetic"
    r" \(Synthetic prices — no live feed\)"
)


def test_live_page_shows_the_latest_price_with_its_time_and_source_at_once(site, page):
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=username]", "aroha")
    page.fill("input[name=password]", "hapori-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/")
    # From the database on page load, before any websocket message.
    html = page.request.get(f"{site}/live/").text()
    price = re.search(r'id="live-price">([^<]*)<', html)[1]
    assert re.fullmatch(r"\$\d+\.\d\d/MWh \(\d+\.\d\d c/kWh\)", price), price
    source = re.search(r'id="live-source">([^<]*)<', html)[1]
    assert LIVE_SOURCE.fullmatch(source), source
    # And after the socket's first message it still says when and where from.
    page.goto(f"{site}/live/")
    page.locator("#live-feed", has_text="live").wait_for(timeout=10_000)
    page.wait_for_timeout(300)
    assert LIVE_SOURCE.fullmatch(page.inner_text("#live-source")), page.inner_text("#live-source")
    assert "source: none" not in page.inner_text("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live.png"))


def test_favicon_is_served(site, page):
    response = page.request.get(f"{site}/favicon.ico")
    assert response.ok
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text()

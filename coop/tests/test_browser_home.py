"""A resident logs in through a real browser (Debian Chromium driven by Playwright) and sees
their own ICPs and assets, and not a neighbour's."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.fixture
def page():
    # Playwright's sync API runs an event loop; Django must allow ORM calls from this thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context.new_page()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_resident_logs_in_and_sees_their_icps(live_server, page, resident, other_resident):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "resident")
    page.fill("input[name=password]", "pw-resident")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    body = page.inner_text("main")
    assert resident.icps.get().identifier in body
    assert other_resident.icps.get().identifier not in body
    assert "Kia ora, Resident" in body
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "resident-home.png"), full_page=True)
    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")

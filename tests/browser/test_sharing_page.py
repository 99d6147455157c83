"""Sharing in a real browser (Debian Chromium, Playwright, headless): a partner issues a code,
a seller enters it with a price, both see the arrangement, the partner declines it; a gift
pledge is set. Plain forms under the site's policy: no console errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import give_flat_tariff
from trading.models import GiftPledge, Partnership

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
    pytest.mark.django_db(transaction=True),
]


def log_in(page, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/accounts/login/?next=/market/sharing/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/market/sharing/")


def test_a_partner_code_shared_and_declined_and_a_gift_set(
    live_server, page, resident, other_resident
):
    give_flat_tariff(resident, other_resident)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # The partner (the other resident) issues a code.
    log_in(page, live_server.url, "other")
    page.click("text=Issue a partner code")
    code = page.inner_text("code.partner-code")
    assert len(code) == 8
    # The seller enters it with a price.
    log_in(page, live_server.url, "resident")
    page.fill("input[name=code]", code.lower())
    page.fill("input[name=price_c]", "6")
    page.click("text=Add partner")
    page.wait_for_selector("text=Other")
    assert Partnership.objects.get(seller=resident).partner == other_resident
    page.fill("input[name=share_pct]", "10")
    page.click("button:has-text('Give')")
    page.wait_for_selector("text=Stop giving")
    assert GiftPledge.objects.get(member=resident).share_pct == 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sharing.png"), full_page=True)
    # The partner sees who shares with them, and declines.
    log_in(page, live_server.url, "other")
    assert "Resident" in page.inner_text("main")
    page.click("button:has-text('Decline')")
    page.wait_for_load_state()
    assert Partnership.objects.get(seller=resident).status == "declined"
    assert not errors, errors

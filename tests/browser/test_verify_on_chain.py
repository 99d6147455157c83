"""The Verify button in a real browser (Debian Chromium, Playwright, headless): a resident opens
their trades, presses Verify on a committed one, and the page shows "verified on chain" from an
eth_call that went from the browser to the chain's RPC port, not to the web server; it names
the node and the contract it asked and shows the leaf decoded. A period tampered with in the
co-op's database is refused by the contract, and a node that does not answer is said to."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from blockchain.chain.devchain import DevChain
from blockchain.models import ChainDeployment, MemberChainId
from blockchain.tasks import commit_period
from blockchain.tests.test_app_support import settled_period
from config.embedded_redis import free_port
from coop.tests.test_browser_home import CHROMIUM
from trading.models import Trade

pytestmark = [
    pytest.mark.browser,
    pytest.mark.chain,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


@pytest.fixture(scope="module")
def ganache():
    chain = DevChain("ganache").start()
    yield chain
    chain.stop()


@pytest.fixture
def trades_page(live_server, page, settings, ganache, resident, other_resident):
    """The resident's trades page, signed in, with two committed periods (TP30 and TP31)."""
    settings.CHAIN_RPC_URL = settings.CHAIN_PUBLIC_RPC_URL = ganache.url
    periods = [settled_period(n, resident, other_resident, trades=3) for n in (30, 31)]
    for period in periods:
        commit_period.apply(args=[period.pk])
    page.add_init_script(WATCH)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "resident")
    page.fill("input[name=password]", "pw-resident")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page, periods


def _row(page, period, sequence: int):
    trade = period.trades.get(sequence=sequence)
    kwh = f"{trade.energy_kwh:.3f}"
    return page.locator("tr", has_text=str(period)).filter(has_text=kwh).first


def _press_verify(row, outcome: str) -> str:
    row.locator("button.verify-trade").click()
    result = row.locator(".verify-result.ok, .verify-result.warn")
    result.wait_for(timeout=20_000)
    text = result.inner_text()
    assert outcome in text, text
    return text


def test_verify_asks_the_chain_from_the_browser_not_the_server(
    trades_page, live_server, ganache, resident
):
    page, (period, _) = trades_page
    sent: list[tuple[str, str, str]] = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data or "")))
    page.goto(f"{live_server.url}/market/trades/")
    row = _row(page, period, 2)

    text = _press_verify(row, "verified on chain")

    chain_port, site_port = urlsplit(ganache.url).port, urlsplit(live_server.url).port
    calls = [json.loads(body) for method, url, body in sent if method == "POST" and body]
    to_chain = [
        json.loads(body)
        for method, url, body in sent
        if method == "POST" and urlsplit(url).port == chain_port
    ]
    assert "eth_call" in {call["method"] for call in to_chain}
    assert len(calls) == len(to_chain)  # every JSON-RPC call went to the chain's port
    to_site = [url for _, url, _ in sent if urlsplit(url).port == site_port]
    assert not [body for _, url, body in sent if urlsplit(url).port == site_port and body]
    trade = period.trades.get(sequence=2)
    assert f"{live_server.url}/chain/api/trades/{trade.pk}/proof/" in to_site

    deployment = ChainDeployment.objects.get(active=True)
    assert deployment.contract_address in text
    assert row.locator(".verify-node").inner_text() == f"{ganache.url} (chain id 1337)"
    assert row.locator(".verify-contract").inner_text() == deployment.contract_address
    facts = row.locator(".verify-detail").inner_text()
    assert f"{period} (chain period {period.period_id})" in facts
    assert f"{trade.energy_kwh:.3f} kWh" in facts
    assert "18.5000 c/kWh" in facts
    assert f"{trade.buyer_pays_nzd:.6f} NZD" in facts
    you = MemberChainId.objects.get(member=resident).member_hash
    assert you[:10] in facts
    assert "(you)" in facts
    assert page.evaluate("window.__csp") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "verify-on-chain.png"), full_page=True)


def test_a_tampered_period_is_refused_and_a_silent_node_is_named(
    trades_page, live_server, settings, ganache
):
    page, (verified, tampered) = trades_page
    # The co-op's records changed after the commit: the proof it serves no longer matches.
    Trade.objects.filter(period=tampered, sequence=1).update(energy_kwh=Decimal("0.500"))
    page.goto(f"{live_server.url}/market/trades/")
    text = _press_verify(_row(page, tampered, 3), "Not verified: the contract rejects")
    assert "Please tell the co-op" in text

    # The node the co-op publishes stops answering: the page says which one, and checks nothing.
    settings.CHAIN_PUBLIC_RPC_URL = silent = f"http://127.0.0.1:{free_port()}"
    page.goto(f"{live_server.url}/market/trades/")
    text = _press_verify(_row(page, verified, 1), f"the chain node at {silent} did not answer")
    assert "verified on chain" not in text
    assert page.evaluate("window.__csp") == []

"""The Content-Security-Policy holds in a real browser: every page a resident, the admin and
the wall display use loads with no violation, and the charts still draw (issue 10, item 14)."""

import os

import pytest

from coop.tests.test_browser_home import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


def _login(page, site, username, password):
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_the_policy_is_sent_and_allows_no_inline_script(demo_site):
    import requests

    policy = requests.get(f"{demo_site.url}/accounts/login/", timeout=10).headers[
        "Content-Security-Policy"
    ]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


@pytest.mark.parametrize(
    ("path", "chart"),
    [
        ("/", None),
        ("/market/", "#depth"),
        ("/energy/", ".js-plotly-plot"),
        ("/statements/", None),
        ("/live/", None),
        ("/market/standing/", None),
        ("/market/sharing/", None),
        ("/api/docs/", ".swagger-ui"),
    ],
)
def test_resident_pages_load_without_violations(demo_site, page, path, chart):
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    _login(page, demo_site, "aroha", "hapori-demo")
    page.goto(f"{demo_site.url}{path}")
    page.wait_for_load_state("networkidle")
    if chart:
        page.wait_for_selector(chart, timeout=10_000)
    assert _violations(page) == []
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_the_wall_display_and_admin_load_without_violations(demo_site, page):
    page.add_init_script(WATCH)
    page.goto(f"{demo_site.url}/display/")
    page.wait_for_selector("#feed[data-state=live]", timeout=10_000)
    page.wait_for_selector("#history .js-plotly-plot, .js-plotly-plot", timeout=10_000)
    assert _violations(page) == []
    _login(page, demo_site, "admin", "hapori-admin")
    for path in ("/admin/", "/admin/coop/icp/", "/admin/trading/tradingperiod/"):
        page.goto(f"{demo_site.url}{path}")
        page.wait_for_load_state("networkidle")
        assert _violations(page) == [], path

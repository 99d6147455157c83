"""The lab in a real browser (Debian Chromium, Playwright, headless): a run's progress moves on
the page as the workers report it, the page shows the report when the run is done, and the
report itself (sandboxed, its own inline Plotly) draws its charts with no policy errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab import pipeline
from lab.models import Run, Scenario
from tests.test_lab import TINY

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
    pytest.mark.django_db(transaction=True),
]


def log_in(page, url: str) -> None:
    page.goto(f"{url}/accounts/login/?next=/lab/")
    page.fill("input[name=username]", "coopadmin")
    page.fill("input[name=password]", "pw-coopadmin")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/lab/")


def test_a_runs_progress_moves_live_and_its_report_draws(
    live_server, page, coop_admin, settings, tmp_path
):
    settings.LAB_RUNS_DIR = tmp_path / "lab"
    settings.LAB_CHUNK_DAYS = 1
    scenario = Scenario.objects.create(name="Tiny street", text=TINY)
    # Saved but not sent to a worker: the test plays the worker, step by step.
    run = Run.objects.create(scenario=scenario, name=scenario.name, text=scenario.text)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/lab/runs/{run.pk}/")
    assert "Queued" in page.inner_text("#run-state")
    Run.objects.filter(pk=run.pk).update(state="running", stage="energy manager", done=3, total=4)
    # The page's own policy allows no eval, so wait on the text rather than a JS predicate.
    page.locator("#run-percent", has_text="75%").wait_for(timeout=10_000)
    assert "energy manager" in page.inner_text("#run-stage")
    Run.objects.filter(pk=run.pk).update(state="queued", done=0, total=0)
    pipeline.run_here(run.pk)
    page.wait_for_selector("text=Open the report", timeout=15_000)
    assert "Uniform price" in page.inner_text("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab-run.png"), full_page=True)

    page.click("text=Open the report")
    page.wait_for_selector(".plot-container", timeout=20_000)
    charts = page.locator(".js-plotly-plot").count()
    assert charts >= 5
    assert "Headline" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "lab-report.png"))
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors

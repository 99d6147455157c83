"""A demo site served by a real daphne, shared by the tests that drive it from outside."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.daphne_process import start_daphne, stop

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DemoSite:
    url: str
    process: subprocess.Popen | None
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        """Run a management command against the site's own database; its output."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        ).stdout


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """The demo co-op on its own database file, served by daphne with the test settings."""
    from django.conf import settings

    db = tmp_path_factory.mktemp("site") / "site.sqlite3"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{db}",
        "REDIS_URL": settings.REDIS_URL.rsplit("/", 1)[0] + "/0",
    }
    site = DemoSite(url="", process=None, env=env)
    site.manage("migrate", "-v0")
    site.manage("seed_demo", "-v0")
    site.process, port = start_daphne(env)
    site.url = f"http://127.0.0.1:{port}"
    yield site
    stop(site.process)

"""A demo site served by the real web server, shared by the tests that drive it from outside."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from config.web_server import server_processes, start_web, stop

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DemoSite:
    url: str
    process: subprocess.Popen | None
    env: dict[str, str]
    pids: frozenset[int] = frozenset()  # the web process and its children, as started

    def processes(self) -> frozenset[int]:
        """The web processes now: the same as `pids` while none has died and been replaced."""
        assert self.process is not None
        return frozenset(server_processes(self.process))

    def login_cookie(self, username: str = "aroha") -> str:
        """The Cookie header of a demo resident's browser after logging in."""
        browser = requests.Session()
        login = f"{self.url}/accounts/login/"
        browser.get(login, timeout=10)
        browser.post(
            login,
            data={"username": username, "password": "hapori-demo"},
            headers={"X-CSRFToken": browser.cookies.get("csrftoken") or "", "Referer": login},
            timeout=10,
        )
        return "; ".join(f"{k}={v}" for k, v in browser.cookies.items())

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
    """The demo co-op on its own database file, served by two web processes with the test
    settings (as in production, a socket may land on either)."""
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
    site.process, port = start_web(env, workers=2)
    site.url = f"http://127.0.0.1:{port}"
    site.pids = site.processes()
    yield site
    stop(site.process)

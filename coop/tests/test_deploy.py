"""`manage.py check --deploy` with production settings and production variables: clean."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", **extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean():
    result = run_check(
        {
            "DJANGO_SECRET_KEY": "x7$Kq2!vR9#mL4@pW8^zN3&bT6*hY1(jD5)fG0-sA2+cE7=uI9",
            "DJANGO_ALLOWED_HOSTS": "coop.example.nz",
            "DATABASE_URL": "postgres://hapori:secret@db.example.nz:5432/hapori",
            "REDIS_URL": "redis://redis.example.nz:6379/0",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secrets():
    result = run_check({"DJANGO_ALLOWED_HOSTS": "coop.example.nz"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr

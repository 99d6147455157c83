"""The operator key in production: never a key anyone can look up when a chain is configured.

Production settings are imported (and `manage.py check --deploy` run) in a subprocess, with a
clean environment, exactly as a deploy starts them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

from blockchain.chain import devkeys

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION: dict[str, str | None] = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x7$Kq2!vR9#mL4@pW8^zN3&bT6*hY1(jD5)fG0-sA2+cE7=uI9",
    "DJANGO_ALLOWED_HOSTS": "x",
    "DATABASE_URL": "postgres://u@127.0.0.1/x",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CHAIN_RPC_URL": "http://127.0.0.1:8545",
}
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHECK_ID = "blockchain.E001"


def real_key() -> str:
    return "0x" + secrets.token_hex(32)


def run(args: list[str], **variables: str | None) -> subprocess.CompletedProcess:
    """Run python with only the given variables on top of a clean environment (None: unset)."""
    env: dict[str, str | None] = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CHAIN_", "CELERY_")) and k not in ("DATABASE_URL",)
    }
    env.update(PRODUCTION)
    env.update(variables)
    given = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=given, capture_output=True, text=True, timeout=120
    )


def import_production(**variables: str | None) -> subprocess.CompletedProcess:
    return run(["-c", "import config.settings.production"], **variables)


def check_deploy(**variables: str | None) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **variables)


def test_production_refuses_a_configured_chain_without_a_key():
    result = import_production()
    assert result.returncode != 0, "production started with the public dev-chain key"
    assert "ImproperlyConfigured" in result.stderr
    assert "CHAIN_PRIVATE_KEY" in result.stderr
    assert "not set" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        DEV_KEY,
        DEV_KEY[2:].upper(),  # however it is written
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",  # junk account 5
        "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",  # Ganache's
        "",
    ],
)
def test_production_refuses_a_well_known_or_empty_key(key):
    result = import_production(CHAIN_PRIVATE_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "CHAIN_PRIVATE_KEY" in result.stderr
    if key:
        assert "well-known" in result.stderr


def test_production_starts_with_the_operators_own_key():
    result = import_production(CHAIN_PRIVATE_KEY=real_key())
    assert result.returncode == 0, result.stderr


def test_production_without_a_chain_needs_no_key():
    # No chain configured: nothing is signed, settled periods wait for one.
    result = import_production(CHAIN_RPC_URL=None)
    assert result.returncode == 0, result.stderr


def test_check_deploy_with_the_operators_own_key_reports_nothing():
    result = check_deploy(CHAIN_PRIVATE_KEY=real_key())
    assert CHECK_ID not in result.stdout + result.stderr
    # And the whole deploy check is clean with a chain configured.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_the_dev_key_under_other_settings():
    # The settings module does not matter: dev settings with a chain and the default key.
    result = check_deploy(DJANGO_SETTINGS_MODULE="config.settings.dev")
    assert result.returncode != 0
    assert CHECK_ID in result.stderr + result.stdout


def deploy_check_ids(*, deploy: bool = True) -> set[str | None]:
    return {m.id for m in checks.run_checks(include_deployment_checks=deploy)}


def test_the_deploy_check_finds_a_well_known_key_with_a_chain(settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:8545"
    settings.CHAIN_PRIVATE_KEY = (
        "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
    )
    assert CHECK_ID in deploy_check_ids()
    settings.CHAIN_PRIVATE_KEY = ""
    assert CHECK_ID in deploy_check_ids()
    # Only with --deploy: `runserver` and the dev chain are not bothered.
    settings.CHAIN_PRIVATE_KEY = DEV_KEY
    assert CHECK_ID not in deploy_check_ids(deploy=False)

    settings.CHAIN_PRIVATE_KEY = real_key()
    assert CHECK_ID not in deploy_check_ids()
    settings.CHAIN_PRIVATE_KEY, settings.CHAIN_RPC_URL = DEV_KEY, ""
    assert CHECK_ID not in deploy_check_ids()


def test_the_well_known_keys_are_those_of_the_public_mnemonics():
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    derived = {
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
        for mnemonic in devkeys.DEV_MNEMONICS
        for i in range(devkeys.ACCOUNTS_PER_MNEMONIC)
    }
    assert {devkeys.normalise_key(k) for k in derived} == devkeys.WELL_KNOWN_KEYS
    from django.conf import settings

    assert devkeys.is_well_known_key(settings.DEV_CHAIN_KEY)

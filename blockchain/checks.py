"""System checks of the chain settings, reported by `manage.py check --deploy`.

Production settings already refuse to start with a configured chain and a well-known key; this
check says the same whatever the settings module, so a deploy built on other settings is caught
too. Deploy-only: `make run` signs with the dev key on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from blockchain.chain.devkeys import is_well_known_key

CHAIN_KEY_ID = "blockchain.E001"


def chain_key_check(
    app_configs: Sequence[AppConfig] | None = None,  # noqa: ARG001  (signature fixed by Django)
    **kwargs: Any,
) -> list[CheckMessage]:
    """A configured chain (CHAIN_RPC_URL) needs the operator's own key, not a public one."""
    if not getattr(settings, "CHAIN_RPC_URL", ""):
        return []
    key = getattr(settings, "CHAIN_PRIVATE_KEY", "") or ""
    if key.strip() and not is_well_known_key(key):
        return []
    problem = "is empty" if not key.strip() else "is a well-known dev-chain key"
    return [
        Error(
            f"CHAIN_PRIVATE_KEY {problem} while CHAIN_RPC_URL points at a chain "
            f"({_host_of(settings.CHAIN_RPC_URL)}): anyone could sign as the co-op operator.",
            hint=(
                "Set CHAIN_PRIVATE_KEY to the operator account's own key (0x and 64 hex "
                "digits), or leave CHAIN_RPC_URL empty to run without a chain."
            ),
            id=CHAIN_KEY_ID,
        )
    ]


def _host_of(url: str) -> str:
    """The node's host only: a provider's URL may carry an API key in its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" if parts.hostname else "a node"

"""The co-op's configured node (settings.CHAIN_RPC_URL): connect to it, and say so plainly when
it does not answer.

Reads (blockchain.selectors) and writes (blockchain.services) both talk to the node through
here, so a node that is down is one error, ChainUnavailable, whichever library noticed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests
from django.conf import settings
from web3.exceptions import ProviderConnectionError, TimeExhausted

from blockchain.chain.client import LedgerClient

# A node that does not answer: refused, reset, timed out. requests' errors are OSErrors.
CONNECTION_ERRORS = (OSError, requests.RequestException, ProviderConnectionError, TimeExhausted)


class ChainUnavailable(Exception):
    """No chain node answers (or none is configured): commits wait and are retried."""


def chain_url() -> str:
    return settings.CHAIN_RPC_URL


@contextlib.contextmanager
def chain_calls(*, url: str = "") -> Iterator[None]:
    """Turn 'the node does not answer' into ChainUnavailable, whatever library raised it."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise ChainUnavailable(
            f"The chain node at {url or chain_url()} does not answer: {exc}"
        ) from exc


def chain_connect(*, url: str | None = None) -> LedgerClient:
    url = url if url is not None else chain_url()
    if not url:
        raise ChainUnavailable(
            "No chain is configured (CHAIN_RPC_URL is empty); settled periods wait until one is."
        )
    with chain_calls(url=url):
        client = LedgerClient(url, settings.CHAIN_PRIVATE_KEY)
        client.genesis_hash()
    return client

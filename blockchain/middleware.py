"""The Content-Security-Policy, opened to the chain node that members verify their trades on.

The Verify button calls the contract from the browser on settings.CHAIN_PUBLIC_RPC_URL, so
connect-src must allow that node's origin, and only it. The origin is added to each response's
policy from the setting, not written into CONTENT_SECURITY_POLICY once at start-up, so the
policy always names the node the proof API hands out, whatever changes the setting.

A JSON answer (the REST API, the proofs) is data, not a document: nothing in it runs or loads.
It gets the policy OWASP's REST security cheat sheet gives APIs, one fixed string, instead of
the site's policy built afresh for each response (django-csp builds it even for an exempt one):
profiled, that building was 7% of an order placement's Python.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from csp.constants import HEADER
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


@lru_cache(maxsize=8)
def rpc_origin(url: str) -> str:
    """scheme://host[:port] of an http(s) node URL ("" for none): a provider's URL may carry an
    API key in its path, which a policy must not repeat to every page."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"CHAIN_PUBLIC_RPC_URL {url!r} is not an http(s) URL: browsers call the node with "
            "fetch, so give its JSON-RPC URL, like https://rpc.example.nz or "
            "http://127.0.0.1:8545 (or leave it empty to publish no node)."
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class ChainNodeCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the public chain node's origin in connect-src."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            rpc_origin(settings.CHAIN_PUBLIC_RPC_URL)
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        super().__init__(*args, **kwargs)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.get("Content-Type", "").startswith("application/json"):
            if HEADER not in response:
                response[HEADER] = JSON_POLICY
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = rpc_origin(settings.CHAIN_PUBLIC_RPC_URL)
        if origin:
            update = dict(parts.update or {})
            update["connect-src"] = [*update.get("connect-src", ()), origin]
            parts.update = update
        return parts

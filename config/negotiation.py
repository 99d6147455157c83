"""The API's content negotiation: DRF's, without the choosing where there is nothing to choose.

Every API view but the schema's renders JSON alone (REST_FRAMEWORK's DEFAULT_RENDERER_CLASSES).
DRF would still parse the Accept header against that one renderer on every call, 3% of an order
placement's CPU under bench_orders, only to answer 406 to a client that asked for something
else; a one-renderer view answers JSON instead. Views with several renderers (the OpenAPI
schema's YAML and JSON) are negotiated as DRF does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class OneRendererNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        choices = list(renderers)  # DRF hands over a list
        if len(choices) == 1 and format_suffix is None:
            return choices[0], choices[0].media_type
        return super().select_renderer(request, choices, format_suffix)

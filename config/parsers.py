"""The API's JSON parser: a bounded body and nesting depth, refused with a 400 that says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.payloads import PayloadRefused, json_loads_bounded


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        # Read one byte past the limit, never the whole of a hostile body.
        body = stream.read(limit + 1) if stream is not None else b""
        try:
            return json_loads_bounded(body, max_bytes=limit, max_depth=settings.API_MAX_JSON_DEPTH)
        except PayloadRefused as exc:
            raise ParseError(f"JSON parse error - {exc}") from None

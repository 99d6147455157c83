"""The OpenAPI schema as the API really answers: every operation documents its errors.

drf-spectacular documents the success response of each view; the errors below are what DRF and
our views send on top (validation, authentication, permission, lookups, Idempotency-Key), so a
client generated from the schema, and schemathesis, expect them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction, OpenApiParameter
from rest_framework.serializers import Serializer

_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
    "description": "`detail` says what is wrong; a refused field is named with its messages.",
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


class ErrorsAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[OpenApiParameter | Serializer | type[Serializer]]:
        parameters = super().get_override_parameters()
        if self.method in _WRITES:
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    description="Repeat a request safely: the first response to a key is "
                    "replayed for the same request, a different request with it is a 409.",
                    pattern=r"^[A-Za-z0-9_\-:.]{1,100}$",
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors = {
            "400": "The request is malformed or refused; nothing was changed.",
            "401": "Not signed in: send `Authorization: Token <key>` or a session cookie.",
            "403": "Signed in, but not allowed (not a member, or not your ICP).",
        }
        if "{" in self.path:
            errors["404"] = "No such object among yours."
        if self.method in _WRITES:
            errors["409"] = "This Idempotency-Key was used for a different request."
            errors["413"] = "The request body is too large; nothing was read."
            errors["415"] = "Send the body as application/json."
        for code, description in errors.items():
            responses.setdefault(code, _error(description))
        return responses

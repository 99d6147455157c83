"""`Idempotency-Key` on state-changing API calls.

The first response to a key is stored with a hash of the request (method, path, body); the same
key again with the same request returns that response without doing anything; the same key
with a different request is a 409. Keys are per user, 1-100 characters of [A-Za-z0-9_-:.].
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.db import connection, models, transaction
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from trading.models import IdempotencyKey
from trading.services import one_row

KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,100}$")
_View = TypeVar("_View")  # the view (a ViewSet) whose method is wrapped
_Args = ParamSpec("_Args")  # what the method takes after the request, e.g. pk


def _request_hash(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str) if request.data else ""
    # The full path, query string included: the same key on another query is another request.
    target = request.get_full_path()
    return hashlib.sha256(f"{request.method} {target}\n{body}".encode()).hexdigest()


_STORED = one_row.Columns(
    *one_row.fields(IdempotencyKey, "request_hash", "status_code", "response")
)


@functools.cache
def _previous_sql(_vendor: str) -> str:  # cached per backend: quoting differs
    """What is stored under a user's key, if anything (the one_key_per_user index finds it)."""
    qn = connection.ops.quote_name
    return (
        f"SELECT {', '.join(one_row.column(f, 'k') for f in _STORED.fields)} "  # noqa: S608 (names only)
        f"FROM {one_row.quoted(IdempotencyKey, 'k')} "
        f"WHERE k.{qn('user_id')} = %s AND k.{qn('key')} = %s"
    )


def _stored_body(data: Any) -> Any:
    """The response body as JSON; a body-less response (204) as JSON null, not SQL NULL."""
    if data is None:
        return models.Value(None, models.JSONField())
    return json.loads(json.dumps(data, default=str))


def idempotent(
    view_method: Callable[Concatenate[_View, Request, _Args], Response],
) -> Callable[Concatenate[_View, Request, _Args], Response]:
    @functools.wraps(view_method)
    def wrapper(
        self: _View, request: Request, *args: _Args.args, **kwargs: _Args.kwargs
    ) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not KEY.match(key):
            return Response(
                {"detail": "Idempotency-Key must be 1-100 characters of letters, digits, _ - : ."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        user = request.user
        if isinstance(user, AnonymousUser):  # not reached: the API's IsAuthenticated runs first
            raise NotAuthenticated
        digest = _request_hash(request)
        previous = one_row.fetch_row(_previous_sql(connection.vendor), [user.pk, key], _STORED)
        if previous is not None:
            request_hash, status_code, body = previous
            if request_hash != digest:
                return Response(
                    {"detail": "This Idempotency-Key was used for a different request."},
                    status=status.HTTP_409_CONFLICT,
                )
            return Response(body, status=status_code)
        with transaction.atomic():
            response = view_method(self, request, *args, **kwargs)
            if response.status_code < 500:
                stored = one_row.insert_row(
                    IdempotencyKey,
                    {
                        "user_id": user.pk,
                        "key": key,
                        "request_hash": digest,
                        "status_code": response.status_code,
                        "response": _stored_body(response.data),
                    },
                    conflict=("user", "key"),
                )
                if stored is None:
                    # A concurrent request with the same key won the race (the one_key_per_user
                    # constraint): its effect stands, ours is rolled back.
                    transaction.set_rollback(True)
                    return Response(
                        {"detail": "A request with this key is in progress."},
                        status=status.HTTP_409_CONFLICT,
                    )
        return response

    return wrapper

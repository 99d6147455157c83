"""API token authentication that reads the user's member with the token, in one statement.

Every market API call acts as the signed-in member (coop.selectors.member_of_request); reading
the member with the token saves each call a round trip, and the plain statement (one_row) costs
a tenth of the ORM query DRF's TokenAuthentication builds for the token and user alone.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request

from coop.models import Member
from coop.selectors import member_of_request
from trading.services import one_row

User = get_user_model()
_TOKEN_FIELDS = tuple(Token._meta.concrete_fields)
_USER_FIELDS = tuple(User._meta.concrete_fields)
_MEMBER_FIELDS = tuple(Member._meta.concrete_fields)
_COLUMNS = one_row.Columns(*_TOKEN_FIELDS, *_USER_FIELDS, *_MEMBER_FIELDS)
_MEMBER = User._meta.get_field("member")  # the reverse side of Member.user


@functools.cache
def _token_sql(_vendor: str) -> str:  # cached per backend: quoting differs
    qn = connection.ops.quote_name
    columns = [
        *(one_row.column(f, "t") for f in _TOKEN_FIELDS),
        *(one_row.column(f, "u") for f in _USER_FIELDS),
        *(one_row.column(f, "m") for f in _MEMBER_FIELDS),
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {one_row.quoted(Token, 't')} "  # noqa: S608 (names only)
        f"JOIN {one_row.quoted(User, 'u')} ON u.{qn('id')} = t.{qn('user_id')} "
        f"LEFT JOIN {one_row.quoted(Member, 'm')} ON m.{qn('user_id')} = u.{qn('id')} "
        f"WHERE t.{qn('key')} = %s"
    )


class MemberTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (the same header, answers and messages), with the user's
    member read with the token and cached on the user (user.member: no query)."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Token]:
        values = one_row.fetch_row(_token_sql(connection.vendor), [key], _COLUMNS)
        if values is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        t, u = len(_TOKEN_FIELDS), len(_TOKEN_FIELDS) + len(_USER_FIELDS)
        token = one_row.instance(Token, _TOKEN_FIELDS, values[:t])
        user = one_row.instance(User, _USER_FIELDS, values[t:u])
        member = None
        if values[u] is not None:  # the member's id: a login may be no member's
            member = one_row.instance(Member, _MEMBER_FIELDS, values[u:])
            member.user = user
        # Cached, None included: user.member then asks the database nothing (a None cached
        # raises Member.DoesNotExist, as the query would).
        _MEMBER.set_cached_value(user, member)
        token.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token


# Token first, as the site's REST_FRAMEWORK setting has it: its WWW-Authenticate header makes an
# unauthenticated call a 401.
AUTHENTICATION: list[Any] = [MemberTokenAuthentication, SessionAuthentication]


def acting_member(request: Request) -> Member:
    """The member acting in this request: the one read with the token (no query), else
    coop.selectors.member_of_request (a session's user, or a login that is no member's)."""
    # A user without a member raises RelatedObjectDoesNotExist, an AttributeError: None here.
    member = getattr(request.user, "member", None)
    if isinstance(member, Member):
        return member
    return member_of_request(request)

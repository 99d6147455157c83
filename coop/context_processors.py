from __future__ import annotations

from django.http import HttpRequest

from coop.models import Member
from coop.selectors import member_for_user


def coop(request: HttpRequest) -> dict[str, Member | None]:
    """The signed-in member (if any) for the navigation bar."""
    return {"current_member": member_for_user(request.user)}

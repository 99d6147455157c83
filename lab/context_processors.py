from typing import Any

from django.http import HttpRequest

from lab.access import may_use_lab


def lab(request: HttpRequest) -> dict[str, Any]:
    """Whether to show the Lab link: staff and researchers."""
    user = getattr(request, "user", None)
    return {"lab_user": bool(user is not None and may_use_lab(user))}

"""Who may use the lab: co-op staff, and members of the "researcher" group (a university
partner, the distributor's analyst) who need no other admin rights."""

from __future__ import annotations

from typing import Any

RESEARCHERS = "researcher"


def may_use_lab(user: Any) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return bool(user.is_staff or user.groups.filter(name=RESEARCHERS).exists())

"""A member's own power in the last metered half hour, for their live dashboard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.utils import timezone

from metering.selectors import latest_metered, members_latest_metered
from trading.live import broadcast


def member_power(member_id: int) -> dict:
    """The member's last metered half hour: the co-op's own data, a half hour that is over."""
    return _power(latest_metered(timezone.now(), member_id=member_id))


def _power(latest: tuple[dt.datetime, Decimal, Decimal] | None) -> dict:
    if latest is None:
        return {"import_kw": "—", "export_kw": "—", "at": None}
    at, imp, exp = latest
    kw = lambda kwh: str((kwh * 2).quantize(Decimal("0.01")))  # noqa: E731
    return {"import_kw": kw(imp), "export_kw": kw(exp), "at": at.isoformat()}


def push_member_power(member_ids: Iterable[int]) -> None:
    """Each member's power to their own live pages: those whose data moved lately (the others'
    pages keep what they opened with, which is still their latest)."""
    broadcast.push_many(
        (broadcast.member_group(member_id), "power", _power(latest))
        for member_id, latest in members_latest_metered(timezone.now(), member_ids).items()
    )

"""A member's own power in the last metered half hour, for their live dashboard."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Max, Sum

from metering.models import Reading
from trading.live import broadcast


def member_power(member_id: int) -> dict:
    readings = Reading.objects.filter(icp__member_id=member_id)
    latest = readings.aggregate(at=Max("interval_start"))["at"]
    if latest is None:
        return {"import_kw": "—", "export_kw": "—", "at": None}
    totals = readings.filter(interval_start=latest).aggregate(
        imp=Sum("import_kwh"), exp=Sum("export_kwh")
    )
    kw = lambda kwh: str(((kwh or Decimal(0)) * 2).quantize(Decimal("0.01")))  # noqa: E731
    return {
        "import_kw": kw(totals["imp"]),
        "export_kw": kw(totals["exp"]),
        "at": latest.isoformat(),
    }


def push_member_power(member_ids) -> None:
    for member_id in member_ids:
        broadcast.push(broadcast.member_group(member_id), "power", member_power(member_id))

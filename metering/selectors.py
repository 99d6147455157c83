"""Reads of metered energy, for the market, the pages and the displays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from metering.models import Reading


def period_energy(
    interval_start: dt.datetime, icp_ids: Iterable[int] | None = None
) -> dict[int, tuple[Decimal, Decimal, str]]:
    """{icp_id: (import kWh, export kWh, quality)} for one trading period."""
    readings = Reading.objects.filter(interval_start=interval_start)
    if icp_ids is not None:
        readings = readings.filter(icp_id__in=set(icp_ids))
    return {
        icp_id: (imp, exp, quality)
        for icp_id, imp, exp, quality in readings.values_list(
            "icp_id", "import_kwh", "export_kwh", "quality"
        )
    }


def icps_missing(interval_start: dt.datetime, icp_ids: Iterable[int]) -> set[int]:
    wanted = set(icp_ids)
    have = set(
        Reading.objects.filter(interval_start=interval_start, icp_id__in=wanted).values_list(
            "icp_id", flat=True
        )
    )
    return wanted - have

"""Held ICPs the market cannot settle by themselves: no meter, or no tariff in force.

One member's incomplete ICP never holds up the rest of the co-op: the market does not wait for
a meter that does not exist, and settlement holds such an ICP aside alone (trading.services.
settling). But that member's settlement waits, so the admin is told wherever they look: on
saving the ICP, in the ICP list (column and filter), on the admin home page, and in
`manage.py check --database default`. Always by ICP number, never an internal id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypedDict, TypeGuard

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from coop import nz
from coop.models import ICP, Tariff
from coop.selectors import current_tariff_filter

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

NO_METER = "no meter"
NO_TARIFF = "no tariff in force"


class Gaps(TypedDict):
    """with_gaps' annotations."""

    has_meter: bool
    has_tariff: bool


def nz_today() -> dt.date:
    return nz.trading_period_of(timezone.now())[0]


def _meters_known() -> bool:
    # metering.Meter's one-to-one to the ICP, reached by its related name: coop comes before
    # metering and never imports it.
    try:
        ICP._meta.get_field("meter")
    except FieldDoesNotExist:
        return False
    return True


def with_gaps(
    icps: QuerySet[ICP], day: dt.date | None = None
) -> QuerySet[WithAnnotations[ICP, Gaps]]:
    """`icps` annotated with has_meter and has_tariff (a tariff in force on `day`, NZ today by
    default), one query."""
    day = day or nz_today()
    has_meter = (
        Exists(ICP.objects.filter(pk=OuterRef("pk"), meter__isnull=False))
        if _meters_known()
        else Value(True)
    )
    has_tariff = Exists(Tariff.objects.filter(current_tariff_filter(day), icp=OuterRef("pk")))
    return icps.annotate(has_meter=has_meter, has_tariff=has_tariff)


def gaps_of(icp: ICP, day: dt.date | None = None) -> list[str]:
    """What an ICP lacks, from with_gaps' annotations (or a query when it has none)."""
    known = icp if _has_gaps(icp) else with_gaps(ICP.objects.filter(pk=icp.pk), day).get()
    gaps = []
    if not known.has_meter:
        gaps.append(NO_METER)
    if not known.has_tariff:
        gaps.append(NO_TARIFF)
    return gaps


def _has_gaps(icp: ICP) -> TypeGuard[WithAnnotations[ICP, Gaps]]:
    """Does this ICP come from with_gaps, annotated?"""
    return hasattr(icp, "has_meter")


def incomplete_icps(day: dt.date | None = None) -> list[tuple[ICP, list[str]]]:
    """Every ICP held by a member that has no meter or no tariff in force on `day`."""
    held = with_gaps(ICP.objects.filter(member__isnull=False).select_related("member"), day)
    return [
        (icp, gaps_of(icp))
        for icp in held.filter(Q(has_meter=False) | Q(has_tariff=False)).order_by("identifier")
    ]


def describe(icp: ICP, gaps: list[str], day: dt.date | None = None) -> str:
    what = ", ".join(
        f"{NO_TARIFF} on {day or nz_today():%d %b %Y}" if gap == NO_TARIFF else gap for gap in gaps
    )
    holder = f" (held by {icp.member})" if icp.member_id else ""
    return f"ICP {icp.identifier}{holder}: {what}"


def icps_without_meter(icp_ids: Iterable[int]) -> set[int]:
    if not _meters_known():
        return set()
    return set(
        ICP.objects.filter(pk__any_of=set(icp_ids), meter__isnull=True).values_list("pk", flat=True)
    )

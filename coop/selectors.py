"""Reads of co-op data, always scoped to who is asking."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q, QuerySet

from coop import nz
from coop.models import ICP, CoopSettings, ICPHolding, Member, Tariff


def member_for_user(user) -> Member | None:
    if not user.is_authenticated:
        return None
    return Member.objects.filter(user=user).first()


def current_tariff_filter(day: dt.date) -> Q:
    return Q(effective_from__lte=day) & (Q(effective_to__isnull=True) | Q(effective_to__gte=day))


def icps_of_member(member: Member, *, day: dt.date | None = None) -> QuerySet[ICP]:
    """The member's ICPs with assets and the tariff in force on `day` (today by default)."""
    day = day or dt.date.today()
    return (
        ICP.objects.filter(member=member)
        .prefetch_related(
            "pv_systems",
            "batteries",
            "evs",
            Prefetch(
                "tariffs",
                queryset=Tariff.objects.filter(current_tariff_filter(day)).prefetch_related(
                    "rates"
                ),
                to_attr="current_tariffs",
            ),
        )
        .order_by("identifier")
    )


def icp_of_member(member: Member, identifier: str) -> ICP | None:
    return icps_of_member(member).filter(identifier=identifier).first()


def tariff_for(icp: ICP, day: dt.date) -> Tariff | None:
    return (
        Tariff.objects.filter(icp=icp)
        .filter(current_tariff_filter(day))
        .prefetch_related("rates")
        .first()
    )


def coop_settings() -> CoopSettings:
    return CoopSettings.load()


def holding_windows(member: Member) -> dict[int, list[tuple[dt.datetime, dt.datetime | None]]]:
    """{ICP id: [(UTC start, UTC end or None)]}: when the member held each of their ICPs, past
    or present. An ICP's data belongs to whoever held it at the time, not to its holder now."""
    windows: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = {}
    for icp_id, started, ended in ICPHolding.objects.filter(member=member).values_list(
        "icp_id", "started_on", "ended_on"
    ):
        windows.setdefault(icp_id, []).append(
            (nz.trading_day_start(started), nz.trading_day_start(ended) if ended else None)
        )
    return windows


def held_filter(member: Member, *, field: str = "icp_id", at: str = "interval_start") -> Q:
    """Rows of the member's ICPs inside the times they held them (never matches if none)."""
    q = Q(pk__in=[])
    for icp_id, spans in holding_windows(member).items():
        for start, end in spans:
            span = Q(**{field: icp_id, f"{at}__gte": start})
            if end is not None:
                span &= Q(**{f"{at}__lt": end})
            q |= span
    return q

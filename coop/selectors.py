"""Reads of co-op data, always scoped to who is asking."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q, QuerySet

from coop.models import ICP, CoopSettings, Member, Tariff


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

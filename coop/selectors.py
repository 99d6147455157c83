"""Reads of co-op data, always scoped to who is asking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest

from coop import nz
from coop.models import ICP, ICPHolding, Member, Tariff


def member_for_user(user: User | AnonymousUser) -> Member | None:
    if not user.is_authenticated:
        return None
    return Member.objects.filter(user=user).first()


class NotAMember(PermissionDenied):
    """A signed-in user who is not a member: a 403 on a page and in the API alike."""


def member_of_request(request: HttpRequest) -> Member:
    """The member acting in this request; every resident page and API call starts here."""
    member = member_for_user(request.user)
    if member is None:
        raise NotAMember("Only co-op members can do this: your login is not a member's.")
    return member


def current_tariff_filter(day: dt.date) -> Q:
    return Q(effective_from__lte=day) & (Q(effective_to__isnull=True) | Q(effective_to__gte=day))


def icps_of_member(member: Member, *, day: dt.date | None = None) -> QuerySet[ICP]:
    """The member's ICPs with assets and the tariff in force on `day` (today by default)."""
    day = day or nz.today()
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


@dataclass(frozen=True)
class HeldSpan:
    """An ICP held by one member from `start` until `end` (UTC; None while still held)."""

    icp_id: int
    start: dt.datetime
    end: dt.datetime | None

    def covers(self, when: dt.datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


def held_spans(holdings: QuerySet[ICPHolding]) -> list[HeldSpan]:
    """Holdings as UTC spans: a holding's dates are NZ trading days, its end day exclusive."""
    return [
        HeldSpan(icp_id, nz.trading_day_start(on), nz.trading_day_start(off) if off else None)
        for icp_id, on, off in holdings.values_list("icp_id", "started_on", "ended_on")
    ]


def holding_windows(member: Member) -> dict[int, list[HeldSpan]]:
    """{ICP id: spans}: when the member held each of their ICPs, past or present. An ICP's
    data belongs to whoever held it at the time, not to its holder now."""
    windows: dict[int, list[HeldSpan]] = {}
    for span in held_spans(ICPHolding.objects.filter(member=member)):
        windows.setdefault(span.icp_id, []).append(span)
    return windows


def held_filter(member: Member, *, field: str = "icp_id", at: str = "interval_start") -> Q:
    """Rows of the member's ICPs inside the times they held them (never matches if none)."""
    q = Q(pk__in=[])
    for span in held_spans(ICPHolding.objects.filter(member=member)):
        within = Q(**{field: span.icp_id, f"{at}__gte": span.start})
        if span.end is not None:
            within &= Q(**{f"{at}__lt": span.end})
        q |= within
    return q

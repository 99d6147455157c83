"""Reads of sharing: the period's arrangements for the engine, and what each member gave and
received, without ever naming the other side of a gift."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Sum

from coop.models import Member
from coop.units import cents_to_units, kwh_to_wh
from trading.engine.sharing import PPM, Arrangements, PartnerTerm, Pledge, Recipient
from trading.models import TradingPeriod
from trading.sharing_models import GiftPledge, HardshipRecipient, Partnership


def _month_start(period: TradingPeriod) -> dt.date:
    return period.trading_date.replace(day=1)


def gifts_kwh(*, member_ids: Iterable[int], period: TradingPeriod, side: str) -> dict[int, Decimal]:
    """kWh each member gave (side "seller") or received ("buyer") through the pool this NZ
    month, before `period`."""
    from trading.models import Trade

    rows = (
        Trade.objects.filter(
            kind=Trade.Kind.GIFT,
            period__trading_date__gte=_month_start(period),
            period__start__lt=period.start,
            **{f"{side}_id__in": list(member_ids)},
        )
        .values(f"{side}_id")
        .annotate(kwh=Sum("energy_kwh"))
    )
    return {row[f"{side}_id"]: row["kwh"] or Decimal(0) for row in rows}


def arrangements_for(*, period: TradingPeriod, member_ids: Iterable[int]) -> Arrangements:
    """Partners, pledges and recipients among the period's traders, with what is left of each
    monthly cap and allowance. Only active members' arrangements count."""
    # The arrangements in force are few (members opt in), the period's traders may be
    # thousands: read the arrangements whole and keep the traders' here, rather than send
    # thousands of member ids to the database four times over.
    inactive = set(Member.objects.exclude(status=Member.Status.ACTIVE).values_list("pk", flat=True))
    active = set(member_ids) - inactive
    partners = tuple(
        PartnerTerm(p.seller_id, p.partner_id, cents_to_units(p.price_c), p.rank)
        for p in Partnership.objects.filter(status=Partnership.Status.ACTIVE)
        if p.seller_id in active and p.partner_id in active
    )
    pledges_rows = [p for p in GiftPledge.objects.filter(active=True) if p.member_id in active]
    recipient_rows = [
        r for r in HardshipRecipient.objects.filter(active=True) if r.member_id in active
    ]
    if not (pledges_rows and recipient_rows):
        return Arrangements(partners=partners)
    given = gifts_kwh(member_ids=[p.member_id for p in pledges_rows], period=period, side="seller")
    received = gifts_kwh(
        member_ids=[r.member_id for r in recipient_rows], period=period, side="buyer"
    )
    pledges = tuple(
        Pledge(
            p.member_id,
            int(p.share_pct * PPM / 100),
            None
            if p.monthly_cap_kwh is None
            else max(0, kwh_to_wh(p.monthly_cap_kwh - given.get(p.member_id, Decimal(0)))),
        )
        for p in pledges_rows
    )
    recipients = tuple(
        Recipient(
            r.member_id,
            max(0, kwh_to_wh(r.monthly_allowance_kwh - received.get(r.member_id, Decimal(0)))),
        )
        for r in recipient_rows
    )
    return Arrangements(partners=partners, pledges=pledges, recipients=recipients)

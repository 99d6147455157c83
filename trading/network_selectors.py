"""Reads of the distributor's time-value network prices (`FeederPrice`): a feeder's outlook for
the coming hours, every feeder's price now, and the feeders a member's ICPs are on.

Network prices are the distributor's signal for a feeder, not anybody's data: any member may
read any feeder's, and the wall display shows them (feeder names, loading and price only).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from coop import nz
from coop.models import Feeder, Member
from trading.models import FeederPrice


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def feeder_outlook(feeder_id: int, now: dt.datetime, hours: int = 48) -> list[dict]:
    """The feeder's prices for the periods that overlap [now, now + hours), by start.

    `start` is UTC and `start_nz` the same instant with the NZ offset (+12:00 or +13:00);
    decimals are strings, as the API sends them.
    """
    rows = (
        FeederPrice.objects.filter(
            feeder_id=feeder_id,
            period__end__gt=now,
            period__start__lt=now + dt.timedelta(hours=hours),
        )
        .select_related("period")
        .order_by("period__start")
    )
    return [
        {
            "start": row.period.start.astimezone(dt.UTC).isoformat(),
            "start_nz": row.period.start.astimezone(nz.NZ).isoformat(),
            "trading_period": row.period.number,
            "price_c": str(row.price_c),
            "export_credit_c": str(row.export_credit_c),
            "loading_pct": _text(row.loading_pct),
            "v_min_pu": _text(row.v_min_pu),
            "v_max_pu": _text(row.v_max_pu),
            "reverse_flow_kw": _text(row.reverse_flow_kw),
            "forecast_kw": str(row.forecast_kw),
            "source": row.source,
            "firm": row.firm,
        }
        for row in rows
    ]


def feeders_now(now: dt.datetime) -> list[dict]:
    """Every feeder, by name, with its transformer and the price of the period `now` is in
    (None where the distributor has not priced it)."""
    feeders = Feeder.objects.select_related("transformer").order_by("name")
    prices = {
        row.feeder_id: row
        for row in FeederPrice.objects.filter(period__start__lte=now, period__end__gt=now)
    }
    result = []
    for feeder in feeders:
        price = prices.get(feeder.pk)
        transformer = feeder.transformer
        result.append(
            {
                "id": feeder.pk,
                "name": feeder.name,
                "transformer": transformer.name if transformer else None,
                "rating_kva": _text(transformer.rating_kva) if transformer else None,
                "price_c": _text(price.price_c) if price else None,
                "export_credit_c": _text(price.export_credit_c) if price else None,
                "loading_pct": _text(price.loading_pct) if price else None,
                "source": price.source if price else None,
            }
        )
    return result


def member_feeders(member: Member) -> list[Feeder]:
    """The distinct feeders of the ICPs the member holds now, by name."""
    return list(
        Feeder.objects.filter(icps__member=member)
        .select_related("transformer")
        .distinct()
        .order_by("name")
    )

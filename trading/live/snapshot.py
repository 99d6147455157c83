"""What the wall display shows, read from the database (no member names, no ICPs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from coop import nz
from metering.selectors import latest_metered
from trading.live.selectors import history, latest_prices, prices_status
from trading.models import FeederPrice, Trade, TradingPeriod
from trading.network_selectors import feeders_now


def market_now(now: dt.datetime) -> dict:
    day, number = nz.trading_period_of(now)
    current = TradingPeriod.objects.filter(trading_date=day, number=number).first()
    last_cleared = (
        TradingPeriod.objects.filter(clearing_price_c__isnull=False).order_by("-start").first()
    )
    return {
        "period": f"{day:%a %d %b} TP{number}",
        "state": current.get_state_display() if current else "—",
        "last_cleared": {
            "period": str(last_cleared),
            "price_c": str(last_cleared.clearing_price_c),
            "traded_kwh": str(last_cleared.traded_kwh),
        }
        if last_cleared
        else None,
    }


def recent_trades(limit: int = 12) -> list[dict]:
    trades = Trade.objects.select_related("period").order_by("-period__start", "-sequence")[:limit]
    return [
        {"period": str(t.period), "kwh": str(t.energy_kwh), "price_c": str(t.price_c)}
        for t in trades
    ]


def network_prices(now: dt.datetime, hours: int = 6) -> list[dict]:
    """Each feeder's time-value import price for the coming hours: one series per feeder, at
    NZ clock times without an offset so the wall shows NZ time whatever the kiosk's zone."""
    rows = (
        FeederPrice.objects.filter(
            period__end__gt=now, period__start__lt=now + dt.timedelta(hours=hours)
        )
        .select_related("feeder", "period")
        .order_by("feeder__name", "period__start")
    )
    series: dict[str, dict] = {}
    for row in rows:
        line = series.setdefault(
            row.feeder.name, {"feeder": row.feeder.name, "x": [], "price_c": []}
        )
        line["x"].append(row.period.start.astimezone(nz.NZ).strftime("%Y-%m-%d %H:%M"))
        line["price_c"].append(str(row.price_c))
    return list(series.values())


def community_power(now: dt.datetime) -> dict:
    """The last metered half hour across the community, as average kW: the co-op's own data
    only (never a resident's upload) and only half hours that are over."""
    latest = latest_metered(now)
    if latest is None:
        return {}
    at, imp, exp = latest
    to_kw = lambda kwh: str((kwh * 2).quantize(Decimal("0.1")))  # noqa: E731
    return {"at": at.isoformat(), "import_kw": to_kw(imp), "export_kw": to_kw(exp)}


def display_snapshot(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "now": now.isoformat(),
        "status": prices_status(),
        "latest": latest_prices(),
        "history": history(24, now),
        "market": market_now(now),
        "trades": recent_trades(),
        "network": network_prices(now),
        "power": community_power(now),
        # Feeder names, loading and price only: no ICPs, no members.
        "feeders": feeders_now(now),
    }

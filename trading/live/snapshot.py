"""What the wall display shows, read from the database (no member names, no ICPs).

Times go out as NZ clock times (labels, and chart x values without an offset) so that a kiosk
set to any zone shows NZ time; prices go out as stored, and the page rounds them all one way.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

from django.utils import timezone

from coop import nz
from coop.models import ICP, PVSystem
from metering.selectors import coop_readings, latest_metered
from trading.live.selectors import history, latest_prices, prices_status
from trading.models import FeederPrice, Trade, TradingPeriod
from trading.network_selectors import feeders_now

# Sources that are not a live market feed: the wall says so in plain words.
NOT_LIVE = {
    "synthetic": "Synthetic prices — no live feed",
    "replay": "Replayed prices — no live feed",
}


def nz_clock(instant: dt.datetime) -> str:
    """'9:30 pm', NZ time."""
    local = instant.astimezone(nz.NZ)
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}"


def nz_day(instant: dt.datetime) -> str:
    """'Tue 1 Dec', NZ date."""
    local = instant.astimezone(nz.NZ)
    return f"{local:%a} {local.day} {local:%b}"


def period_label(start: dt.datetime, end: dt.datetime) -> str:
    """'Tue 1 Dec, 9:00-9:30 pm' (NZ time); '11:30 am-12:00 pm' across noon."""
    first, last = nz_clock(start), nz_clock(end)
    if first[-2:] == last[-2:]:
        first = first[:-3]
    return f"{nz_day(start)}, {first}-{last}"


def nz_chart_time(instant: dt.datetime) -> str:
    """A chart's x value: the NZ clock time without an offset (Plotly draws it as written)."""
    return instant.astimezone(nz.NZ).strftime("%Y-%m-%d %H:%M")


def price_source(status: dict, latest: dict) -> dict:
    """Where the prices shown came from: the stored price's own source first (the poll's
    status is 'none' until the first poll after a start), and the plain warning when it is
    not a live feed."""
    shown = latest.get("PEN0331") or next(iter(latest.values()), None)
    source = (shown or {}).get("source") or status.get("source") or "none"
    return {"source": source, "warning": NOT_LIVE.get(source, "")}


def market_now(now: dt.datetime) -> dict:
    day, number = nz.trading_period_of(now)
    current = TradingPeriod.objects.filter(trading_date=day, number=number).first()
    last_cleared = (
        TradingPeriod.objects.filter(clearing_price_c__isnull=False).order_by("-start").first()
    )
    start = nz.trading_period_start(day, number)
    return {
        "period": period_label(start, start + nz.TRADING_PERIOD),
        "state": current.get_state_display() if current else "—",
        "last_cleared": _cleared(last_cleared) if last_cleared else None,
    }


def _cleared(period: TradingPeriod) -> dict:
    return {
        "period_id": period.pk,
        "period": period_label(period.start, period.end),
        "price_c": None if period.clearing_price_c is None else str(period.clearing_price_c),
        "traded_kwh": str(period.traded_kwh),
    }


def period_cleared(period_id: int) -> dict:
    """The push at a period's clearing: what the display's market panel shows of it."""
    return _cleared(TradingPeriod.objects.get(pk=period_id))


def recent_trades(limit: int = 12) -> list[dict]:
    trades = Trade.objects.select_related("period").order_by("-period__start", "-sequence")[:limit]
    return [
        {
            "period": period_label(t.period.start, t.period.end),
            "kwh": str(t.energy_kwh),
            "price_c": str(t.price_c),
        }
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
        line["x"].append(nz_chart_time(row.period.start))
        line["price_c"].append(str(row.price_c))
    return list(series.values())


def price_history(hours: int, now: dt.datetime) -> dict[str, list]:
    """The last `hours` of wholesale prices per node as [NZ clock time, $/MWh]."""
    return {
        node: [[nz_chart_time(dt.datetime.fromisoformat(at)), price] for at, price in rows]
        for node, rows in history(hours, now).items()
    }


def community_power(now: dt.datetime) -> dict:
    """The last metered half hour across the community, as average kW: the co-op's own data
    only (never a resident's upload) and only half hours that are over. Meters see only the
    grid connection, so solar is the household model's estimate for the ICPs that reported
    (as on the Energy page) and use is import - export + solar."""
    latest = latest_metered(now)
    if latest is None:
        return {}
    at, imp, exp = latest
    reported = coop_readings().filter(interval_start=at).values("icp_id")
    # What the estimate depends on, read as plain values (cheap): the reporting ICPs with PV,
    # where they are, and their panels.
    houses = tuple(
        ICP.objects.filter(pk__in=reported, pv_systems__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", "identifier", "latitude", "longitude")
    )
    panels = tuple(
        PVSystem.objects.filter(icp_id__in=[h[0] for h in houses])
        .order_by("pk")
        .values_list("icp_id", "capacity_kwp", "inverter_kw", "tilt_degrees", "azimuth_degrees")
    )
    solar = _solar_kwh(at, houses, panels)
    to_kw = lambda kwh: str((kwh * 2).quantize(Decimal("0.1")))  # noqa: E731
    return {
        "at": at.isoformat(),
        "label": period_label(at, at + nz.TRADING_PERIOD),
        "import_kw": to_kw(imp),
        "export_kw": to_kw(exp),
        "generation_kw": to_kw(solar),
        "consumption_kw": to_kw(max(imp - exp + solar, Decimal(0))),
    }


@functools.lru_cache(maxsize=4)
def _solar_kwh(at: dt.datetime, houses: tuple[tuple, ...], _panels: tuple[tuple, ...]) -> Decimal:
    """The household model's PV estimate for the half hour at `at` over `houses` (id,
    identifier, latitude, longitude) with their panels (`_panels`: a key only, the model reads
    them again), kept while none of them changes. The minute's push asks for the same half
    hour thirty times, and reading a 5,000-member co-op's ICPs with their assets into the
    model took 1.8 s each time."""
    # Start-up cost: the household model loads pvlib (see metering.energy).
    from metering.houses import estimated_generation

    icps = ICP.objects.filter(pk__in=[h[0] for h in houses]).prefetch_related(
        "pv_systems", "batteries", "evs"
    )
    return sum(estimated_generation(icps, at, at + nz.TRADING_PERIOD).values(), Decimal(0))


def display_snapshot(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    status, latest = prices_status(), latest_prices()
    return {
        "now": now.isoformat(),
        "status": status,
        "latest": latest,
        "price_source": price_source(status, latest),
        "history": price_history(24, now),
        "market": market_now(now),
        "trades": recent_trades(),
        "network": network_prices(now),
        "power": community_power(now),
        # Feeder names, loading and price only: no ICPs, no members.
        "feeders": feeders_now(now),
    }

"""Reads of the market, always scoped to the member asking."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from coop.models import Member
from coop.units import cents_to_units, kwh_to_wh, micro_to_nzd, nzd_to_micro, value_micro, wh_to_kwh
from trading.models import (
    MemberPeriodSummary,
    Order,
    SettlementLine,
    StandingOrder,
    Trade,
    TradingPeriod,
)
from trading.sharing_models import PartnerCode


def upcoming_periods(*, now: dt.datetime | None = None, count: int = 12) -> QuerySet[TradingPeriod]:
    now = now or timezone.now()
    return TradingPeriod.objects.filter(end__gt=now).order_by("start")[:count]


def expected_prices(periods: list[TradingPeriod]) -> dict[int, Decimal | None]:
    """A guide for residents: the mean clearing price of the same trading period number over
    the last week (None until there is history)."""
    if not periods:
        return {}
    since = min(p.trading_date for p in periods) - dt.timedelta(days=7)
    history = (
        TradingPeriod.objects.filter(trading_date__gte=since, clearing_price_c__isnull=False)
        .values("number")
        .annotate(mean=Avg("clearing_price_c"))
    )
    means = {row["number"]: row["mean"] for row in history}
    return {
        p.pk: (means[p.number].quantize(Decimal("0.01")) if p.number in means else None)
        for p in periods
    }


def next_open_period(*, now: dt.datetime | None = None) -> TradingPeriod | None:
    now = now or timezone.now()
    return (
        TradingPeriod.objects.filter(state=TradingPeriod.State.OPEN, gate_closes_at__gt=now)
        .order_by("start")
        .first()
    )


def recent_periods(*, now: dt.datetime | None = None, count: int = 12) -> QuerySet[TradingPeriod]:
    now = now or timezone.now()
    return TradingPeriod.objects.filter(start__lte=now).order_by("-start")[:count]


def orders_of(member: Member) -> QuerySet[Order]:
    return (
        Order.objects.filter(member=member)
        .select_related("period", "icp")
        .order_by("-period__start", "-id")
    )


def standing_orders_of(member: Member) -> QuerySet[StandingOrder]:
    return StandingOrder.objects.filter(member=member).select_related("icp")


def trades_of(member: Member) -> QuerySet[Trade]:
    return (
        Trade.objects.filter(Q(buyer=member) | Q(seller=member))
        .select_related("period", "buyer_icp", "seller_icp")
        .order_by("-period__start", "sequence")
    )


def book_depth(period: TradingPeriod) -> dict[str, Any]:
    """Each side of a period's book (anonymous) as a step curve from zero cumulative kWh, and
    where the two cross, for market.js.

    `buy` (bids, best price first) and `sell` (offers, best price first) are
    {"kwh": [...], "price_c": [...]}: the curve starts at 0 kWh at the best price and each
    point after is where the cumulative kWh reaches the end of a price level, carrying the next
    level's price (the last point repeats the last price), so a chart drawing it with
    horizontal-then-vertical steps ("hv") shows every level as a flat run. `cross` is the
    point where bids stop being at or above offers ({"kwh", "price_c"}, the middle of the
    prices both curves pass through there), or None when no bid reaches any offer. It is
    where they cross; what the mechanism in force pays can differ. Decimals as strings."""
    rows = Order.objects.filter(period=period).exclude(status=Order.Status.CANCELLED)
    levels: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for side, descending in (("buy", True), ("sell", False)):
        levels[side] = [
            (level["limit_price_c"], level["kwh"])
            for level in rows.filter(side=side)
            .values("limit_price_c")
            .annotate(kwh=Sum("energy_kwh"))
            .order_by("-limit_price_c" if descending else "limit_price_c")
        ]
    depth: dict[str, Any] = {side: _depth_curve(levels[side]) for side in ("buy", "sell")}
    cross = _depth_cross(levels["buy"], levels["sell"])
    depth["cross"] = {"kwh": str(cross[0]), "price_c": str(cross[1])} if cross else None
    return depth


def _depth_curve(levels: list[tuple[Decimal, Decimal]]) -> dict[str, list[str]]:
    if not levels:
        return {"kwh": [], "price_c": []}
    kwh, prices = [Decimal(0)], [levels[0][0]]
    for n, (price, amount) in enumerate(levels):
        kwh.append(kwh[-1] + amount)
        prices.append(levels[n + 1][0] if n + 1 < len(levels) else price)
    return {"kwh": [str(k) for k in kwh], "price_c": [str(p) for p in prices]}


def _depth_cross(
    bids: list[tuple[Decimal, Decimal]], offers: list[tuple[Decimal, Decimal]]
) -> tuple[Decimal, Decimal] | None:
    """(cumulative kWh, c/kWh) where the bid curve (falling) meets the offer curve (rising)."""
    if not bids or not offers or bids[0][0] < offers[0][0]:
        return None
    b = o = 0  # the level each curve is on, and the kWh left on it
    b_left, o_left = bids[0][1], offers[0][1]
    done = Decimal(0)
    bid_was = offer_was = Decimal(0)  # the prices of the last kWh that still crossed
    while b < len(bids) and o < len(offers) and bids[b][0] >= offers[o][0]:
        bid_was, offer_was = bids[b][0], offers[o][0]
        step = min(b_left, o_left)
        done += step
        b_left -= step
        o_left -= step
        if b_left == 0:
            b += 1
            b_left = bids[b][1] if b < len(bids) else Decimal(0)
        if o_left == 0:
            o += 1
            o_left = offers[o][1] if o < len(offers) else Decimal(0)
    # At `done` the bid curve falls from `bid_was` to its next price (or ends) and the offer
    # curve rises from `offer_was` to its next (or ends): they cross where those spans meet.
    high = min(bid_was, offers[o][0]) if o < len(offers) else bid_was
    low = max(offer_was, bids[b][0]) if b < len(bids) else offer_was
    return done, (high + low) / 2


# --- sharing with partners and the hardship pool, as the member sees it ---------------------

# What a sharing trade is to each side: a gift names neither the donor nor the recipient, and a
# partner trade says only that it was a partner's (the page of partners names them).
SHARING_LABELS: dict[tuple[str, str], str] = {
    (Trade.Kind.GIFT, "sell"): "gift to the hardship pool",
    (Trade.Kind.GIFT, "buy"): "from the hardship pool",
    (Trade.Kind.PARTNER, "sell"): "shared with a partner",
    (Trade.Kind.PARTNER, "buy"): "from a partner",
    (Trade.Kind.MARKET, "sell"): "open market",
    (Trade.Kind.MARKET, "buy"): "open market",
}
# Periods whose trades a statement counts: settled, as its MemberPeriodSummary rows are.
SETTLED_STATES = (TradingPeriod.State.SETTLED, TradingPeriod.State.COMMITTED)


@dataclass(frozen=True)
class Shared:
    """One way of sharing over a span: its kWh, what was paid for the energy (0 for a gift),
    and the same kWh valued at each period's clearing price (periods with no clearing price
    are left out of the value and counted in `unvalued_kwh`)."""

    kwh: Decimal = Decimal("0.000")
    energy_nzd: Decimal = Decimal("0.000000")
    market_value_nzd: Decimal = Decimal("0.000000")
    unvalued_kwh: Decimal = Decimal("0.000")


@dataclass(frozen=True)
class Sharing:
    gift_given: Shared = field(default_factory=Shared)
    gift_received: Shared = field(default_factory=Shared)
    partner_sold: Shared = field(default_factory=Shared)
    partner_bought: Shared = field(default_factory=Shared)

    def __bool__(self) -> bool:
        return any(s.kwh for s in self.ways().values())

    def ways(self) -> dict[str, Shared]:
        return {name: getattr(self, name) for name in SHARING_WAYS}

    @property
    def unvalued(self) -> bool:
        return any(s.unvalued_kwh for s in self.ways().values())

    def totals(self) -> dict[str, Decimal]:
        """Flat, for the API: `gift_given_kwh`, `gift_given_market_value_nzd`, ..."""
        return {
            f"{name}_{part}": getattr(shared, part)
            for name, shared in self.ways().items()
            for part in ("kwh", "energy_nzd", "market_value_nzd")
        }


# (kind, the member's side) -> the Sharing field it adds to.
SHARING_WAYS: dict[str, tuple[str, str]] = {
    "gift_given": (Trade.Kind.GIFT, "sell"),
    "gift_received": (Trade.Kind.GIFT, "buy"),
    "partner_sold": (Trade.Kind.PARTNER, "sell"),
    "partner_bought": (Trade.Kind.PARTNER, "buy"),
}


def market_value_micro(kwh: Decimal, clearing_price_c: Decimal | None) -> int | None:
    """kWh at a period's clearing price in micro-NZD, rounded as trades are; None without one."""
    if clearing_price_c is None:
        return None
    return int(value_micro(kwh_to_wh(kwh), cents_to_units(clearing_price_c)))


def _sharing_trades(
    member: Member, first: dt.date, following: dt.date, *, settled_only: bool
) -> QuerySet[Trade]:
    trades = Trade.objects.filter(
        Q(buyer=member) | Q(seller=member),
        kind__in=(Trade.Kind.GIFT, Trade.Kind.PARTNER),
        period__trading_date__gte=first,
        period__trading_date__lt=following,
    )
    return trades.filter(period__state__in=SETTLED_STATES) if settled_only else trades


def sharing_between(
    member: Member, first: dt.date, following: dt.date, *, settled_only: bool
) -> Sharing:
    """What `member` gave to and received from the pool, and shared with and received from
    partners, on NZ trading days from `first` to before `following`: only settled periods for
    a statement (`settled_only`), every cleared one for the sharing page."""
    sums: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in SHARING_WAYS}
    ways = {way: name for name, way in SHARING_WAYS.items()}
    rows = _sharing_trades(member, first, following, settled_only=settled_only).values_list(
        "kind", "buyer_id", "energy_kwh", "energy_value_nzd", "period__clearing_price_c"
    )
    for kind, buyer_id, kwh, energy_nzd, clearing_c in rows:
        total = sums[ways[(kind, "buy" if buyer_id == member.pk else "sell")]]
        total[0] += kwh_to_wh(kwh)
        total[1] += nzd_to_micro(energy_nzd)
        valued = market_value_micro(kwh, clearing_c)
        if valued is None:
            total[3] += kwh_to_wh(kwh)
        else:
            total[2] += valued
    return Sharing(
        **{
            name: Shared(
                kwh=wh_to_kwh(wh),
                energy_nzd=micro_to_nzd(micro),
                market_value_nzd=micro_to_nzd(value),
                unvalued_kwh=wh_to_kwh(unvalued),
            )
            for name, (wh, micro, value, unvalued) in sums.items()
        }
    )


@dataclass(frozen=True)
class SharingTrade:
    """A partner or pool trade on a statement, with no counterparty."""

    period: TradingPeriod
    label: str
    kwh: Decimal
    price_c: Decimal
    market_value_nzd: Decimal | None  # None: the period has no clearing price


def sharing_trades_of(member: Member, month: dt.date) -> list[SharingTrade]:
    """The month's settled partner and pool trades of `member`, oldest first."""
    first, following = month_bounds(month)
    trades = (
        _sharing_trades(member, first, following, settled_only=True)
        .select_related("period")
        .order_by("period__start", "sequence")
    )
    rows = []
    for trade in trades:
        side = "buy" if trade.buyer_id == member.pk else "sell"
        valued = market_value_micro(trade.energy_kwh, trade.period.clearing_price_c)
        rows.append(
            SharingTrade(
                period=trade.period,
                label=SHARING_LABELS[(trade.kind, side)],
                kwh=trade.energy_kwh,
                price_c=trade.price_c,
                market_value_nzd=None if valued is None else micro_to_nzd(valued),
            )
        )
    return rows


def sharing_by_period(member: Member, month: dt.date) -> dict[int, dict[str, Decimal]]:
    """Per settled period of the month: kWh of each way of sharing (SHARING_WAYS), for the
    statement's CSV; periods without any are absent."""
    first, following = month_bounds(month)
    rows = _sharing_trades(member, first, following, settled_only=True).values_list(
        "period_id", "kind", "buyer_id", "energy_kwh"
    )
    ways = {way: name for name, way in SHARING_WAYS.items()}
    by_period: dict[int, dict[str, Decimal]] = {}
    for period_id, kind, buyer_id, kwh in rows:
        name = ways[(kind, "buy" if buyer_id == member.pk else "sell")]
        sums = by_period.setdefault(period_id, dict.fromkeys(SHARING_WAYS, Decimal("0.000")))
        sums[name] += kwh
    return by_period


def partner_code_current(member: Member, *, now: dt.datetime | None = None) -> PartnerCode | None:
    """The member's partner code that still works (the newest), if any."""
    now = now or timezone.now()
    return (
        PartnerCode.objects.filter(member=member, expires_at__gt=now)
        .order_by("-created_at", "-pk")
        .first()
    )


# A member's totals, as a period summary (MemberPeriodSummary) and a month's statement both
# carry them: one list, so the statement page, its CSV and the API never spell them out again.
TOTALS = (
    "imported_kwh",
    "exported_kwh",
    "bought_p2p_kwh",
    "sold_p2p_kwh",
    "net_nzd",
    "retailer_only_nzd",
    "saving_nzd",
)


@dataclass
class Statement:
    member: Member
    month: dt.date
    imported_kwh: Decimal = Decimal(0)
    exported_kwh: Decimal = Decimal(0)
    bought_p2p_kwh: Decimal = Decimal(0)
    sold_p2p_kwh: Decimal = Decimal(0)
    by_kind: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    net_nzd: Decimal = Decimal(0)
    retailer_only_nzd: Decimal = Decimal(0)
    periods: int = 0
    sharing: Sharing = field(default_factory=Sharing)

    @property
    def retail_import_kwh(self) -> Decimal:
        return self.by_kind.get("retail_import", (Decimal(0), Decimal(0)))[0]

    @property
    def retail_export_kwh(self) -> Decimal:
        return self.by_kind.get("retail_export", (Decimal(0), Decimal(0)))[0]

    @property
    def saving_nzd(self) -> Decimal:
        return self.net_nzd - self.retailer_only_nzd

    def totals(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in TOTALS}


# A statement month must be one the co-op could have traded in; anything else is a bad URL.
STATEMENT_YEARS = range(2000, 2200)


def month_parse(value: str) -> dt.date:
    """The first day of a `YYYY-MM` month, or ValueError with a message for the person."""
    try:
        first = dt.datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007  a month, no time
    except ValueError:
        raise ValueError("Months look like 2026-07.") from None
    if first.year not in STATEMENT_YEARS:
        raise ValueError(
            f"There are no statements for {first.year}: months from "
            f"{STATEMENT_YEARS.start} to {STATEMENT_YEARS.stop - 1} only."
        )
    return first


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following


def statement_for(member: Member, month: dt.date) -> Statement:
    first, following = month_bounds(month)
    statement = Statement(member=member, month=first)
    summaries = MemberPeriodSummary.objects.filter(
        member=member, period__trading_date__gte=first, period__trading_date__lt=following
    )
    totals = summaries.aggregate(
        imp=Sum("imported_kwh"),
        exp=Sum("exported_kwh"),
        bought=Sum("bought_p2p_kwh"),
        sold=Sum("sold_p2p_kwh"),
        net=Sum("net_amount_nzd"),
        alone=Sum("retailer_only_nzd"),
    )
    statement.imported_kwh = totals["imp"] or Decimal(0)
    statement.exported_kwh = totals["exp"] or Decimal(0)
    statement.bought_p2p_kwh = totals["bought"] or Decimal(0)
    statement.sold_p2p_kwh = totals["sold"] or Decimal(0)
    statement.net_nzd = totals["net"] or Decimal(0)
    statement.retailer_only_nzd = totals["alone"] or Decimal(0)
    statement.periods = summaries.count()
    kinds: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])

    lines = (
        SettlementLine.objects.filter(
            member=member, period__trading_date__gte=first, period__trading_date__lt=following
        )
        .values("kind")
        .annotate(kwh=Sum("energy_kwh"), amount=Sum("amount_nzd"))
    )
    for row in lines:
        kinds[row["kind"]][0] += row["kwh"]
        kinds[row["kind"]][1] += row["amount"]
    statement.by_kind = {k: (v[0], v[1]) for k, v in kinds.items()}
    statement.sharing = sharing_between(member, first, following, settled_only=True)
    return statement


def statement_days(member: Member, month: dt.date) -> list[dict[str, str]]:
    """A month's statement by NZ trading day, for its chart: `x` is the NZ date
    ("2026-12-01", no time and no offset, so a browser in any zone draws that day), with the
    day's settled periods, net and retailer-only amounts (NZD excl. GST) as strings."""
    first, following = month_bounds(month)
    rows = (
        MemberPeriodSummary.objects.filter(
            member=member, period__trading_date__gte=first, period__trading_date__lt=following
        )
        .values("period__trading_date")
        .annotate(periods=Count("pk"), net=Sum("net_amount_nzd"), alone=Sum("retailer_only_nzd"))
        .order_by("period__trading_date")
    )
    return [
        {
            "x": row["period__trading_date"].isoformat(),
            "periods": str(row["periods"]),
            "net_nzd": str(row["net"]),
            "retailer_only_nzd": str(row["alone"]),
        }
        for row in rows
    ]


def statement_months(member: Member) -> list[dt.date]:
    dates = (
        MemberPeriodSummary.objects.filter(member=member)
        .values_list("period__trading_date", flat=True)
        .distinct()
    )
    return sorted({d.replace(day=1) for d in dates}, reverse=True)


def periods_held_back(*, now: dt.datetime | None = None) -> QuerySet[TradingPeriod]:
    """Periods that cannot reach the chain yet: stuck with an error before settlement, or still
    unsettled well after the metering deadline. The chain status page lists them, so "every
    settled period is on chain" never hides a period that never settled."""

    now = now or timezone.now()
    unsettled = [
        TradingPeriod.State.GATE_CLOSED,
        TradingPeriod.State.CLEARED,
        TradingPeriod.State.METERED,
    ]
    overdue = now - TradingPeriod.METERING_DEADLINE - dt.timedelta(minutes=30)
    return (
        TradingPeriod.objects.filter(state__in=unsettled)
        .filter(~Q(last_error="") | Q(end__lt=overdue))
        .order_by("start")
    )

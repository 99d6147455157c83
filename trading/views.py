"""Resident pages of the market. Thin: forms in, services do the work, selectors read."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from coop.models import CoopSettings, Member
from coop.selectors import member_of_request
from trading import network_selectors, price_selectors, selectors
from trading.forms import OrderForm, StandingOrderForm, period_words
from trading.models import MemberPeriodSummary, Order, StandingOrder, TradingPeriod
from trading.services import orders as order_services
from trading.services import standing_rules


def _field_errors(form: StandingOrderForm, exc: ValidationError) -> None:
    """Also show a service's refusal next to the field it names, or at the top of the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def _network_charts(member: Member, now: dt.datetime) -> list[dict]:
    """Each of the member's feeders with its next 48 h of network prices, for network.js.

    `x` is NZ local clock time without an offset ("2026-07-13 18:00"), so the chart shows NZ
    times whatever the browser's zone; `start_nz` keeps the instant with its offset."""
    charts = []
    for feeder in network_selectors.member_feeders(member):
        rows = network_selectors.feeder_outlook(feeder.pk, now)
        charts.append(
            {
                "id": feeder.pk,
                "name": feeder.name,
                "transformer": str(feeder.transformer) if feeder.transformer else "",
                "x": [r["start_nz"][:16].replace("T", " ") for r in rows],
                "start_nz": [r["start_nz"] for r in rows],
                "price_c": [r["price_c"] for r in rows],
                "export_credit_c": [r["export_credit_c"] for r in rows],
                "loading_pct": [r["loading_pct"] for r in rows],
                "firm": [r["firm"] for r in rows],
            }
        )
    return charts


def _open_periods(now: dt.datetime) -> list[TradingPeriod]:
    """Every period still open for orders (gate not closed), nearest first."""
    return list(
        TradingPeriod.objects.filter(
            state=TradingPeriod.State.OPEN, gate_closes_at__gt=now
        ).order_by("start")
    )


def _placed(order: Order) -> str:
    return (
        f"Order placed: {order.side} {order.energy_kwh:.3f} kWh at {order.limit_price_c:.4f} c/kWh "
        f"in {period_words(order.period)}"
    )


def _chosen(form: OrderForm, name: str) -> str:
    """The value the form shows for a field: what was posted, else its initial."""
    value = form[name].value()
    return "" if value is None else str(value)


def _form_price(form: OrderForm, open_periods: list[TradingPeriod], icps: list) -> dict | None:
    """The full price of the order as the form stands (the chosen period, ICP, side and limit),
    for the page before order_form.js takes over; None until a period and ICP are chosen."""
    periods = {str(p.pk): p for p in open_periods}
    own = {str(i.pk): i for i in icps}
    period = periods.get(_chosen(form, "period"))
    icp = own.get(_chosen(form, "icp")) or (icps[0] if len(icps) == 1 else None)
    if period is None or icp is None:
        return None
    price = price_selectors.trade_prices([period], [icp])[(period.pk, icp.pk)]
    side = _chosen(form, "side") or Order.Side.BUY
    try:
        limit = Decimal(_chosen(form, "limit_price_c"))
    except ArithmeticError:
        limit = None
    if limit is None or not limit.is_finite():
        return {"side": side, "price": price, "parts": None}
    return {"side": side, "price": price, "parts": price.breakdown(side, limit)}


def _price_rows(
    member: Member, upcoming: list[TradingPeriod], expected: dict[int, Decimal | None]
) -> tuple[object, list[tuple[TradingPeriod, Decimal | None, dict[str, str] | None]]]:
    """The coming periods with the full price for the member's first ICP: a buyer's and a
    seller's all-in price at the expected price (at the floor until there is history)."""
    icp = member.icps.order_by("identifier").first()
    if icp is None:
        return None, [(p, expected.get(p.pk), None) for p in upcoming]
    prices = price_selectors.trade_prices(upcoming, [icp])
    rows: list[tuple[TradingPeriod, Decimal | None, dict[str, str] | None]] = []
    for period in upcoming:
        price = prices[(period.pk, icp.pk)]
        at = expected.get(period.pk)
        reference = at if at is not None else price.floor_c
        buy = price.breakdown(Order.Side.BUY, reference)
        sell = price.breakdown(Order.Side.SELL, reference)
        rows.append(
            (
                period,
                at,
                {
                    "network": buy["network"],
                    "credit": sell["credit"],
                    "fee": buy["fee"],
                    "buy": buy["all_in"],
                    "buy_gst": buy["all_in_gst"],
                    "sell": sell["all_in"],
                    "sell_gst": sell["all_in_gst"],
                },
            )
        )
    return icp, rows


@login_required
def market(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    now = dt.datetime.now(dt.UTC)
    open_periods = _open_periods(now)
    form = OrderForm(
        request.POST or None,
        member=member,
        periods=TradingPeriod.objects.filter(pk__in=[p.pk for p in open_periods]).order_by("start"),
    )
    if request.method == "POST" and form.is_valid():
        try:
            order = order_services.order_place(member=member, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _errors(exc) if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, _placed(order))
            return redirect("market")
    icps = list(member.icps.order_by("identifier"))
    settings = CoopSettings.load()
    next_period = selectors.next_open_period()
    upcoming = list(selectors.upcoming_periods(count=12))
    expected = selectors.expected_prices(upcoming)
    price_icp, upcoming_rows = _price_rows(member, upcoming, expected)
    recent = list(selectors.recent_periods(count=12))
    return render(
        request,
        "trading/market.html",
        {
            "member": member,
            "form": form,
            "settings": settings,
            "price_icp": price_icp,
            "upcoming": upcoming_rows,
            "recent": recent,
            "next_period": next_period,
            "depth_json": json.dumps(selectors.book_depth(next_period) if next_period else {}),
            "open_orders": selectors.orders_of(member).filter(status=Order.Status.OPEN)[:50],
            "network": _network_charts(member, timezone.now()),
            "form_price": _form_price(form, open_periods, icps),
            "trade_prices": {
                "periods": price_selectors.trade_prices_json(open_periods, icps),
                "floor_c": str(settings.price_floor_c),
                "cap_c": str(settings.price_cap_c),
                "chosen": {
                    "period": _chosen(form, "period"),
                    "icp": _chosen(form, "icp"),
                },
            },
        },
    )


@login_required
@require_POST
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_of_request(request)
    order = get_object_or_404(Order, pk=pk, member=member)
    try:
        order_services.order_cancel(member=member, order=order)
        messages.success(request, "Order cancelled.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect(_safe_next(request) or "market")


def _safe_next(request: HttpRequest) -> str | None:
    """`next` only if it points back into this site (no open redirect to another host)."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else None


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    now = timezone.now()
    pending = list(
        selectors.orders_of(member)
        .filter(
            status=Order.Status.OPEN,
            period__state=TradingPeriod.State.OPEN,
            period__gate_closes_at__gt=now,
        )
        .select_related("standing_order")
        .order_by("period__start", "id")
    )
    pending_ids = {o.pk for o in pending}
    history = [o for o in selectors.orders_of(member)[:300] if o.pk not in pending_ids]
    return render(
        request,
        "trading/orders.html",
        {"days": _by_day_and_rule(pending), "orders": history},
    )


def _by_day_and_rule(orders: list[Order]) -> list[dict]:
    """Open orders by NZ trading day (nearest first), then by what placed them: each standing
    rule (with its "cancel all"), the energy manager, the resident by hand."""
    days: dict[dt.date, dict[tuple[int, int], dict]] = {}
    for order in orders:
        groups = days.setdefault(order.period.trading_date, {})
        if order.standing_order_id:
            key, title, rule = (0, order.standing_order_id), None, order.standing_order
        elif order.energy_plan_id:
            key, title, rule = (1, 0), "Placed by your battery and EV manager", None
        else:
            key, title, rule = (2, 0), "Placed by you", None
        if rule is not None:
            title = f"Standing order: {standing_rules.rule_words(rule)}"
        group = groups.setdefault(key, {"title": title, "rule": rule, "orders": []})
        group["orders"].append(order)
    return [
        {"day": day, "groups": [groups[k] for k in sorted(groups)]}
        for day, groups in sorted(days.items())
    ]


@login_required
@require_POST
def standing_order_orders_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_of_request(request)
    standing = get_object_or_404(StandingOrder, pk=pk, member=member)
    try:
        count = standing_rules.standing_order_orders_cancel(member=member, standing=standing)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        plural = "" if count == 1 else "s"
        messages.success(
            request,
            f"Cancelled {count} open order{plural} of the rule "
            f"\u201c{standing_rules.rule_words(standing)}\u201d. The rule stays; it will not "
            "place them again.",
        )
    return redirect("my-orders")


@login_required
def my_trades(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    trades = list(selectors.trades_of(member)[:300])
    return render(request, "trading/trades.html", {"trades": trades, "member": member})


@login_required
def standing_orders(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    member = member_of_request(request)
    instance = get_object_or_404(StandingOrder, pk=pk, member=member) if pk else None
    form = StandingOrderForm(request.POST or None, instance=instance, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            standing_rules.standing_order_save(member=member, standing=form.save(commit=False))
        except ValidationError as exc:
            _field_errors(form, exc)
        else:
            messages.success(request, "Standing order saved.")
            return redirect("standing-orders")
    return render(
        request,
        "trading/standing_orders.html",
        {
            "form": form,
            "editing": instance,
            "rules": selectors.standing_orders_of(member),
        },
    )


@login_required
@require_POST
def standing_order_delete(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_of_request(request)
    standing = get_object_or_404(StandingOrder, pk=pk, member=member)
    standing_rules.standing_order_delete(member=member, standing=standing)
    messages.success(request, "Standing order removed.")
    return redirect("standing-orders")


def _month(value: str) -> dt.date:
    try:
        return selectors.month_parse(value)
    except ValueError as exc:
        raise Http404(str(exc)) from None


def _following_month(month: dt.date) -> dt.date:
    return selectors.month_bounds(month)[1]


@login_required
def statements(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    months = selectors.statement_months(member)
    shown = [selectors.statement_for(member, m) for m in months[:24]]
    # statements.js: one bar pair per month, oldest first; `x` is the month's first NZ date
    # (no time, no offset), and the range runs to the month after the last, so a single month
    # is drawn as a month, never zoomed in to its first hours.
    chart = {
        "rows": [
            {
                "x": s.month.isoformat(),
                "periods": str(s.periods),
                "net_nzd": str(s.net_nzd),
                "retailer_only_nzd": str(s.retailer_only_nzd),
            }
            for s in reversed(shown)
        ],
        "from": shown[-1].month.isoformat() if shown else "",
        "to": _following_month(shown[0].month).isoformat() if shown else "",
    }
    return render(
        request,
        "trading/statements.html",
        {"statements": shown, "chart_json": json.dumps(chart)},
    )


@login_required
def statement_detail(request: HttpRequest, month: str) -> HttpResponse:
    member = member_of_request(request)
    first = _month(month)
    statement = selectors.statement_for(member, first)
    days = selectors.statement_days(member, first)
    chart = {"rows": days, "from": first.isoformat(), "to": _following_month(first).isoformat()}
    return render(
        request,
        "trading/statement_detail.html",
        {
            "s": statement,
            "member": member,
            "days": days,
            "chart_json": json.dumps(chart),
            "sharing_trades": selectors.sharing_trades_of(member, first),
        },
    )


# The statement CSV's sharing columns, in selectors.SHARING_WAYS order.
CSV_SHARING_COLUMNS = tuple(f"{way}_kwh" for way in selectors.SHARING_WAYS)


@login_required
def statement_csv(request: HttpRequest, month: str) -> HttpResponse:
    member = member_of_request(request)
    first = _month(month)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="hapori-statement-{month}.csv"'
    writer = csv.writer(response)
    # Each period's sharing (kWh) and clearing price sit before the totals, so the totals stay
    # the last columns; a period with no clearing price has an empty price.
    writer.writerow(
        ["trading_date", "tp", "clearing_price_c", *CSV_SHARING_COLUMNS, *selectors.TOTALS]
    )
    sharing = selectors.sharing_by_period(member, first)
    nothing = dict.fromkeys(selectors.SHARING_WAYS, Decimal("0.000"))

    start, end = selectors.month_bounds(first)
    rows = (
        MemberPeriodSummary.objects.filter(
            member=member, period__trading_date__gte=start, period__trading_date__lt=end
        )
        .select_related("period")
        .order_by("period__start")
    )
    for s in rows:
        writer.writerow(
            [
                s.period.trading_date.isoformat(),
                s.period.number,
                "" if s.period.clearing_price_c is None else s.period.clearing_price_c,
                *sharing.get(s.period_id, nothing).values(),
                *(getattr(s, name) for name in selectors.TOTALS),
            ]
        )
    return response

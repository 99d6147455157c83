"""Resident pages of the market. Thin: forms in, services do the work, selectors read."""

from __future__ import annotations

import csv
import datetime as dt
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from coop.models import Member
from coop.selectors import member_of_request
from trading import network_selectors, selectors
from trading.forms import OrderForm, StandingOrderForm
from trading.models import MemberPeriodSummary, Order, StandingOrder, TradingPeriod
from trading.services import orders as order_services
from trading.services import standing_rules


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


@login_required
def market(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    open_ids = (
        TradingPeriod.objects.filter(
            state=TradingPeriod.State.OPEN, gate_closes_at__gt=dt.datetime.now(dt.UTC)
        )
        .order_by("start")
        .values_list("pk", flat=True)[:12]
    )
    # A form's queryset cannot be sliced (it is filtered again on validation).
    open_periods = TradingPeriod.objects.filter(pk__in=list(open_ids)).order_by("start")
    form = OrderForm(request.POST or None, member=member, periods=open_periods)
    if request.method == "POST" and form.is_valid():
        try:
            order_services.order_place(member=member, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _errors(exc) if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, "Order placed.")
            return redirect("market")
    next_period = selectors.next_open_period()
    upcoming = list(selectors.upcoming_periods(count=12))
    expected = selectors.expected_prices(upcoming)
    recent = list(selectors.recent_periods(count=12))
    return render(
        request,
        "trading/market.html",
        {
            "member": member,
            "form": form,
            "upcoming": [(p, expected.get(p.pk)) for p in upcoming],
            "recent": recent,
            "next_period": next_period,
            "depth_json": json.dumps(selectors.book_depth(next_period) if next_period else {}),
            "open_orders": selectors.orders_of(member).filter(status=Order.Status.OPEN)[:50],
            "network": _network_charts(member, timezone.now()),
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
    return render(request, "trading/orders.html", {"orders": selectors.orders_of(member)[:300]})


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
            messages.error(request, _errors(exc))
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


@login_required
def statements(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    months = selectors.statement_months(member)
    return render(
        request,
        "trading/statements.html",
        {
            "statements": [selectors.statement_for(member, m) for m in months[:24]],
        },
    )


@login_required
def statement_detail(request: HttpRequest, month: str) -> HttpResponse:
    member = member_of_request(request)
    statement = selectors.statement_for(member, _month(month))
    return render(request, "trading/statement_detail.html", {"s": statement, "member": member})


@login_required
def statement_csv(request: HttpRequest, month: str) -> HttpResponse:
    member = member_of_request(request)
    first = _month(month)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="hapori-statement-{month}.csv"'
    writer = csv.writer(response)
    writer.writerow(["trading_date", "tp", *selectors.TOTALS])

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
                *(getattr(s, name) for name in selectors.TOTALS),
            ]
        )
    return response

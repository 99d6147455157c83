from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.clickjacking import xframe_options_sameorigin

from coop.selectors import member_for_user
from trading.live.selectors import latest_prices, prices_status
from trading.live.snapshot import nz_clock, nz_day, price_source


@xframe_options_sameorigin
def display(request: HttpRequest) -> HttpResponse:
    """The lab wall display: no login, no names; a token when the co-op sets one."""
    token = request.GET.get("token", "")
    if settings.DISPLAY_TOKEN and token != settings.DISPLAY_TOKEN:
        return HttpResponseForbidden("This display needs its token: /display/?token=...")
    return render(request, "display/display.html", {"token": token})


def _price_now() -> dict | None:
    """Auckland's latest stored price, its NZ time and its source: what the live page shows
    before the first push (the poll's status says 'none' until its first run)."""
    latest = latest_prices()
    row = latest.get("PEN0331")
    if row is None:
        return None
    at = parse_datetime(row["at"])
    dollars = Decimal(row["price"])
    source = price_source(prices_status(), latest)
    return {
        "price": f"${dollars:.2f}/MWh ({dollars / 10:.2f} c/kWh)",
        "at": row["at"],
        "when": f"{nz_clock(at)} {nz_day(at)} (NZ time)" if at else "",
        "source": source["source"],
        "warning": source["warning"],
    }


@login_required
def live(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "live/live.html",
        {"member": member_for_user(request.user), "price_now": _price_now()},
    )

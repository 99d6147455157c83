"""The resident's Energy page: their own ICPs only."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from coop import nz
from coop.selectors import member_for_user
from metering.eiep_import import import_file
from metering.formats.eiep3 import EIEPError
from metering.selectors import energy_series

RANGES = {"day": 1, "week": 7, "month": 31, "year": 366}
MAX_UPLOAD = 20 * 1024 * 1024


def _member(request):
    member = member_for_user(request.user)
    if member is None:
        raise Http404("You are not a member of this co-op.")
    return member


def _window(request) -> tuple[str, dt.date, dt.date]:
    span = request.GET.get("range", "day")
    if span not in RANGES:
        raise Http404("Range is day, week, month or year.")
    try:
        end = dt.date.fromisoformat(request.GET["end"]) if "end" in request.GET else None
    except ValueError:
        raise Http404("Dates look like 2026-07-08.") from None
    end = end or nz.trading_period_of(dt.datetime.now(dt.UTC))[0]
    return span, end - dt.timedelta(days=RANGES[span] - 1), end


@login_required
def energy(request):
    member = _member(request)
    span, start, end = _window(request)
    series = energy_series(member, start, end, by_day=span in ("month", "year"))
    totals = {
        k: sum((row[k] for row in series), Decimal(0))
        for k in ("import", "export", "generation", "consumption")
    }
    today = nz.trading_period_of(dt.datetime.now(dt.UTC))[0]
    step = dt.timedelta(days=RANGES[span])
    return render(
        request,
        "metering/energy.html",
        {
            "span": span,
            "start": start,
            "end": end,
            "previous_end": end - step,
            "next_end": min(end + step, today) if end < today else None,
            "any_estimated": any(row["estimated"] for row in series),
            "totals": totals,
            "series_json": json.dumps([{k: str(v) for k, v in row.items()} for row in series]),
            "ranges": list(RANGES),
        },
    )


@login_required
def energy_csv(request):
    member = _member(request)
    _span, start, end = _window(request)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="hapori-energy-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["start_utc", "import_kwh", "export_kwh", "generation_kwh", "consumption_kwh", "estimated"]
    )
    for row in energy_series(member, start, end, by_day=False):
        writer.writerow(
            [
                row["start"],
                row["import"],
                row["export"],
                row["generation"],
                row["consumption"],
                row["estimated"],
            ]
        )
    return response


@login_required
@require_POST
def upload(request):
    """A resident uploads their own EIEP13A (or EIEP3) file from their retailer."""
    member = _member(request)
    upload = request.FILES.get("file")
    if upload is None or upload.size > MAX_UPLOAD:
        messages.error(request, "Choose an EIEP13A file of at most 20 MB.")
        return redirect("energy")
    try:
        text = upload.read().decode("utf-8-sig")
        result = import_file(text, source=f"upload:{request.user.username}", member=member)
    except UnicodeDecodeError:
        messages.error(request, "That file is not text (UTF-8); nothing was imported.")
    except EIEPError as exc:
        shown = "; ".join(exc.errors[:10])
        more = f" (and {len(exc.errors) - 10} more)" if len(exc.errors) > 10 else ""
        messages.error(request, f"Nothing was imported: {shown}{more}")
    else:
        kept = result.readings - result.created - result.changed
        messages.success(
            request,
            f"Imported {result.readings} half hours for {result.icps} ICP(s): "
            f"{result.created} new, {result.changed} replacing estimates"
            + (f", {kept} already metered by the co-op and left as they were." if kept else "."),
        )
    return redirect("energy")

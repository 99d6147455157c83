"""The resident's Energy page: their own ICPs only."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from coop import nz
from coop.models import Member
from coop.selectors import member_of_request
from metering.energy import Step, energy_series
from metering.formats.eiep3 import EIEPError
from metering.services import eiep_import

RANGES = {"day": 1, "week": 7, "month": 31, "year": 366}
# What the chart shows each range by: half hours for a day or a week, days for a month, months
# for a year.
STEPS: dict[str, Step] = {"day": "half_hour", "week": "half_hour", "month": "day", "year": "month"}
# What a multipart body may carry besides the file: boundaries, part headers, the CSRF token.
FORM_OVERHEAD_BYTES = 64 * 1024


def _window(request: HttpRequest) -> tuple[str, dt.date, dt.date]:
    span = request.GET.get("range", "day")
    if span not in RANGES:
        raise Http404("Range is day, week, month or year.")
    try:
        end = dt.date.fromisoformat(request.GET["end"]) if "end" in request.GET else None
    except ValueError:
        raise Http404("Dates look like 2026-07-08.") from None
    today = nz.trading_period_of(dt.datetime.now(dt.UTC))[0]
    end = end or today
    # Energy is only ever measured between the co-op's first years and today: 0001-01-01 or
    # 9999-12-31 would overflow the date arithmetic below (and mean nothing).
    if not dt.date(2000, 1, 1) <= end <= today + dt.timedelta(days=1):
        raise Http404(f"Choose a day from 2000-01-01 to {today.isoformat()}.")
    return span, end - dt.timedelta(days=RANGES[span] - 1), end


@login_required
def energy(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    span, start, end = _window(request)
    series = energy_series(member, start, end, by=STEPS[span])
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
            # The chart's x range, as NZ clock times like the series' `x` (energy.js).
            "chart_json": json.dumps(_chart_window(span, start, end)),
            "ranges": list(RANGES),
            "upload_limit": _limit(),
        },
    )


def _chart_window(span: str, start: dt.date, end: dt.date) -> dict[str, str]:
    """The chart's step and x range in NZ clock time: from the first day's midnight to the
    midnight after the last (for a year, from the first month's start to the next month's)."""
    first, after = start, end + dt.timedelta(days=1)
    if STEPS[span] == "month":
        first = start.replace(day=1)
        after = (end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return {"span": span, "step": STEPS[span], "from": f"{first} 00:00", "to": f"{after} 00:00"}


@login_required
def energy_csv(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    _span, start, end = _window(request)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="hapori-energy-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["start_utc", "import_kwh", "export_kwh", "generation_kwh", "consumption_kwh", "estimated"]
    )
    for row in energy_series(member, start, end):
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


# CSRF is checked (csrf_protect, below) only after the size: the CSRF middleware would read
# the whole body to find the form's token.
@csrf_exempt
@require_POST
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """A resident uploads their own EIEP13A (or EIEP3) file from their retailer.

    A body whose Content-Length is over the limit is refused with 413 before Django reads or
    parses any of it (nor does the CSRF check, which would). Under daphne the ASGI handler has
    buffered the body before any view runs, so only the proxy's body limit stops the bytes
    arriving; the settings' DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE bound
    what parsing holds in memory."""
    member = member_of_request(request)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > eiep_import.UPLOAD_MAX_BYTES + FORM_OVERHEAD_BYTES:
        return _too_large(request)
    return _upload(request, member)


@csrf_protect
def _upload(request: HttpRequest, member: Member) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, f"Choose an EIEP13A file of at most {_limit()}.")
        return redirect("energy")
    # Django's upload handlers always set the size; one not known is not taken on trust.
    if upload.size is None or upload.size > eiep_import.UPLOAD_MAX_BYTES:
        return _too_large(request)
    try:
        text = upload.read().decode("utf-8-sig")
        result = eiep_import.file_import(
            text=text, source=f"upload:{request.user.username}", member=member
        )
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
            f"{result.created} new"
            + (f", {kept} already had data and were left as they were." if kept else "."),
        )
    return redirect("energy")


def _too_large(request: HttpRequest) -> HttpResponse:
    """The Energy page with the refusal, as 413 Content Too Large."""
    messages.error(
        request, f"That file is too large: upload at most {_limit()}; nothing was imported."
    )
    response = energy(request)
    response.status_code = 413
    return response


def _limit() -> str:
    mb = eiep_import.UPLOAD_MAX_BYTES / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{eiep_import.UPLOAD_MAX_BYTES} bytes"

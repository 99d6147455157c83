"""A tariff as a resident reads it: each window in words ("weekdays 7-11 am and 5-9 pm,
Apr-Sep", "all day"), GST marked on every figure, money to two places."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django import template

from coop.models import Tariff, TariffRate
from coop.tariffs import DAY_NAMES, MONTH_NAMES, TariffError, parse_days, parse_months

register = template.Library()

WEEKDAYS = frozenset(range(5))
WEEKENDS = frozenset({5, 6})
CENTS = Decimal("0.01")
KIND_WORDS: dict[str, str] = {TariffRate.Kind.IMPORT: "Import", TariffRate.Kind.LINES: "Lines"}


@dataclass(frozen=True)
class TariffRow:
    what: str  # "Import · Peak"
    when: str  # "weekdays 7-11 am and 5-9 pm, Apr-Sep"
    price: str  # "38.60 c/kWh incl. GST"
    note: str = ""


def _clock(t: dt.time) -> tuple[str, str]:
    """(the time without its half, "am"/"pm"): 7:00 -> ("7", "am"), 17:30 -> ("5:30", "pm")."""
    hour = t.hour % 12 or 12
    text = f"{hour}:{t.minute:02d}" if t.minute else str(hour)
    return text, "am" if t.hour < 12 else "pm"


def hours_words(start: dt.time, end: dt.time) -> str:
    """7:00-11:00 -> "7-11 am"; 23:00-7:00 -> "11 pm-7 am"; 00:00-00:00 -> "all day";
    12:00 is "noon" and 00:00 "midnight"."""
    if start == end:
        return "all day"

    def one(t: dt.time) -> tuple[str, str]:
        if t == dt.time(0):
            return "midnight", ""
        if t == dt.time(12):
            return "noon", ""
        return _clock(t)

    (a, a_half), (b, b_half) = one(start), one(end)
    if a_half and a_half == b_half:
        return f"{a}-{b} {b_half}"
    first = f"{a} {a_half}".strip()
    second = f"{b} {b_half}".strip()
    return f"{first}-{second}"


def _runs(chosen: frozenset[int], names: tuple[str, ...], *, wrap: bool) -> str:
    """Consecutive members as ranges, wrapping the end of the list: {9,10,11,0,1,2} of the
    months -> "Oct-Mar" (with `wrap`); {0,2,3,4,6} of the days -> "Mon, Wed-Fri, Sun"."""
    size = len(names)
    if not chosen or len(chosen) == size:
        return ""
    # Start after a member that is not chosen, so that a run wrapping the end stays whole.
    start = next(i for i in range(size) if (i - 1) % size not in chosen) if wrap else 0
    parts: list[str] = []
    run: list[int] = []
    for i in [*((start + k) % size for k in range(size)), None]:
        if i is not None and i in chosen:
            run.append(i)
            continue
        if run:
            a, b = names[run[0]].title(), names[run[-1]].title()
            parts.append(a if len(run) == 1 else f"{a}-{b}")
            run = []
    return ", ".join(parts)


def days_words(days: str) -> str:
    chosen = parse_days(days)
    if chosen == frozenset(range(7)):
        return ""
    if chosen == WEEKDAYS:
        return "weekdays"
    if chosen == WEEKENDS:
        return "weekends"
    return _runs(chosen, DAY_NAMES, wrap=False)


def months_words(months: str) -> str:
    chosen = parse_months(months)
    return "" if chosen == frozenset(range(12)) else _runs(chosen, MONTH_NAMES, wrap=True)


def window_words(days: str, months: str, spans: list[tuple[dt.time, dt.time]]) -> str:
    """ "weekdays 7-11 am and 5-9 pm, Apr-Sep"; "all day"; "every day 11 pm-7 am"."""
    try:
        day_text, month_text = days_words(days), months_words(months)
    except TariffError:
        day_text, month_text = days, months  # as saved; validation names the fault elsewhere
    ordered = sorted(spans)
    all_day = any(s == e for s, e in ordered)
    hours = "all day" if all_day else " and ".join(hours_words(s, e) for s, e in ordered)
    if all_day:
        text = f"{day_text}, all day" if day_text else "all day"
    else:
        text = f"{day_text or 'every day'} {hours}"
    return f"{text}, {month_text}" if month_text else text


def _gst(includes: bool) -> str:
    return "incl. GST" if includes else "excl. GST"


def _c(value: Decimal) -> str:
    return f"{value.quantize(CENTS, rounding=ROUND_HALF_UP)}"


def dollars(cents: Decimal) -> str:
    return f"${(cents / 100).quantize(CENTS, rounding=ROUND_HALF_UP)}"


def tariff_rows(tariff: Tariff) -> list[TariffRow]:
    """The tariff's rates, one row per kind, label, days, months and rate (a label's windows
    on one row: "weekdays 7-11 am and 5-9 pm"), then the buy-back."""
    groups: dict[tuple[str, str, str, str, Decimal], list[tuple[dt.time, dt.time]]] = {}
    for rate in tariff.rates.all():
        key = (rate.kind, rate.label, rate.days, rate.months, rate.rate_c)
        groups.setdefault(key, []).append((rate.start_time, rate.end_time))
    rows = []
    for (kind, label, days, months, rate_c), spans in groups.items():
        kind_words = KIND_WORDS.get(kind, kind.title())
        what = f"{kind_words} · {label}" if label else kind_words
        note = "part of the import price" if kind == TariffRate.Kind.LINES else ""
        rows.append(
            TariffRow(
                what=what,
                when=window_words(days, months, spans),
                price=f"{_c(rate_c)} c/kWh {_gst(tariff.prices_include_gst)}",
                note=note,
            )
        )
    rows.append(
        TariffRow(
            what="Export buy-back",
            when="all day",
            price=f"{_c(tariff.buyback_c)} c/kWh {_gst(tariff.buyback_includes_gst)}",
        )
    )
    return rows


@register.simple_tag
def tariff_table(tariff: Tariff) -> dict[str, object]:
    """For coop/_tariff.html: the rows and the daily charge ("$1.80/day incl. GST")."""
    return {
        "rows": tariff_rows(tariff),
        "daily": f"{dollars(tariff.daily_fixed_c)}/day {_gst(tariff.prices_include_gst)}",
        "buyback": f"{_c(tariff.buyback_c)} c/kWh {_gst(tariff.buyback_includes_gst)}",
    }

"""Household tariffs, priced per half hour. Pure Python: the market and statements call it.

A tariff is a daily fixed charge, import rates by time-of-use window, an export buy-back rate
and (optionally) lines charges by window. Windows are written the way retailers and Vector
publish them, in NZ local wall-clock time: days ("Mon-Fri", "Sat,Sun", "All"), a time range
("07:00-11:00", "23:00-07:00" wraps midnight) and months ("Apr-Sep", "All").

Every price that leaves this module excludes GST: the exchange trades, settles and compares in
GST-exclusive cents, because wholesale prices and buy-back rates are quoted that way, and
retail prices are converted once here rather than in every caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from coop.nz import NZ, remove_gst

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
SLOTS_PER_DAY = 48


class TariffError(ValueError):
    """A tariff that cannot price every half hour exactly once."""


def _parse_list(text: str, names: Sequence[str], what: str) -> frozenset[int]:
    """'Mon-Fri,Sun' -> {0,1,2,3,4,6}; numbers (1-based) work too: '4-9' for Apr-Sep."""
    text = (text or "").strip().lower()
    if text in ("all", "*", ""):
        return frozenset(range(len(names)))

    def index(token: str) -> int:
        token = token.strip()
        if token.isdigit() and 1 <= int(token) <= len(names):
            return int(token) - 1
        if token[:3] in names:
            return names.index(token[:3])
        raise TariffError(
            f"{token!r} is not a {what}; use e.g. {names[0].title()}-{names[4].title()}"
        )

    chosen: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, last = (index(t) for t in part.split("-", 1))
            span = (
                range(first, last + 1)
                if first <= last
                else [*range(first, len(names)), *range(0, last + 1)]
            )
            chosen.update(span)
        else:
            chosen.add(index(part))
    return frozenset(chosen)


def parse_days(text: str) -> frozenset[int]:
    return _parse_list(text, DAY_NAMES, "day of the week")


def parse_months(text: str) -> frozenset[int]:
    return _parse_list(text, MONTH_NAMES, "month")


def _slot(t: dt.time) -> int:
    if t.second or t.microsecond or t.minute not in (0, 30):
        raise TariffError(f"{t:%H:%M} is not on a half hour; windows start and end on :00 or :30")
    return t.hour * 2 + t.minute // 30


@dataclass(frozen=True)
class Window:
    """One time-of-use window and its rate in c/kWh, as the tariff states it."""

    label: str
    days: str
    start: dt.time
    end: dt.time
    months: str
    rate_c: Decimal

    def slots(self) -> Iterable[tuple[int, int, int]]:
        """(month, weekday, half-hour slot) triples this window covers."""
        first, last = _slot(self.start), _slot(self.end)
        # 00:00-00:00 is the whole day; an end before the start wraps past midnight.
        day_slots = (
            list(range(first, last)) if first < last else [*range(first, 48), *range(0, last)]
        )
        for month in parse_months(self.months):
            for day in parse_days(self.days):
                for slot in day_slots:
                    yield month, day, slot


def check_windows(windows: Sequence[Window], what: str) -> None:
    """Every half hour of every day of every month priced exactly once, or TariffError."""
    owner: dict[tuple[int, int, int], str] = {}
    for window in windows:
        if window.rate_c < 0:
            raise TariffError(f"{what} window {window.label!r} has a negative rate")
        for key in window.slots():
            if key in owner:
                month, day, slot = key
                raise TariffError(
                    f"{what} windows {owner[key]!r} and {window.label!r} overlap on "
                    f"{DAY_NAMES[day].title()} in {MONTH_NAMES[month].title()} at {_clock(slot)}"
                )
            owner[key] = window.label
    for month in range(12):
        for day in range(7):
            for slot in range(SLOTS_PER_DAY):
                if (month, day, slot) not in owner:
                    where = f"{DAY_NAMES[day].title()} in {MONTH_NAMES[month].title()}"
                    raise TariffError(
                        f"{what} windows leave a gap: nothing prices {where} at {_clock(slot)}"
                    )


def _clock(slot: int) -> str:
    return f"{slot // 2:02d}:{(slot % 2) * 30:02d}"


@dataclass(frozen=True)
class HalfHourPrices:
    """What one half hour costs an ICP, c/kWh excluding GST."""

    import_c: Decimal
    export_c: Decimal
    lines_c: Decimal


@dataclass(frozen=True)
class TariffSpec:
    daily_fixed_c: Decimal
    buyback_c: Decimal
    import_windows: tuple[Window, ...]
    lines_windows: tuple[Window, ...] = ()
    prices_include_gst: bool = True
    buyback_includes_gst: bool = False

    def validate(self) -> None:
        if self.daily_fixed_c < 0:
            raise TariffError("the daily fixed charge cannot be negative")
        if self.buyback_c < 0:
            raise TariffError("the buy-back rate cannot be negative")
        if not self.import_windows:
            raise TariffError("a tariff needs at least one import rate window")
        check_windows(self.import_windows, "import")
        if self.lines_windows:
            check_windows(self.lines_windows, "lines")

    def _excl(self, value: Decimal, includes_gst: bool) -> Decimal:
        return remove_gst(value) if includes_gst else value

    def _rate(self, windows: Sequence[Window], month: int, day: int, slot: int) -> Decimal:
        for window in windows:
            if (month, day, slot) in covered_slots(window):
                return window.rate_c
        raise TariffError(f"no window prices {_clock(slot)}")

    def prices_at(self, start_utc: dt.datetime) -> HalfHourPrices:
        """Prices of the half hour starting at `start_utc`, read on the local wall clock."""
        key = slot_key(start_utc)
        lines = self._rate(self.lines_windows, *key) if self.lines_windows else Decimal(0)
        return HalfHourPrices(
            import_c=self._excl(self._rate(self.import_windows, *key), self.prices_include_gst),
            export_c=self._excl(self.buyback_c, self.buyback_includes_gst),
            lines_c=self._excl(lines, self.prices_include_gst),
        )

    def daily_fixed_excl_c(self) -> Decimal:
        return self._excl(self.daily_fixed_c, self.prices_include_gst)


def slot_key(start_utc: dt.datetime) -> tuple[int, int, int]:
    """(month, weekday, half-hour slot) of an instant on the NZ wall clock."""
    local = start_utc.astimezone(NZ)
    return local.month - 1, local.weekday(), local.hour * 2 + local.minute // 30


_COVER_CACHE: dict[Window, frozenset[tuple[int, int, int]]] = {}


def covered_slots(window: Window) -> frozenset[tuple[int, int, int]]:
    # Windows are frozen and few; caching their slot sets makes pricing a set lookup.
    cached = _COVER_CACHE.get(window)
    if cached is None:
        cached = _COVER_CACHE[window] = frozenset(window.slots())
    return cached

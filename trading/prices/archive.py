"""EMI FinalEnergyPrices files, daily or monthly, in the current and the retired format.

Current: TradingDate,TradingPeriod,PointOfConnection,DollarsPerMegawattHour (2026-07-08,1,...)
Retired: Trading_date,Trading_period,Node,Price (dates written 2015-07-08 or 08/07/2015)

A file with any bad row is refused whole: every problem is reported with its line number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation

from coop import nz
from trading.prices.points import NODE, PricePoint

HEADERS = {
    ("TradingDate", "TradingPeriod", "PointOfConnection", "DollarsPerMegawattHour"): "current",
    ("Trading_date", "Trading_period", "Node", "Price"): "legacy",
}
MAX_PRICE = Decimal(100_000)  # the scarcity cap is far below this; anything above is garbage


class ArchiveError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(errors[:10]) + (f" (and {len(errors) - 10} more)" if len(errors) > 10 else "")
        )


def _date(text: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007  a date alone, no time
        except ValueError:
            continue
    raise ValueError(f"date {text!r} is not YYYY-MM-DD or dd/mm/yyyy")


def parse(
    lines: Iterable[str], *, kind: str = "final", source: str = "emi-archive"
) -> list[PricePoint]:
    iterator: Iterator[str] = iter(lines)
    header = next(iterator, "").lstrip("\ufeff").strip()
    columns = tuple(c.strip().strip('"') for c in header.split(","))
    if columns not in HEADERS:
        raise ArchiveError(
            [
                f"line 1: not an EMI price file: expected {', '.join(next(iter(HEADERS)))} "
                f"or the legacy Trading_date,Trading_period,Node,Price header"
            ]
        )
    days: dict[str, tuple[dt.date, dict[str, tuple[int, dt.datetime]]]] = {}
    points: list[PricePoint] = []
    errors: list[str] = []
    for number, raw in enumerate(iterator, start=2):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip().strip('"') for f in line.split(",")]
        if len(fields) != 4:
            errors.append(f"line {number}: expected 4 fields, got {len(fields)}")
            continue
        date_text, period_text, node, price_text = fields
        day = days.get(date_text)
        if day is None:
            try:
                date = _date(date_text)
            except ValueError as exc:
                errors.append(f"line {number}: {exc}")
                continue
            day = days[date_text] = (date, {str(n): (n, s) for n, s, _ in nz.trading_periods(date)})
        found = day[1].get(period_text)
        if found is None:
            errors.append(
                f"line {number}: trading period {period_text!r} is out of range for "
                f"{day[0]:%Y-%m-%d} ({len(day[1])} periods)"
            )
            continue
        if not NODE.match(node):
            errors.append(f"line {number}: {node!r} is not a node code such as OTA2201")
            continue
        try:
            price = Decimal(price_text)
        except InvalidOperation:
            errors.append(f"line {number}: price {price_text!r} is not a number")
            continue
        if not price.is_finite() or abs(price) > MAX_PRICE:
            errors.append(f"line {number}: price {price_text} $/MWh is not plausible")
            continue
        points.append(PricePoint(node, day[0], found[0], found[1], price, kind, source))
        if len(errors) > 200:
            break
    if errors:
        raise ArchiveError(errors)
    return points

"""New Zealand electricity rules that every part of the exchange relies on.

Pure Python: no Django, so the market engine, the metering parsers and the checks can all use
it. Sources: the Electricity Authority's ICP checksum algorithm and the trading-period
definition in the Electricity Industry Participation Code (half hours numbered from 1 at local
midnight, so 46 on the day daylight saving starts and 50 on the day it ends).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

NZ = ZoneInfo("Pacific/Auckland")
UTC = dt.UTC
TRADING_PERIOD = dt.timedelta(minutes=30)
GST_RATE = Decimal("0.15")

_ICP_SHAPE = re.compile(r"^[0-9]{10}[A-Z]{2}[0-9A-F]{3}$")
_CRC12_POLY = 0x180F  # x^12 + x^11 + x^3 + x^2 + x + 1


class InvalidICP(ValueError):
    """An ICP identifier that is malformed or whose checksum is wrong."""


def icp_checksum(base: str) -> str:
    """The three-hex-digit CRC-12 checksum of the first 12 characters of an ICP.

    Bit by bit, most significant bit first, over the 12 ASCII characters followed by 12 zero
    bits, as the Electricity Authority's published checksum generator does.
    """
    if len(base) != 12 or not base.isascii():
        raise InvalidICP(f"an ICP base is 12 ASCII characters, got {base!r}")
    register = 0
    bits: list[int] = []
    for byte in base.encode("ascii"):
        bits.extend((byte >> shift) & 1 for shift in range(7, -1, -1))
    bits.extend([0] * 12)
    for bit in bits:
        register = (register << 1) | bit
        if register & 0x1000:
            register ^= _CRC12_POLY
    return f"{register & 0xFFF:03X}"


def validate_icp(icp: str) -> str:
    """Return the ICP if it is well formed, else raise InvalidICP saying what is wrong."""
    if not _ICP_SHAPE.match(icp or ""):
        raise InvalidICP(
            f"{icp!r} is not an ICP: expected 10 digits, 2 uppercase letters (the distributor) "
            "and a 3-character hex checksum, e.g. 0000638109TRE20"
        )
    if icp[12:] != icp_checksum(icp[:12]):
        # Never the right checksum: a mistyped number "fixed" by copying it would be some
        # other connection's ICP. The number to trust is the one on the bill.
        raise InvalidICP(
            f"ICP {icp} has a wrong checksum: one of its characters is mistyped. Check the "
            "number against the power bill (or the retailer's letter) and type it again."
        )
    return icp


def is_valid_icp(icp: str) -> bool:
    try:
        validate_icp(icp)
    except InvalidICP:
        return False
    return True


def trading_day_start(day: dt.date) -> dt.datetime:
    """Local midnight of an NZ trading day, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=NZ).astimezone(UTC)


def trading_period_count(day: dt.date) -> int:
    """46, 48 or 50: the length of the local day in half hours."""
    length = trading_day_start(day + dt.timedelta(days=1)) - trading_day_start(day)
    return int(length / TRADING_PERIOD)


def trading_periods(day: dt.date) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """Every trading period of an NZ trading day as (number, UTC start, UTC end).

    Computed in UTC from local midnight: adding 30 minutes to local wall-clock times would skip
    or repeat an hour on the daylight-saving change days.
    """
    start = trading_day_start(day)
    return [
        (n, start + (n - 1) * TRADING_PERIOD, start + n * TRADING_PERIOD)
        for n in range(1, trading_period_count(day) + 1)
    ]


def trading_period_start(day: dt.date, period: int) -> dt.datetime:
    """UTC start of trading period `period` of `day`; ValueError if the day has no such TP."""
    count = trading_period_count(day)
    if not 1 <= period <= count:
        raise ValueError(f"{day.isoformat()} has {count} trading periods, not {period}")
    return trading_day_start(day) + (period - 1) * TRADING_PERIOD


def today(now: dt.datetime | None = None) -> dt.date:
    """The NZ date now (or at `now`): the day a holding starts, a tariff applies, a statement
    counts. Never `date.today()`, which is the server's date: on a UTC server it is still the
    day before from NZ midnight until UTC midnight, 11 to 13 hours of every day."""
    return (now or dt.datetime.now(UTC)).astimezone(NZ).date()


def trading_period_of(instant: dt.datetime) -> tuple[dt.date, int]:
    """The NZ trading day and period number that contain an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("trading_period_of needs an aware datetime")
    day = instant.astimezone(NZ).date()
    elapsed = instant.astimezone(UTC) - trading_day_start(day)
    return day, int(elapsed // TRADING_PERIOD) + 1


CENT = Decimal("0.01")


def add_gst(amount: Decimal) -> Decimal:
    """An amount excluding GST plus 15% GST (exact; quantize where it is shown or billed)."""
    return amount * (1 + GST_RATE)


def remove_gst(amount: Decimal) -> Decimal:
    """The GST-exclusive part of a GST-inclusive amount (exact division, not rounded)."""
    return amount / (1 + GST_RATE)


def gst_component(inclusive: Decimal) -> Decimal:
    """The GST contained in a GST-inclusive amount, rounded to the cent (3/23 of it)."""
    return (inclusive * GST_RATE / (1 + GST_RATE)).quantize(CENT, rounding=ROUND_HALF_UP)


def dollars_per_mwh_to_cents_per_kwh(price: Decimal) -> Decimal:
    """EMI prices are NZD/MWh excl. GST; 1 $/MWh = 0.1 c/kWh."""
    return price / 10

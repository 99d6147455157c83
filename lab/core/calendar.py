"""The trading periods of a study span, as columns: what every input and result is indexed by.

Periods are NZ trading periods (46, 48 or 50 a day across daylight saving), numbered from local
midnight; `slot` is the local wall-clock half hour (0-47) that load shapes and tariff windows
are written in. On the day daylight saving ends, 01:00-02:00 happens twice, so two periods share
slots 2 and 3; on the day it starts, slots 4 and 5 never happen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coop.nz import NZ, trading_periods


@dataclass(frozen=True, eq=False)
class Calendar:
    first: dt.date
    last: dt.date  # inclusive
    starts_utc: npt.NDArray[np.datetime64]  # datetime64[s], UTC, (T,)
    local_date: npt.NDArray[np.datetime64]  # datetime64[D], the NZ trading day, (T,)
    trading_period: npt.NDArray[np.int64]  # 1..50, (T,)
    slot: npt.NDArray[np.int64]  # local wall-clock half hour of the day, 0..47, (T,)
    month: npt.NDArray[np.int64]  # local month 1..12, (T,)
    weekday: npt.NDArray[np.int64]  # local Monday=0 .. Sunday=6, (T,)
    day_index: npt.NDArray[np.int64]  # 0 for the first day, (T,)

    @property
    def periods(self) -> int:
        return len(self.starts_utc)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def day_starts(self) -> npt.NDArray[np.int64]:
        """Index of each day's first period, (days + 1,): the last entry is T."""
        return np.searchsorted(self.day_index, np.arange(self.days + 1)).astype(np.int64)


def calendar(first: dt.date, last: dt.date) -> Calendar:
    if last < first:
        raise ValueError(f"the span ends ({last}) before it starts ({first})")
    starts: list[dt.datetime] = []
    dates: list[dt.date] = []
    numbers: list[int] = []
    day = first
    while day <= last:
        for number, start, _ in trading_periods(day):
            starts.append(start)
            dates.append(day)
            numbers.append(number)
        day += dt.timedelta(days=1)
    local = [s.astimezone(NZ) for s in starts]
    return Calendar(
        first=first,
        last=last,
        starts_utc=np.array([s.replace(tzinfo=None) for s in starts], dtype="datetime64[s]"),
        local_date=np.array(dates, dtype="datetime64[D]"),
        trading_period=np.array(numbers, dtype=np.int64),
        slot=np.array([t.hour * 2 + t.minute // 30 for t in local], dtype=np.int64),
        month=np.array([d.month for d in dates], dtype=np.int64),
        weekday=np.array([d.weekday() for d in dates], dtype=np.int64),
        day_index=np.array([(d - first).days for d in dates], dtype=np.int64),
    )

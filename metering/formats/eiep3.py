"""EIEP3: half-hourly metering data files (Electricity Information Exchange Protocol 3).

Pure: no Django. A file is a header and detail lines:

    HDR,ICPHH,{10.0|11.0},Sender,OnBehalfOf,Recipient,RunDate dd/mm/yyyy,RunTime,FileId,
        NumRecords,ReportMonth YYYYMM,UtilityType E,FileStatus I|R|X
    DET,ICP,DataStreamIdentifier,ReadingType F|E,Date dd/mm/yyyy,TradingPeriod,ActiveEnergy kWh,
        ReactiveEnergy,ApparentEnergy,FlowDirection X|I,StreamType

Version 10 writes empty fields as the literal `null`, version 11 leaves them empty. Real v11
files repeat a trading period with the value scaled by 1000 (Wh written as kWh): the parser keeps
the kWh row and reports the scaled one, so nothing is counted twice. Any other error refuses the
whole file, with every problem listed by line number.

A large file is first cut into columns in C (metering.formats.columns) and each column's distinct
values checked once; only when that finds something wrong, or the file is not plain enough to
number its lines that way, is it read line by line, so that every refusal names its lines.

Longer than our other modules, on purpose: the header rules, the columnar reader (one class that
checks each column once, at bulk speed) and the writer share this one format's field rules, and
split they would each need the others.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from itertools import repeat
from typing import NamedTuple

import numpy as np

from coop import nz
from coop.units import WH_PER_KWH, wh_to_kwh
from metering.formats.columns import Columns, split
from metering.formats.streams import Streams

VERSIONS = ("10.0", "11.0")
FILE_STATUSES = {"I": "initial", "R": "replacement", "X": "partial"}
FLOWS = {"X": "import", "I": "export"}  # X: consumption from the grid, I: injection into it
MAX_KWH_PER_HALF_HOUR = Decimal(1000)
MAX_ERRORS = 200
CHUNK_LINES = 65_536
# Below this a file is read line by line: it is quick, and names any wrong line.
FAST_MIN_CHARS = 64 * 1024


class EIEPError(ValueError):
    """A file refused whole; `errors` lists every problem as 'line N: ...'."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__("; ".join(errors[:20]) + more)


@dataclass(frozen=True)
class Header:
    version: str
    sender: str
    on_behalf_of: str
    recipient: str
    run_date: dt.date
    run_time: str
    file_id: str
    record_count: int
    report_month: str
    file_status: str


class Record(NamedTuple):
    """One half-hour value of one data stream (a NamedTuple: files have millions of them)."""

    line: int
    icp: str
    stream: str
    reading_type: str  # F final, E estimated
    date: dt.date
    period: int
    interval_start: dt.datetime
    kwh: Decimal
    flow: str  # X import, I export
    stream_type: str


@dataclass
class Parsed:
    header: Header
    streams: Streams
    warnings: list[str]
    slot_days: list[tuple[dt.date, int]]  # (trading date, TP) of each of streams.starts
    stream_types: list[str]  # the file's stream types; `stream_type` indexes into it
    stream_type: np.ndarray  # per stream value, in streams' row order

    @cached_property
    def records(self) -> list[Record]:
        """The values as one object each: for small files, tests and writing files again."""
        s = self.streams
        records = []
        for i in range(len(s)):
            date, period = self.slot_days[s.slot[i]]
            records.append(
                Record(
                    int(s.line[i]),
                    s.icps[s.icp[i]],
                    s.stream_names[s.stream[i]],
                    "E" if s.estimated[i] else "F",
                    date,
                    period,
                    s.starts[s.slot[i]],
                    wh_to_kwh(s.wh[i]),
                    "I" if s.export[i] else "X",
                    self.stream_types[self.stream_type[i]],
                )
            )
        return records


class _Calendar:
    """Trading-period starts per date, computed once per date in a file."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[dt.date, int, dict[str, tuple[int, dt.datetime]]]] = {}

    def day(self, text: str) -> tuple[dt.date, int, dict[str, tuple[int, dt.datetime]]]:
        """(date, TP count, {'1': (1, UTC start), ...}) for a dd/mm/yyyy date."""
        known = self._days.get(text)
        if known is None:
            date = _date(text)
            periods = {str(n): (n, start) for n, start, _ in nz.trading_periods(date)}
            known = self._days[text] = (date, len(periods), periods)
        return known


def _date(text: str) -> dt.date:
    """A dd/mm/yyyy date (ValueError if it is not one)."""
    return dt.datetime.strptime(text, "%d/%m/%Y").date()  # noqa: DTZ007  (a date: no instant)


def _field(value: str) -> str:
    return "" if value == "null" else value


def parse_header(line: str, errors: list[str]) -> Header | None:
    fields = line.rstrip("\r\n").split(",")
    if len(fields) != 13 or fields[0] != "HDR" or fields[1] != "ICPHH":
        errors.append("line 1: expected an EIEP3 header 'HDR,ICPHH,...' with 13 fields")
        return None
    (
        _,
        _,
        version,
        sender,
        behalf,
        recipient,
        run_date,
        run_time,
        file_id,
        count,
        month,
        utility,
        status,
    ) = fields
    problems = []
    if version not in VERSIONS:
        problems.append(f"version {version!r} is not one of {', '.join(VERSIONS)}")
    if utility != "E":
        problems.append(f"utility type {utility!r} should be E (electricity)")
    if status not in FILE_STATUSES:
        problems.append(f"file status {status!r} should be I, R or X")
    try:
        parsed_date = _date(run_date)
    except ValueError:
        problems.append(f"run date {run_date!r} is not dd/mm/yyyy")
        parsed_date = dt.date.min
    if not count.isdigit():
        problems.append(f"record count {count!r} is not a number")
    if len(month) != 6 or not month.isdigit():
        problems.append(f"report month {month!r} is not YYYYMM")
    errors.extend(f"line 1: {p}" for p in problems)
    if problems:
        return None
    return Header(
        version,
        sender,
        behalf,
        recipient,
        parsed_date,
        run_time,
        file_id,
        int(count),
        month,
        status,
    )


def parse(text: str | Iterable[str], *, max_kwh: Decimal = MAX_KWH_PER_HALF_HOUR) -> Parsed:
    """Parse a whole file, or raise EIEPError listing every problem by line number.

    A large plain file is cut into columns in C first (`_read_columns`); if any value there is
    not plainly right, the file is read again line by line, which names every wrong line."""
    if isinstance(text, str) and len(text) >= FAST_MIN_CHARS:
        parsed = _read_columns(text, max_kwh)
        if parsed is not None:
            return parsed
    lines = text.splitlines() if isinstance(text, str) else [t.rstrip("\r\n") for t in text]
    if not lines:
        raise EIEPError(["line 1: the file is empty"])
    errors: dict[int, str] = {}  # line -> its first problem
    header_errors: list[str] = []
    header = parse_header(lines[0].lstrip("\ufeff"), header_errors)
    reader = _ColumnReader(max_kwh, errors)
    for offset in range(1, len(lines), CHUNK_LINES):
        reader.read(lines[offset : offset + CHUNK_LINES], first_number=offset + 1)
    return _parsed(header, header_errors, reader)


def _read_columns(text: str, max_kwh: Decimal) -> Parsed | None:
    """The fast way in, or None when the file needs reading line by line."""
    columns = split(
        text,
        fields=11,
        coded=(0, 1, 2, 3, 4, 9, 10),
        scaled={5: (_PERIOD_PATTERN, 1), 6: (_PLAIN_KWH_ASCII, WH_PER_KWH)},
    )
    if columns is None:
        return None
    header_errors: list[str] = []
    header = parse_header(columns.header.lstrip("\ufeff"), header_errors)
    reader = _ColumnReader(max_kwh, {})
    if not reader.read_columns(columns, first_number=2):
        return None
    return _parsed(header, header_errors, reader)


def _parsed(header: Header | None, header_errors: list[str], reader: _ColumnReader) -> Parsed:
    """The checks that need the whole file, then the result or the refusal."""
    errors = reader.errors
    streams, stream_type, warnings = reader.finish()
    if header and reader.count != header.record_count:
        header_errors.append(
            f"line 1: the header says {header.record_count} records but the file has {reader.count}"
        )
    if header_errors or errors or header is None:
        listed = [errors[n] for n in sorted(errors)]
        if len(listed) > MAX_ERRORS:
            listed = [
                *listed[:MAX_ERRORS],
                f"... and {len(listed) - MAX_ERRORS} more lines refused",
            ]
        raise EIEPError(header_errors + listed)
    stream_types = [_field(t) for t in reader.stream_type_code]
    return Parsed(header, streams, warnings, reader.slot_days, stream_types, stream_type)


class _ColumnReader:
    """Validates detail lines a chunk at a time, column by column.

    Each distinct value of a column (an ICP, a date, a flow) is checked once, and a column is
    only walked line by line when it holds a bad value, to name the lines. Lines are split as
    one flat list and columns sliced out of it: no per-line objects for the collector to chase.
    """

    def __init__(self, max_kwh: Decimal, errors: dict[int, str]) -> None:
        self.max_wh = int(max_kwh * WH_PER_KWH)
        self.errors = errors
        self.count = 0
        self.calendar = _Calendar()
        self.icp_code: dict[str, int] = {}
        self.icp_problem: dict[str, str] = {}
        self.icps: list[str] = []
        self.slot_code: dict[tuple[str, str], int] = {}
        self.starts: list[dt.datetime] = []
        self.slot_days: list[tuple[dt.date, int]] = []
        self.stream_code: dict[str, int] = {}
        self.stream_type_code: dict[str, int] = {}
        self.bad_dates: set[str] = set()
        self.chunks: list[tuple[np.ndarray, ...]] = []

    def fail(self, numbers: np.ndarray, rows: Iterable[int], message: Callable[[int], str]) -> None:
        for i in rows:
            self.errors.setdefault(int(numbers[i]), f"line {numbers[i]}: {message(i)}")

    def read(self, part: list[str], *, first_number: int) -> None:
        if set(map(str.count, part, repeat(","))) == {10}:
            numbers = np.arange(first_number, first_number + len(part), dtype=np.int64)
            self.count += len(part)
        else:
            keep = []
            for i, line in enumerate(part):
                commas = line.count(",")
                if not line.strip():
                    continue
                self.count += 1
                if commas == 10:
                    keep.append(i)
                else:
                    self.errors[first_number + i] = (
                        f"line {first_number + i}: expected a detail line 'DET,...' with 11 "
                        f"fields, got {commas + 1}"
                    )
            part = [part[i] for i in keep]
            numbers = first_number + np.array(keep, dtype=np.int64)
        if not part:
            return
        flat = ",".join(part).split(",")
        det, icps, streams, kinds, dates, periods, kwhs, _, _, flows, types = (
            flat[k::11] for k in range(11)
        )
        if set(det) != {"DET"}:
            self.fail(
                numbers,
                (i for i, v in enumerate(det) if v != "DET"),
                lambda _i: "expected a detail line 'DET,...' with 11 fields, got 11",
            )
        icp = self._icp_codes(icps, numbers)
        if not set(kinds) <= {"F", "E"}:
            self.fail(
                numbers,
                (i for i, v in enumerate(kinds) if v not in ("F", "E")),
                lambda i: f"reading type {kinds[i]!r} should be F (final) or E (estimated)",
            )
        if not set(flows) <= set(FLOWS):
            self.fail(
                numbers,
                (i for i, v in enumerate(flows) if v not in FLOWS),
                lambda i: f"flow direction {flows[i]!r} should be X (import) or I (export)",
            )
        slot = self._slot_codes(dates, periods, numbers)
        wh = self._watt_hours(kwhs, numbers)
        stream = self._codes(self.stream_code, streams)
        stream_type = self._codes(self.stream_type_code, types)
        export = np.fromiter(map("I".__eq__, flows), bool, len(flows))
        estimated = np.fromiter(map("E".__eq__, kinds), bool, len(kinds))
        self.chunks.append((icp, slot, stream, wh, export, estimated, numbers, stream_type))

    def read_columns(self, columns: Columns, *, first_number: int) -> bool:
        """Take a whole file's columns (metering.formats.columns) if every distinct value in
        them is right; False, with nothing usable kept, at the first that is not (the caller
        then reads the file line by line to name the lines)."""
        det, icps, streams, kinds, dates, flows, types = (
            columns.coded[k] for k in (0, 1, 2, 3, 4, 9, 10)
        )
        if det.values != ["DET"] or not {*kinds.values} <= {"F", "E"}:
            return False
        if not {*flows.values} <= set(FLOWS):
            return False
        icp_codes = []
        for icp in icps.values:
            try:
                nz.validate_icp(icp)
            except nz.InvalidICP:
                return False
            icp_codes.append(self.icp_code.setdefault(icp, len(self.icps)))
            if icp_codes[-1] == len(self.icps):
                self.icps.append(icp)
        # slot_of[date, period]: the half hour's code, or -1 for a period the day does not have.
        slot_of = np.full((len(dates.values), 100), -1, np.int32)
        for d, text in enumerate(dates.values):
            try:
                date, _, day_periods = self.calendar.day(text)
            except ValueError:
                return False
            for period_text, (period, start) in day_periods.items():
                code = self.slot_code.setdefault((text, period_text), len(self.starts))
                if code == len(self.starts):
                    self.starts.append(start)
                    self.slot_days.append((date, period))
                slot_of[d, period] = code
        slot = slot_of[dates.codes, columns.scaled[5]]
        if (slot < 0).any():
            return False
        n = columns.rows
        self.count += n
        self.chunks.append(
            (
                np.array(icp_codes, np.int32)[icps.codes],
                slot,
                self._codes(self.stream_code, streams.values)[streams.codes],
                columns.scaled[6],
                (np.array(flows.values) == "I")[flows.codes],
                (np.array(kinds.values) == "E")[kinds.codes],
                np.arange(first_number, first_number + n, dtype=np.int64),
                self._codes(self.stream_type_code, types.values)[types.codes],
            )
        )
        return True

    @staticmethod
    def _codes(known: dict[str, int], values: list[str]) -> np.ndarray:
        for value in set(values).difference(known):
            known[value] = len(known)
        return np.fromiter(map(known.__getitem__, values), np.int32, len(values))

    def _icp_codes(self, icps: list[str], numbers: np.ndarray) -> np.ndarray:
        for icp in set(icps).difference(self.icp_code, self.icp_problem):
            try:
                nz.validate_icp(icp)
            except nz.InvalidICP as exc:
                self.icp_problem[icp] = str(exc)
            else:
                self.icp_code[icp] = len(self.icps)
                self.icps.append(icp)
        codes = np.fromiter(map(self.icp_code.get, icps, repeat(-1)), np.int32, len(icps))
        if (codes < 0).any():
            self.fail(numbers, np.flatnonzero(codes < 0), lambda i: self.icp_problem[icps[i]])
        return codes

    def _slot_codes(self, dates: list[str], periods: list[str], numbers: np.ndarray) -> np.ndarray:
        for text in set(dates).difference(self.bad_dates):
            try:
                date, _, day_periods = self.calendar.day(text)
            except ValueError:
                self.bad_dates.add(text)
                continue
            for period_text, (period, start) in day_periods.items():
                if (text, period_text) not in self.slot_code:
                    self.slot_code[(text, period_text)] = len(self.starts)
                    self.starts.append(start)
                    self.slot_days.append((date, period))
        codes = np.fromiter(
            map(self.slot_code.get, zip(dates, periods, strict=True), repeat(-1)),
            np.int32,
            len(dates),
        )
        if (codes < 0).any():

            def problem(i: int) -> str:
                if dates[i] in self.bad_dates:
                    return f"date {dates[i]!r} is not dd/mm/yyyy"
                date, tp_count, _ = self.calendar.day(dates[i])
                return (
                    f"trading period {periods[i]!r} is out of range: "
                    f"{date:%d/%m/%Y} has {tp_count} trading periods"
                )

            self.fail(numbers, np.flatnonzero(codes < 0), problem)
        return codes

    def _watt_hours(self, kwhs: list[str], numbers: np.ndarray) -> np.ndarray:
        if _NOT_PLAIN_KWH.search("\n".join(kwhs)):
            kwhs = list(kwhs)
            for i, text in enumerate(kwhs):
                if not _PLAIN_KWH.fullmatch(text):
                    self.errors.setdefault(
                        int(numbers[i]), f"line {numbers[i]}: {_kwh_problem(text)}"
                    )
                    kwhs[i] = "0"
        # Exact: every value is a plain decimal of at most 9 + 3 digits, so the nearest double
        # times 1000 is within 1e-6 of its whole number of watt-hours.
        return np.rint(np.array(kwhs, dtype=np.float64) * WH_PER_KWH).astype(np.int64)

    def finish(self) -> tuple[Streams, np.ndarray, list[str]]:
        if not self.chunks:
            self.chunks.append(tuple(np.zeros(0, t) for t in _COLUMN_TYPES))
        columns = (np.concatenate(c) for c in zip(*self.chunks, strict=True))
        icp, slot, stream, wh, export, estimated, line, stream_type = columns
        keep = np.isin(line, np.fromiter(self.errors, np.int64, len(self.errors)), invert=True)
        warnings: list[tuple[int, str]] = []
        self._repeats(icp, slot, stream, wh, export, line, keep, warnings)
        streams = Streams(
            icps=self.icps,
            starts=self.starts,
            stream_names=list(self.stream_code),
            icp=icp[keep],
            slot=slot[keep],
            stream=stream[keep],
            wh=wh[keep],
            export=export[keep],
            estimated=estimated[keep],
            line=line[keep],
        )
        return streams, stream_type[keep], [w for _, w in sorted(warnings)]

    def _repeats(
        self,
        icp: np.ndarray,
        slot: np.ndarray,
        stream: np.ndarray,
        wh: np.ndarray,
        export: np.ndarray,
        line: np.ndarray,
        keep: np.ndarray,
        warnings: list[tuple[int, str]],
    ) -> None:
        """Repeated stream values and implausibly large ones, decided with the whole file read.

        A repeat scaled by 1000 (Wh written as kWh, seen in real v11 files) keeps the kWh value
        and is reported; an exact repeat is counted once; a different value refuses the file. A
        value too large for a half hour is only accepted as the scaled copy of another line.
        """
        large = keep & (wh > self.max_wh)
        key = (
            (icp.astype(np.int64) * (len(self.stream_code) + 1) + stream) * (len(self.starts) + 1)
            + slot
        ) * 2 + export
        candidates = np.flatnonzero(keep)
        order = candidates[np.argsort(key[candidates], kind="stable")]
        sorted_keys = key[order]
        repeated = np.zeros(len(order), bool)
        repeated[1:] = sorted_keys[1:] == sorted_keys[:-1]
        repeated[:-1] |= repeated[1:]
        involved = order[repeated | large[order]]
        groups: dict[int, list[int]] = {}
        for i in involved.tolist():
            groups.setdefault(int(key[i]), []).append(i)
        stream_names = list(self.stream_code)
        for rows in groups.values():
            kept = None
            for i in rows:
                if large[i]:
                    continue
                if kept is None:
                    kept = i
                elif _is_scaled(int(wh[kept]), int(wh[i])):
                    small, copy = (i, kept) if wh[i] < wh[kept] else (kept, i)
                    warnings.append(
                        (int(line[copy]), self._scaled(copy, small, icp, slot, wh, line))
                    )
                    keep[copy] = False
                    kept = small
                elif wh[i] == wh[kept]:
                    warnings.append(
                        (
                            int(line[i]),
                            f"line {line[i]}: repeats line {line[kept]} exactly; counted once",
                        )
                    )
                    keep[i] = False
                else:
                    date, period = self.slot_days[slot[i]]
                    self.errors[int(line[i])] = (
                        f"line {line[i]}: {self.icps[icp[i]]} stream {stream_names[stream[i]]} "
                        f"TP{period} on {date:%d/%m/%Y} repeats line {line[kept]} with a different "
                        f"value ({wh_to_kwh(wh[i])} vs {wh_to_kwh(wh[kept])})"
                    )
                    keep[i] = False
            for i in rows:
                if not large[i]:
                    continue
                keep[i] = False
                if kept is not None and _is_scaled(int(wh[kept]), int(wh[i])):
                    warnings.append((int(line[i]), self._scaled(i, kept, icp, slot, wh, line)))
                else:
                    self.errors[int(line[i])] = (
                        f"line {line[i]}: active energy {wh_to_kwh(wh[i])} kWh is not a plausible "
                        f"half-hour reading (0 to {wh_to_kwh(self.max_wh)})"
                    )

    def _scaled(
        self,
        copy: int,
        kept: int,
        icp: np.ndarray,
        slot: np.ndarray,
        wh: np.ndarray,
        line: np.ndarray,
    ) -> str:
        date, period = self.slot_days[slot[copy]]
        return (
            f"line {line[copy]}: {self.icps[icp[copy]]} TP{period} on {date:%d/%m/%Y} repeats line "
            f"{line[kept]} scaled by 1000 ({wh_to_kwh(wh[copy])}); counted once, as kWh"
        )


_COLUMN_TYPES = (np.int32, np.int32, np.int32, np.int64, bool, bool, np.int64, np.int32)

# A plain non-negative decimal with at most 3 places (watt-hours); anything else is looked at
# line by line to say what is wrong with it.
_PLAIN_KWH = re.compile(r"\d{1,9}(?:\.\d{0,3})?")
_NOT_PLAIN_KWH = re.compile(r"^(?!\d{1,9}(?:\.\d{0,3})?$)", re.MULTILINE)
# The same in RE2 for the columns read in C, ASCII digits only (Python's \d takes any script's,
# which the line reader then judges); and a trading period as str(n) writes it.
_PLAIN_KWH_ASCII = r"[0-9]{1,9}(?:\.[0-9]{0,3})?"
_PERIOD_PATTERN = r"[1-9][0-9]?"


def _kwh_problem(text: str) -> str:
    try:
        kwh = Decimal(text)
    except InvalidOperation:
        return f"active energy {text!r} is not a number"
    if not kwh.is_finite():
        return f"active energy {text!r} is not a number"
    if kwh < 0:
        return f"active energy {text} kWh cannot be negative"
    if kwh.as_tuple().exponent < -3:  # type: ignore[operator]
        return f"active energy {text} kWh has more than 3 decimal places (watt-hours)"
    return f"active energy {text} kWh is not a plausible half-hour reading"


def _is_scaled(small_wh: int, large_wh: int) -> bool:
    """Is one value the other written in Wh as if kWh? Within rounding of the larger (0.5 of its
    unit); a zero has no scaled copy other than zero, which is an exact repeat."""
    small_wh, large_wh = sorted((small_wh, large_wh))
    return small_wh > 0 and abs(small_wh * WH_PER_KWH - large_wh) <= WH_PER_KWH // 2


def write(
    records: Iterable[Record | tuple],
    *,
    version: str = "10.0",
    sender: str = "HAPO",
    on_behalf_of: str = "HAPO",
    recipient: str = "RCPT",
    run_at: dt.datetime | None = None,
    file_id: str = "000",
    report_month: str | None = None,
    file_status: str = "I",
) -> str:
    """An EIEP3 file. Records are Record objects or (icp, stream, reading_type, date, period,
    kwh, flow, stream_type) tuples; kWh are written with 3 decimals."""
    empty = "null" if version == "10.0" else ""
    run_at = (run_at or dt.datetime.now(dt.UTC)).astimezone(nz.NZ)
    body = []
    months = set()
    for r in records:
        if isinstance(r, Record):
            r = (r.icp, r.stream, r.reading_type, r.date, r.period, r.kwh, r.flow, r.stream_type)
        icp, stream, reading_type, date, period, kwh, flow, stream_type = r
        months.add(f"{date:%Y%m}")
        body.append(
            f"DET,{icp},{stream},{reading_type},{date:%d/%m/%Y},{period},"
            f"{Decimal(kwh).quantize(Decimal('0.001'))},{empty},{empty},{flow},{stream_type or empty}"
        )
    month = report_month or (min(months) if months else f"{run_at:%Y%m}")
    header = (
        f"HDR,ICPHH,{version},{sender},{on_behalf_of},{recipient},{run_at:%d/%m/%Y},"
        f"{run_at:%H:%M:%S},{file_id},{len(body)},{month},E,{file_status}"
    )
    return "\n".join([header, *body]) + "\n"


def file_name(
    sender: str, recipient: str, report_month: str, run_date: dt.date, file_id: str
) -> str:
    """SNDR_E_RCPT_ICPHH_YYYYMM_YYYYMMDD_id.txt"""
    return f"{sender}_E_{recipient}_ICPHH_{report_month}_{run_date:%Y%m%d}_{file_id}.txt"

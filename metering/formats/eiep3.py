"""EIEP3: half-hourly metering data files (Electricity Information Exchange Protocol 3).

Pure Python. A file is a header and detail lines:

    HDR,ICPHH,{10.0|11.0},Sender,OnBehalfOf,Recipient,RunDate dd/mm/yyyy,RunTime,FileId,
        NumRecords,ReportMonth YYYYMM,UtilityType E,FileStatus I|R|X
    DET,ICP,DataStreamIdentifier,ReadingType F|E,Date dd/mm/yyyy,TradingPeriod,ActiveEnergy kWh,
        ReactiveEnergy,ApparentEnergy,FlowDirection X|I,StreamType

Version 10 writes empty fields as the literal `null`, version 11 leaves them empty. Real v11
files repeat a trading period with the value scaled by 1000 (Wh written as kWh): the parser keeps
the kWh row and reports the scaled one, so nothing is counted twice. Any other error refuses the
whole file, with every problem listed by line number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from coop import nz

VERSIONS = ("10.0", "11.0")
FILE_STATUSES = {"I": "initial", "R": "replacement", "X": "partial"}
FLOWS = {"X": "import", "I": "export"}  # X: consumption from the grid, I: injection into it
MAX_KWH_PER_HALF_HOUR = Decimal(1000)
MAX_ERRORS = 200


class EIEPError(ValueError):
    """A file refused whole; `errors` lists every problem as 'line N: ...'."""

    def __init__(self, errors: list[str]):
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
    records: list[Record]
    warnings: list[str] = field(default_factory=list)


class _Calendar:
    """Trading-period starts per date, computed once per date in a file."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[dt.date, int, dict[str, tuple[int, dt.datetime]]]] = {}

    def day(self, text: str) -> tuple[dt.date, int, dict[str, tuple[int, dt.datetime]]]:
        """(date, TP count, {'1': (1, UTC start), ...}) for a dd/mm/yyyy date."""
        known = self._days.get(text)
        if known is None:
            date = dt.datetime.strptime(text, "%d/%m/%Y").date()
            periods = {str(n): (n, start) for n, start, _ in nz.trading_periods(date)}
            known = self._days[text] = (date, len(periods), periods)
        return known


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
        parsed_date = dt.datetime.strptime(run_date, "%d/%m/%Y").date()
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
    """Parse a whole file, or raise EIEPError listing every problem by line number."""
    lines: Iterator[str] = iter(text.splitlines() if isinstance(text, str) else text)
    errors: list[str] = []
    first = next(lines, None)
    if first is None:
        raise EIEPError(["line 1: the file is empty"])
    header = parse_header(first.lstrip("\ufeff"), errors)
    calendar = _Calendar()
    seen: dict[tuple[str, str, dt.date, int, str], int] = {}
    records: list[Record] = []
    warnings: list[str] = []
    valid_icps: dict[str, str | None] = {}
    too_large: list[tuple[int, tuple, Decimal, str]] = []
    count = 0
    for number, raw in enumerate(lines, start=2):
        if len(errors) >= MAX_ERRORS:
            errors.append(f"line {number}: stopped after {MAX_ERRORS} errors")
            break
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        count += 1
        fields = line.split(",")
        if len(fields) != 11 or fields[0] != "DET":
            errors.append(
                f"line {number}: expected a detail line 'DET,...' with 11 fields, got {len(fields)}"
            )
            continue
        (
            _,
            icp,
            stream,
            reading_type,
            date_text,
            period_text,
            kwh_text,
            _r,
            _a,
            flow,
            stream_type,
        ) = fields
        problem = valid_icps.get(icp, "")
        if problem == "":
            try:
                nz.validate_icp(icp)
                problem = None
            except nz.InvalidICP as exc:
                problem = str(exc)
            valid_icps[icp] = problem
        if problem:
            errors.append(f"line {number}: {problem}")
            continue
        if reading_type not in ("F", "E"):
            errors.append(
                f"line {number}: reading type {reading_type!r} should be F (final) or E (estimated)"
            )
            continue
        if flow not in FLOWS:
            errors.append(
                f"line {number}: flow direction {flow!r} should be X (import) or I (export)"
            )
            continue
        try:
            date, tp_count, day_periods = calendar.day(date_text)
        except ValueError:
            errors.append(f"line {number}: date {date_text!r} is not dd/mm/yyyy")
            continue
        found = day_periods.get(period_text)
        if found is None:
            errors.append(
                f"line {number}: trading period {period_text!r} is out of range: "
                f"{date:%d/%m/%Y} has {tp_count} trading periods"
            )
            continue
        period, start = found
        try:
            kwh = Decimal(kwh_text)
        except InvalidOperation:
            errors.append(f"line {number}: active energy {kwh_text!r} is not a number")
            continue
        if not kwh.is_finite() or kwh < 0:
            errors.append(f"line {number}: active energy {kwh_text} kWh cannot be negative")
            continue
        if kwh > max_kwh:
            # Too large for a half hour, unless it is the Wh-as-kWh copy of another line:
            # decided once the whole file is read, since the copy may come first.
            too_large.append((number, (icp, stream, date, period, flow), kwh, kwh_text))
            continue
        key = (icp, stream, date, period, flow)

        fields = (
            number,
            icp,
            stream,
            reading_type,
            date,
            period,
            start,
            kwh,
            flow,
            _field(stream_type),
        )
        if key in seen:
            earlier = records[seen[key]]
            if _is_scaled(earlier.kwh, kwh):
                # Keep the kWh value (the smaller one) and report the Wh-as-kWh copy.
                if kwh < earlier.kwh:
                    warnings.append(
                        _scaled(earlier.line, icp, date, period, earlier.kwh, None, number)
                    )
                    records[seen[key]] = Record(*fields)
                else:
                    warnings.append(_scaled(number, icp, date, period, kwh, earlier))
                continue
            if kwh == earlier.kwh:
                warnings.append(f"line {number}: repeats line {earlier.line} exactly; counted once")
                continue
            errors.append(
                f"line {number}: {icp} stream {stream} TP{period} on {date:%d/%m/%Y} repeats "
                f"line {earlier.line} with a different value ({kwh} vs {earlier.kwh})"
            )
            continue
        seen[key] = len(records)
        records.append(Record(*fields))
    for number, key, kwh, kwh_text in too_large:
        kept = records[seen[key]] if key in seen else None
        if kept is not None and _is_scaled(kept.kwh, kwh):
            warnings.append(_scaled(number, key[0], key[2], key[3], kwh, kept))
        else:
            errors.append(
                f"line {number}: active energy {kwh_text} kWh is not a plausible half-hour "
                f"reading (0 to {max_kwh})"
            )
    if header and count != header.record_count:
        errors.append(
            f"line 1: the header says {header.record_count} records but the file has {count}"
        )
    if errors or header is None:
        raise EIEPError(errors)
    return Parsed(header, records, warnings)


def _is_scaled(a: Decimal, b: Decimal) -> bool:
    small, large = sorted((a, b))
    return abs(small * 1000 - large) <= Decimal("0.5")


def _scaled(line, icp, date, period, kwh, kept, kept_line=None) -> str:
    kept_at = kept.line if kept is not None else kept_line
    return (
        f"line {line}: {icp} TP{period} on {date:%d/%m/%Y} repeats line {kept_at} scaled by 1000 "
        f"({kwh}); counted once, as kWh"
    )


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

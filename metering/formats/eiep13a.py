"""EIEP13A: a consumer's own half-hourly consumption, as a retailer hands it to the customer.

    HDR,ICPCONS,1.1,Sender,OnBehalfOf,Recipient,RunDate,RunTime,FileId,NumRecords,...
    DET,AuthCode,ICP,ResponseCode,NZDTAdjustment,MeterSerial,FlowDirection,RegisterContentCode,
        PeriodOfAvailability,ReadStart,ReadEnd,ReadStatus RD|ES,kWh,kVArh

ReadStart and ReadEnd are NZ local wall-clock times "dd/mm/yyyy HH:MM:SS"; a half hour's start is
written HH:MM:01. In the repeated hour at the end of daylight saving the same wall-clock start
appears twice: NZDTAdjustment says which (NZDT the first, NZST the second); where it is blank the
first occurrence in the file is taken as NZDT.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from coop import nz
from metering.formats.eiep3 import MAX_KWH_PER_HALF_HOUR, EIEPError, Record

READ_STATUS = {"RD": "F", "ES": "E"}  # read -> final, estimate -> estimated


def _local_start(text: str, adjustment: str, seen_wall: set[dt.datetime]) -> dt.datetime:
    # Naive on purpose: the NZ wall clock, localised below once its fold is known.
    wall = dt.datetime.strptime(text, "%d/%m/%Y %H:%M:%S").replace(second=0)  # noqa: DTZ007
    if wall.minute not in (0, 30):
        raise ValueError(f"read start {text!r} is not the start of a half hour")
    # fold=0 is the first (daylight) occurrence of an ambiguous wall time, fold=1 the second.
    if adjustment.upper() == "NZST":
        fold = 1
    elif adjustment.upper() == "NZDT":
        fold = 0
    else:
        fold = 1 if wall in seen_wall else 0
    seen_wall.add(wall)
    local = wall.replace(tzinfo=nz.NZ, fold=fold)
    if local.astimezone(dt.UTC).astimezone(nz.NZ).replace(tzinfo=None) != wall:
        raise ValueError(f"{text} does not exist in NZ time (the hour skipped by daylight saving)")
    return local.astimezone(dt.UTC)


def parse(text: str, *, max_kwh: Decimal = MAX_KWH_PER_HALF_HOUR) -> list[Record]:
    lines = text.splitlines()
    errors: list[str] = []
    if not lines or not lines[0].lstrip("\ufeff").startswith("HDR,ICPCONS,"):
        raise EIEPError(["line 1: expected an EIEP13A header 'HDR,ICPCONS,...'"])
    header = lines[0].split(",")
    records: list[Record] = []
    seen_wall: dict[tuple[str, str], set[dt.datetime]] = {}
    seen: dict[tuple, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        f = line.rstrip("\r").split(",")
        if len(f) != 14 or f[0] != "DET":
            errors.append(
                f"line {number}: expected a detail line 'DET,...' with 14 fields, got {len(f)}"
            )
            continue
        icp, adjustment, serial, flow, register, status, kwh_text = (
            f[2],
            f[4],
            f[5],
            f[6],
            f[7],
            f[11],
            f[12],
        )
        try:
            nz.validate_icp(icp)
        except nz.InvalidICP as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if flow not in ("X", "I"):
            errors.append(
                f"line {number}: flow direction {flow!r} should be X (import) or I (export)"
            )
            continue
        if status not in READ_STATUS:
            errors.append(f"line {number}: read status {status!r} should be RD or ES")
            continue
        try:
            start = _local_start(
                f[9], adjustment, seen_wall.setdefault((icp, serial + register + flow), set())
            )
            kwh = Decimal(kwh_text)
        except (ValueError, InvalidOperation) as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if not kwh.is_finite() or not 0 <= kwh <= max_kwh:
            errors.append(f"line {number}: {kwh_text} kWh is not a plausible half-hour reading")
            continue
        if kwh.as_tuple().exponent < -3:  # type: ignore[operator]
            errors.append(
                f"line {number}: {kwh_text} kWh has more than 3 decimal places (watt-hours)"
            )
            continue
        day, period = nz.trading_period_of(start)
        key = (icp, serial + register, flow, start)
        if key in seen:
            errors.append(f"line {number}: repeats the half hour of line {seen[key]}")
            continue
        seen[key] = number
        records.append(
            Record(
                number,
                icp,
                serial + ":" + register,
                READ_STATUS[status],
                day,
                period,
                start,
                kwh,
                flow,
                "",
            )
        )
    declared = header[9] if len(header) > 9 else ""
    if not errors and declared.isdigit() and int(declared) != len(records):
        errors.append(f"line 1: the header says {declared} records but the file has {len(records)}")
    if errors:
        raise EIEPError(errors)
    return records


def write(records: list[Record], *, sender: str = "RETL", recipient: str = "CUST") -> str:
    """An EIEP13A file of these records (for tests and round trips)."""
    now = dt.datetime.now(nz.NZ)
    out = [
        f"HDR,ICPCONS,1.1,{sender},{sender},{recipient},{now:%d/%m/%Y},{now:%H:%M:%S},1,{len(records)},,"
    ]
    for r in records:
        local = r.interval_start.astimezone(nz.NZ)
        end = (r.interval_start + nz.TRADING_PERIOD).astimezone(nz.NZ)
        zone = "NZDT" if local.dst() else "NZST"
        serial, _, register = r.stream.partition(":")
        status = "RD" if r.reading_type == "F" else "ES"
        out.append(
            f"DET,AUTH,{r.icp},000,{zone},{serial},{r.flow},{register or 'UN'},24,"
            f"{local:%d/%m/%Y %H:%M}:01,{end:%d/%m/%Y %H:%M}:00,{status},{r.kwh},0"
        )
    return "\n".join(out) + "\n"

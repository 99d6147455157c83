"""The fast way into an EIEP3 file (columns cut in C, metering.formats.columns) reads exactly what
the line reader reads, and any file it cannot vouch for is read line by line, so that a refusal
still names the right lines."""

import datetime as dt

import numpy as np
import pytest

from metering.formats import columns, eiep3
from metering.formats.eiep3 import EIEPError

ICPS = ("0000638109TRE20", "0000847108TRBAA")
SPLIT = {
    "fields": 11,
    "coded": (0, 1, 2, 3, 4, 9, 10),
    "scaled": {5: (eiep3._PERIOD_PATTERN, 1), 6: (eiep3._PLAIN_KWH_ASCII, 1000)},
}


def lines(days: int = 20) -> list[str]:
    """Two ICPs, an import and an export stream, some estimates, the 50-period day daylight
    saving ends (5 April 2026) and one exact repeat and one Wh-as-kWh copy (as real v11 files)."""
    out = []
    first = dt.date(2026, 3, 25)
    for icp in ICPS:
        for d in range(days):
            date = first + dt.timedelta(days=d)
            periods = 50 if date == dt.date(2026, 4, 5) else 48
            for n in range(1, periods + 1):
                kind = "E" if (n + d) % 17 == 0 else "F"
                out.append(
                    f"DET,{icp},X1,{kind},{date:%d/%m/%Y},{n},{(n * 37 + d) % 900 / 1000:.3f},,,X,"
                )
                out.append(f"DET,{icp},I1,F,{date:%d/%m/%Y},{n},{n % 5}.{d % 10},,,I,PV")
    out.append(out[10])  # an exact repeat
    fields = out[12].split(",")
    fields[6] = f"{float(fields[6]) * 1000:.3f}"
    out.append(",".join(fields))
    return out


def text(body: list[str], *, newline: str = "\n", count: int | None = None) -> str:
    n = sum(1 for line in body if line.strip()) if count is None else count
    header = f"HDR,ICPHH,11.0,SNDR,SNDR,RCPT,09/04/2026,10:00:00,1,{n},202604,E,I"
    return newline.join([header, *body]) + newline


def by_line(parsed: eiep3.Parsed) -> list[tuple]:
    """Every value with its line, in terms that do not depend on the reader's own codes."""
    s = parsed.streams
    return sorted(
        zip(
            s.line.tolist(),
            [s.icps[i] for i in s.icp],
            [s.starts[i] for i in s.slot],
            [s.stream_names[i] for i in s.stream],
            s.wh.tolist(),
            s.export.tolist(),
            s.estimated.tolist(),
            [parsed.stream_types[i] for i in parsed.stream_type],
            strict=True,
        )
    )


def line_by_line(monkeypatch, content: str):
    with monkeypatch.context() as patch:
        patch.setattr(eiep3, "FAST_MIN_CHARS", 10**12)
        return eiep3.parse(content)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_columns_read_what_the_lines_read(monkeypatch, newline):
    content = text(lines(), newline=newline)
    assert len(content) > eiep3.FAST_MIN_CHARS
    assert columns.split(content, **SPLIT) is not None  # the fast way was taken
    fast, slow = eiep3.parse(content), line_by_line(monkeypatch, content)
    assert by_line(fast) == by_line(slow)
    assert fast.warnings == slow.warnings
    assert len(fast.warnings) == 2  # the repeat and the scaled copy, each counted once
    assert fast.header == slow.header
    assert sorted(fast.slot_days) == sorted(slow.slot_days)
    half_hours = fast.streams.half_hours()
    assert len(half_hours) == len(slow.streams.half_hours())
    assert np.array_equal(
        np.sort(half_hours.import_wh), np.sort(slow.streams.half_hours().import_wh)
    )


def bad(line_number: int, replace: str) -> tuple[list[str], int]:
    body = lines()
    body[line_number - 2] = replace
    return body, line_number


def detail(**changes: str) -> str:
    fields = dict(
        zip(
            ("det", "icp", "stream", "kind", "date", "tp", "kwh", "r", "a", "flow", "type"),
            f"DET,{ICPS[0]},X9,F,31/03/2026,7,0.250,,,X,".split(","),
            strict=True,
        )
    )
    return ",".join({**fields, **changes}.values())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (bad(1500, detail(tp="49")), "line 1500: trading period '49' is out of range"),
        (bad(1501, detail(tp="07")), "line 1501: trading period '07' is out of range"),
        (bad(1502, detail(kwh="-0.1")), "line 1502: active energy -0.1 kWh cannot be negative"),
        (bad(1503, detail(kwh="0.1234")), "line 1503: active energy 0.1234 kWh has more than 3"),
        (bad(1505, detail(icp="0000638109TRE21")), "line 1505: ICP 0000638109TRE21 has a wrong"),
        (bad(1506, detail(flow="Q")), "line 1506: flow direction 'Q'"),
        (bad(1507, detail(kind="A")), "line 1507: reading type 'A'"),
        (bad(1508, detail(date="31/04/2026")), "line 1508: date '31/04/2026' is not dd/mm/yyyy"),
        (bad(1509, detail(det="DEX")), "line 1509: expected a detail line"),
        (bad(1510, detail() + ",extra"), "line 1510: expected a detail line 'DET,...' with 11"),
        (bad(1511, detail(kwh="5000.000")), "line 1511: active energy 5000.000 kWh is not a"),
        (bad(1512, detail(kwh="0.5")), None),  # X9 TP7 again (line 1511), another value
    ],
)
def test_a_wrong_line_deep_in_a_large_file_is_named(monkeypatch, body, message):
    rows, line_number = body
    if message is None:
        rows[line_number - 3] = detail(kwh="0.250")
    content = text(rows)
    with pytest.raises(EIEPError) as fast:
        eiep3.parse(content)
    with pytest.raises(EIEPError) as slow:
        line_by_line(monkeypatch, content)
    assert fast.value.errors == slow.value.errors
    if message is not None:
        assert any(e.startswith(message) for e in fast.value.errors), fast.value.errors
    else:
        assert fast.value.errors[0].startswith(f"line {line_number}: ")


@pytest.mark.parametrize(
    ("odd", "wrong_line", "plain"),
    [
        ("", 3001, False),
        ("   ", 3001, False),
        ("\x0c" + detail(), 3002, False),  # splitlines() breaks at a form feed: one line more
        (detail(tp="3") + "\r" + detail(tp="4"), 3002, True),  # both break at a lone \r
    ],
)
def test_blank_lines_and_odd_line_breaks_keep_the_numbering(monkeypatch, odd, wrong_line, plain):
    """A file the C reader cannot number as splitlines() does is read line by line, so that a
    wrong line after the odd one still has its own number."""
    body = lines()
    body[999] = odd
    body[2999] = detail(tp="51")
    content = text(body)
    assert (columns.split(content, **SPLIT) is not None) is plain
    with pytest.raises(EIEPError) as err:
        eiep3.parse(content)
    with pytest.raises(EIEPError) as slow:
        line_by_line(monkeypatch, content)
    assert err.value.errors == slow.value.errors
    assert any(e.startswith(f"line {wrong_line}: trading period '51'") for e in err.value.errors)


def test_a_header_ending_in_a_carriage_return_alone():
    body = "\n".join(lines())
    content = text([]).splitlines()[0].replace(",0,", f",{len(lines())},") + "\r" + body + "\n"
    assert columns.split(content, **SPLIT) is not None
    assert len(eiep3.parse(content).records) == len(lines()) - 2


def test_a_value_only_the_line_reader_can_judge_is_left_to_it(monkeypatch):
    """Python's \\d takes any script's digits, as the line reader always has; the C reader takes
    ASCII only, so such a file goes the slow way and reads the same."""
    body = lines()
    body[1500] = detail(kwh="\u0663.5")
    content = text(body)
    assert columns.split(content, **SPLIT) is None
    assert by_line(eiep3.parse(content)) == by_line(line_by_line(monkeypatch, content))


def test_the_header_count_is_checked_on_the_fast_way_too():
    body = lines()
    with pytest.raises(EIEPError, match=rf"header says 7 records but the file has {len(body)}"):
        eiep3.parse(text(body, count=7))


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("block_bytes", [8 * 1024, 8 * 1024 + 1])
def test_a_file_read_in_many_blocks_reads_what_the_lines_read(monkeypatch, newline, block_bytes):
    """Blocks are cut (and their values coded) apart, each with its own distinct values: put
    together they are the lines, in order, and a wrong line in the last block is still named."""
    monkeypatch.setattr(columns, "_BLOCK_BYTES", block_bytes)
    content = text(lines(), newline=newline)
    assert len(content) > 20 * columns._BLOCK_BYTES
    assert columns.split(content, **SPLIT) is not None
    assert by_line(eiep3.parse(content)) == by_line(line_by_line(monkeypatch, content))
    body = lines()
    body[-3] = detail(tp="51")
    with pytest.raises(EIEPError) as fast:
        eiep3.parse(text(body, newline=newline))
    with pytest.raises(EIEPError) as slow:
        line_by_line(monkeypatch, text(body, newline=newline))
    assert fast.value.errors == slow.value.errors
    assert fast.value.errors[0].startswith(f"line {len(body) - 1}: trading period '51'")


@pytest.mark.parametrize("odd", ["\x1c", "\x85", "\u2028"])
def test_a_line_break_in_a_field_that_is_not_read_keeps_the_numbering(monkeypatch, odd):
    """The reactive and apparent energy fields are never read, but a break there would still
    make splitlines() count one line more than the C reader does."""
    body = lines()
    body[999] = detail(r=f"1{odd}2")
    body[2999] = detail(tp="51")
    content = text(body)
    assert columns.split(content, **SPLIT) is None
    with pytest.raises(EIEPError) as fast:
        eiep3.parse(content)
    with pytest.raises(EIEPError) as slow:
        line_by_line(monkeypatch, content)
    assert fast.value.errors == slow.value.errors
    assert any(e.startswith("line 3002: trading period '51'") for e in fast.value.errors)

"""A large comma-separated file cut into columns in C (pyarrow's CSV reader), for the EIEP readers.

Only the plain case is taken: every line has the same number of fields, nothing is quoted, no
line is empty, and no field holds a character that `str.splitlines` reads as a line break and
pyarrow does not, so that row i is exactly line i + 2 of the file (pyarrow breaks lines at \n,
\r and \r\n, as splitlines does). Anything else, and any value that does not look right,
returns None: the caller then reads the file line by line, which names each line that is wrong.
This module only says "plain" or "not plain"; it never words an error.

Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# What splitlines() breaks on besides \n and \r (Python's str.splitlines documentation).
_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


@dataclass(frozen=True)
class Coded:
    """A column as its distinct values and, per row, the index of the row's value."""

    values: list[str]
    codes: np.ndarray  # int32


@dataclass(frozen=True)
class Columns:
    header: str  # the first line, as splitlines() gives it
    rows: int  # detail lines: row i is line i + 2
    coded: dict[int, Coded]  # by field position
    scaled: dict[int, np.ndarray]  # by field position: int64 value x scale


def split(
    text: str,
    *,
    fields: int,
    coded: Iterable[int],
    scaled: Mapping[int, tuple[str, int]],
) -> Columns | None:
    """The detail lines (after the first) as columns, or None unless the file is plain.

    `coded` fields come back as distinct values and codes; each `scaled` field must match its
    regular expression (RE2, whole value) on every row and comes back as round(value x scale):
    exact for decimals of at most 15 significant digits. Every field that is not scaled is
    read (to look for line breaks in it), whether asked for or not."""
    # Deferred: pyarrow takes a fifth of a second to load, which only large files repay.
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: leave it to the line reader to refuse
        return None
    ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    if not ends:
        return None
    header_end = min(ends)
    body = header_end + (2 if data[header_end : header_end + 2] == b"\r\n" else 1)
    header = data[:header_end].decode()
    if body >= len(data) or any(c in header for c in _OTHER_BREAKS):
        return None

    names = [f"f{k}" for k in range(fields)]
    read = [k for k in range(fields) if k not in scaled]
    wanted = set(coded)
    try:
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[body:]),
            # One block: every column comes as one array, and nothing is copied to join them.
            read_options=pcsv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(data) - body + 1
            ),
            parse_options=pcsv.ParseOptions(
                quote_char=False, escape_char=False, double_quote=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # it came from a str
            ),
        )
    except pa.ArrowInvalid:  # a line with the wrong number of fields, mostly
        return None
    codes = {}
    blank = np.ones(table.num_rows, bool)  # an empty line is a row of empty fields
    for k in read:
        encoded = table.column(names[k]).combine_chunks().dictionary_encode()
        values = encoded.dictionary.to_pylist()
        if any(c in value for value in values for c in _OTHER_BREAKS):
            return None
        column = Coded(values, _numpy(encoded.indices.cast(pa.int32()), np.int32))
        blank &= column.codes == (values.index("") if "" in values else -1)
        if k in wanted:
            codes[k] = column
    if blank.any():
        return None
    numbers = {}
    for k, (pattern, scale) in scaled.items():
        column = table.column(names[k])
        if not pc.all(pc.match_substring_regex(column, f"^(?:{pattern})$")).as_py():
            return None
        values = _numpy(pc.cast(column, pa.float64()).combine_chunks(), np.float64)
        numbers[k] = np.rint(values * scale).astype(np.int64)
    return Columns(header, table.num_rows, codes, numbers)


def _numpy(array: Any, scalar: type[np.generic]) -> np.ndarray:
    """A null-free pyarrow array of fixed-width numbers as numpy, read from its buffer (its own
    to_numpy loads pandas, a second and more, even where it copies nothing)."""
    assert array.null_count == 0
    dtype = np.dtype(scalar)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * dtype.itemsize)

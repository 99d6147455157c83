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

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# What splitlines() breaks on besides \n and \r (Python's str.splitlines documentation).
_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
# Bytes per block the CSV reader cuts (and converts in its own threads) at a time.
_BLOCK_BYTES = 4 << 20


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
    coded: Collection[int],
    scaled: Mapping[int, tuple[str, int]],
) -> Columns | None:
    """The detail lines (after the first) as columns, or None unless the file is plain.

    `coded` fields come back as distinct values and codes; each `scaled` field must match its
    regular expression (RE2, whole value) on every row and comes back as round(value x scale):
    exact for decimals of at most 15 significant digits. Other fields are only counted."""
    # Deferred: pyarrow takes a fifth of a second to load, which only large files repay.
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    # Anywhere in the file (a search per character, in C): fields that are not read are then
    # known to hold none either. An ASCII text is only searched for the ASCII ones.
    if any(c in text for c in _OTHER_BREAKS if c.isascii() or not text.isascii()):
        return None
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: leave it to the line reader to refuse
        return None
    ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    if not ends:
        return None
    header_end = min(ends)
    body = header_end + (2 if data[header_end : header_end + 2] == b"\r\n" else 1)
    if body >= len(data):
        return None

    names = [f"f{k}" for k in range(fields)]
    read = sorted({*coded, *scaled})
    try:
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[body:]),
            # Blocks cut on both cores, each column straight into codes and its distinct
            # values: no column of strings is made. Fresh memory costs more than the parsing
            # itself (page faults); a million lines now peak at 80 MB of pyarrow's, not 240.
            read_options=pcsv.ReadOptions(
                column_names=names, use_threads=True, block_size=_BLOCK_BYTES
            ),
            parse_options=pcsv.ParseOptions(
                quote_char=False, escape_char=False, double_quote=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={names[k]: pa.dictionary(pa.int32(), pa.string()) for k in read},
                include_columns=[names[k] for k in read],
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # it came from a str
            ),
        )
    except pa.ArrowInvalid:  # a line with the wrong number of fields, mostly
        return None
    columns = {k: _distinct(table.column(names[k])) for k in read}
    # An empty line is a row of empty fields.
    empty = {k: pc.index(values, "").as_py() for k, (values, _) in columns.items()}
    if min(empty.values(), default=-1) >= 0:
        blank = np.ones(table.num_rows, bool)
        for k, (_, codes) in columns.items():
            blank &= codes == empty[k]
        if blank.any():
            return None
    numbers = {}
    for k, (pattern, scale) in scaled.items():
        values, codes = columns[k]
        if not pc.all(pc.match_substring_regex(values, f"^(?:{pattern})$")).as_py():
            return None
        per_value = _numpy(pc.cast(values, pa.float64()), np.float64)
        numbers[k] = np.rint(per_value * scale).astype(np.int64)[codes]
    coded_columns = {
        k: Coded(values.to_pylist(), codes) for k, (values, codes) in columns.items() if k in coded
    }
    return Columns(data[:header_end].decode(), table.num_rows, coded_columns, numbers)


def _distinct(column: Any) -> tuple[Any, np.ndarray]:
    """A dictionary column read in blocks (each with its own distinct values) as one: its
    distinct values (pyarrow) and each row's code."""
    array = column.unify_dictionaries().combine_chunks()
    return array.dictionary, _numpy(array.indices, np.int32)


def _numpy(array: Any, scalar: type[np.generic]) -> np.ndarray:
    """A null-free pyarrow array of fixed-width numbers as numpy, read from its buffer (its own
    to_numpy loads pandas, a second and more, even where it copies nothing)."""
    assert array.null_count == 0
    dtype = np.dtype(scalar)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * dtype.itemsize)

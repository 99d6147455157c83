"""Limits on what a client may send: JSON size and nesting depth, checked before decoding.

Pure (no Django). The decoder itself is bounded by the recursion limit (see `config.process`),
but a payload refused here never reaches it: a 200 KB text of nested brackets costs one scan.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

MAX_DEPTH = 32
# A JSON string literal, escapes included: brackets inside strings do not nest.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class PayloadRefused(ValueError):
    """The payload is too large, too deep or not JSON; the message says which, for a person."""


class PayloadTooLarge(PayloadRefused):
    pass


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (brackets in strings ignored)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise PayloadRefused(f"{name} is not a JSON number.")


def json_loads_bounded(text: str | bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON no larger than `max_bytes` and no deeper than `max_depth`, else refuse.

    NaN and Infinity are refused too: they are not JSON, and a price of NaN compares with nothing.
    Fractions come back as Decimal, so money and energy are never rounded through a float.
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise PayloadTooLarge(f"The payload is {size:,} bytes; at most {max_bytes:,} are accepted.")
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise PayloadRefused("The payload is not UTF-8 text.") from exc
    if (depth := json_depth(text)) > max_depth:
        raise PayloadRefused(
            f"The payload nests {depth} levels deep; at most {max_depth} are accepted."
        )
    try:
        # Numbers with a fraction or exponent become Decimal: exact, and 1e309 is no infinity.
        return json.loads(text, parse_constant=_no_constants, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, PayloadRefused):
            raise
        raise PayloadRefused(f"The payload is not valid JSON: {exc}") from None

"""Process-wide safety settings applied before any request or task is handled.

web3 imports py_ecc, whose package import raises the interpreter's recursion limit to 100,000
for its own recursive pairing code (which this project never calls). At that limit deeply
nested input (JSON, a template, a regex) overflows the C stack and the process segfaults
instead of raising RecursionError. py_ecc is imported here first, so its one-time change is
over, and the limit is put back to CPython's default; nothing imported later raises it again.
"""

from __future__ import annotations

import sys

SAFE_RECURSION_LIMIT = 1000  # CPython's default


def cap_recursion_limit() -> None:
    import py_ecc  # noqa: F401  (its import raises the limit; let it do so now, once)

    sys.setrecursionlimit(SAFE_RECURSION_LIMIT)

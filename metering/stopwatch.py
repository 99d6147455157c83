"""Where an import's time goes, stage by stage, for the bench (`manage.py bench_metering`).

The import calls `lap(stage)` as each stage ends: the time since the previous lap is added to
that stage. Nothing is recorded, and a lap costs a context-variable read, unless a caller
(the bench) is inside `stages_timed()`. Pure: no Django.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_laps: ContextVar[tuple[dict[str, float], list[float]] | None] = ContextVar("laps", default=None)


@contextlib.contextmanager
def stages_timed() -> Iterator[dict[str, float]]:
    """Seconds per stage of everything timed inside, in the order the stages first ended."""
    stages: dict[str, float] = {}
    token = _laps.set((stages, [time.perf_counter()]))
    try:
        yield stages
    finally:
        _laps.reset(token)


def lap(stage: str) -> None:
    """The stage that just ended (time since the previous lap, or since timing began)."""
    laps = _laps.get()
    if laps is None:
        return
    stages, last = laps
    now = time.perf_counter()
    stages[stage] = stages.get(stage, 0.0) + now - last[0]
    last[0] = now

"""A lab run's life, on Celery workers or in one process (`manage.py backtest`).

    start:  read and check every input, move the power (battery strategies, power flow,
            time-value prices), save that to the run's folder, and fan the market out as one
            task per chunk of periods;
    chunk:  clear and settle every design over its periods; save its tallies;
    finish: when the last chunk is in (counted in the database, so no result backend is
            needed and any worker may finish), sum the tallies, check every period of every
            design settled to zero, and write the report.

A run that fails anywhere is marked failed with its error and its folder emptied: nothing
half-made is ever shown as a report. Each step is safe to run twice (Celery delivers at least
once): files are written whole or not at all, and a chunk is counted once, when its file lands.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from lab.core import inputs, market, report, runner
from lab.core.community import Community
from lab.core.results import Results
from lab.core.scenario import Scenario, ScenarioError
from lab.models import Run, parse_for_site

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5
# A start that has not reported for this long lost its worker (killed, out of memory): Celery
# hands its message out again after the visibility timeout, and the new delivery takes over.
STALE = dt.timedelta(minutes=15)
MAX_STARTS = 2


class RunFailed(Exception):
    """A run stopped with an error a researcher can act on (already recorded on the run)."""


def scenario_of(run: Run) -> Scenario:
    return parse_for_site(run.text, source=run.name)


def community_of(scenario: Scenario) -> Community | None:
    """The co-op's own members when the scenario asks for them (read now, from the database);
    None for a generated community (the runner generates it from the scenario and seed)."""
    if scenario.community.source != "coop":
        return None
    from lab.members import community_from_coop

    return community_from_coop(scenario)


def _save_community(community: Community | None, path: Path) -> None:
    # The co-op's members are read once, at the start: every chunk and the finish must see the
    # same community even if the admin edits an ICP meanwhile. The file is the run folder's own,
    # written by the co-op's workers, so pickle is safe to read back.
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(community))
    tmp.replace(path)


def _load_community(path: Path) -> Community | None:
    return pickle.loads(path.read_bytes())  # noqa: S301  (our own run folder, see above)


def _progress(run_id: int) -> Callable[[str, int, int], None]:
    last = [0.0]

    def report_progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done >= total:
            last[0] = now
            Run.objects.filter(pk=run_id).update(
                stage=stage[:120], done=done, total=total, heartbeat=timezone.now()
            )

    return report_progress


def _fail(run: Run, message: str) -> None:
    shutil.rmtree(run.folder, ignore_errors=True)
    Run.objects.filter(pk=run.pk).update(
        state=Run.State.FAILED, error=message[:4000], finished=timezone.now()
    )


def _guarded(run: Run, step: Callable[[], None]) -> None:
    try:
        step()
    except (ScenarioError, inputs.InputError) as exc:
        _fail(run, str(exc))
        raise RunFailed(str(exc)) from exc
    except Exception as exc:
        log.exception("lab run %s failed", run.pk)
        _fail(run, f"the run stopped: {type(exc).__name__}: {exc}")
        raise


def chunks_of(periods: int, day_starts: np.ndarray, days_per_chunk: int) -> list[range]:
    """Whole days per chunk, so a chunk's periods are a span a person can name."""
    edges = [int(day_starts[i]) for i in range(0, len(day_starts) - 1, days_per_chunk)]
    edges.append(periods)
    return [range(a, b) for a, b in itertools.pairwise(edges) if b > a]


def start(run_id: int) -> int:
    """Step 1. Returns how many chunks to queue (0 for a duplicate delivery: the first one
    is under way or done)."""
    run = Run.objects.get(pk=run_id)
    now = timezone.now()
    # Taken over once at most: a run that kills its worker twice (out of memory, say) is
    # failed rather than handed from worker to worker for ever.
    abandoned = Q(
        state=Run.State.RUNNING, chunks=0, heartbeat__lt=now - STALE, starts__lt=MAX_STARTS
    )
    claimed = Run.objects.filter(Q(state=Run.State.QUEUED) | abandoned, pk=run_id).update(
        state=Run.State.RUNNING, stage="reading inputs", heartbeat=now, starts=F("starts") + 1
    )
    if not claimed:
        stale = Run.objects.filter(
            pk=run_id, state=Run.State.RUNNING, chunks=0, heartbeat__lt=now - STALE
        )
        if stale.exists():
            _fail(
                run,
                "the run's worker stopped twice while moving the power (out of memory?): "
                "make the study smaller (fewer homes or days) or give the lab workers "
                "more memory",
            )
        return 0
    parts: list[range] = []

    def step() -> None:
        scenario = scenario_of(run)
        community = community_of(scenario)
        p = runner.prepare(scenario, community)
        work = run.folder / "work"
        shutil.rmtree(run.folder, ignore_errors=True)
        work.mkdir(parents=True)
        _save_community(community, work / "community.pickle")
        sim = runner.simulate(p, progress=_progress(run_id))
        sim.save(work / "simulation.npz")
        parts.extend(chunks_of(p.cal.periods, p.cal.day_starts(), settings.LAB_CHUNK_DAYS))
        Run.objects.filter(pk=run_id).update(
            chunks=len(parts), chunks_done=0, stage="market", done=0, total=len(parts)
        )

    _guarded(run, step)
    return len(parts)


def chunk(run_id: int, index: int) -> bool:
    """Step 2: one chunk of periods, every design. True when it was the last chunk to land:
    then the caller queues the finish."""
    run = Run.objects.get(pk=run_id)
    if run.state != Run.State.RUNNING:
        return False
    work = run.folder / "work"
    target = work / f"tally-{index}.npz"
    last: list[bool] = []

    def step() -> None:
        if target.exists():
            return  # done by an earlier delivery, and counted then
        community = _load_community(work / "community.pickle")
        p = runner.prepare(scenario_of(run), community, read_data=False)
        parts = chunks_of(p.cal.periods, p.cal.day_starts(), settings.LAB_CHUNK_DAYS)
        sim = runner.Simulation.load(work / "simulation.npz")
        tallies = runner.clear(p, sim, parts[index])
        arrays: dict[str, Any] = {}
        for design, tally in tallies.items():
            arrays |= tally.to_arrays(f"{design.key}|")
        tmp = work / f"tally-{index}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(target)
        with transaction.atomic():
            Run.objects.filter(pk=run_id).update(
                chunks_done=F("chunks_done") + 1, done=F("chunks_done") + 1
            )
            counted = Run.objects.get(pk=run_id)
            last.append(counted.chunks_done == counted.chunks)

    _guarded(run, step)
    return bool(last and last[0])


def finish(run_id: int) -> Results | None:
    """Step 3: sum the chunks, check them, write the report."""
    run = Run.objects.get(pk=run_id)
    if run.state != Run.State.RUNNING:
        return None
    out: list[Results] = []

    def step() -> None:
        Run.objects.filter(pk=run_id).update(stage="report")
        work = run.folder / "work"
        community = _load_community(work / "community.pickle")
        p = runner.prepare(scenario_of(run), community, read_data=False)
        sim = runner.Simulation.load(work / "simulation.npz")
        totals: dict = {}
        for index in range(run.chunks):
            with np.load(work / f"tally-{index}.npz") as arrays:
                for design in p.scenario.designs:
                    tally = market.Tally.from_arrays(arrays, f"{design.key}|")
                    if design in totals:
                        totals[design].add(tally)
                    else:
                        totals[design] = tally
        results = runner.results(
            p, sim, totals, seconds=(timezone.now() - run.created).total_seconds()
        )
        # Report first, then the state, then the work files: a worker lost in between leaves
        # a run its redelivered finish can still complete.
        report.write(results, run.folder)
        Run.objects.filter(pk=run_id).update(
            state=Run.State.DONE,
            stage="done",
            summary=json_safe(results.summary.to_dict(orient="records")),
            seconds=results.seconds,
            finished=timezone.now(),
        )
        shutil.rmtree(work, ignore_errors=True)
        out.append(results)

    _guarded(run, step)
    return out[0] if out else None


def run_here(run_id: int) -> Results | None:
    """Every step in this process, one after the other (tests; the lab page uses workers)."""
    last = False
    for index in range(start(run_id)):
        last = chunk(run_id, index)
    return finish(run_id) if last else None


def json_safe(value: Any) -> Any:
    """NaN (a KPI with nothing to measure, e.g. no battery homes) as null: JSON has no NaN."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def folder_files(run: Run) -> dict[str, Path]:
    """The report's files a researcher may download: what the report wrote, nothing else."""
    if run.state != Run.State.DONE or not run.folder.is_dir():
        return {}
    return {
        f.name: f
        for f in sorted(run.folder.iterdir())
        if f.is_file() and f.suffix in (".html", ".csv", ".parquet", ".json")
    }

"""The lab's Celery tasks: a run's start, its market chunks and its finish (lab.pipeline).
Each is safe to run twice; a run's chunks spread over every worker that takes lab tasks."""

from __future__ import annotations

from celery import shared_task

from lab import pipeline


@shared_task(ignore_result=True)
def run_start(run_id: int) -> None:
    try:
        chunks = pipeline.start(run_id)
    except pipeline.RunFailed:
        return  # recorded on the run for the researcher; nothing to retry
    for index in range(chunks):
        run_chunk.delay(run_id, index)


@shared_task(ignore_result=True)
def run_chunk(run_id: int, index: int) -> None:
    try:
        last = pipeline.chunk(run_id, index)
    except pipeline.RunFailed:
        return
    if last:
        run_finish.delay(run_id)


@shared_task(ignore_result=True)
def run_finish(run_id: int) -> None:
    try:
        pipeline.finish(run_id)
    except pipeline.RunFailed:
        return

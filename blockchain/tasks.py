"""Chain tasks: commit a settled period, sweep the ones still waiting, follow the chain.

Each takes ids, calls one service and is safe to run twice (the services read the chain before
sending). A chain that is down is retried with backoff; the beat sweep is the backstop that
catches every waiting period up in order, whatever happened to the individual tasks.
"""

import logging

from celery import Task, shared_task
from django.db import transaction

from blockchain.chain.node import ChainUnavailable
from blockchain.services.commits import commits_catch_up
from blockchain.services.indexer import chain_index
from blockchain.services.operator import OperatorBusy

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 300


def backoff(retries: int) -> int:
    """5 s, 10 s, 20 s, ... at most 5 minutes between attempts."""
    return min(BACKOFF_BASE_SECONDS * 2**retries, BACKOFF_CAP_SECONDS)


@shared_task(bind=True, ignore_result=True, max_retries=40)
def commit_period(self: Task, period_id: int) -> int:
    """Commit this settled period (a TradingPeriod pk) and every waiting one before it, in order."""
    try:
        return len(commits_catch_up(up_to_period_id=period_id))
    except (ChainUnavailable, OperatorBusy) as exc:
        if self.request.is_eager:
            # Run in process (tests, CELERY_TASK_ALWAYS_EAGER): there is no broker to hold a
            # later retry, so the period waits for the sweep (commit_pending) instead.
            log.warning("Period %s waits for the chain: %s", period_id, exc)
            return 0
        log.warning(
            "Period %s waits for the chain (retry %s): %s", period_id, self.request.retries, exc
        )
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task(ignore_result=True)
def commit_pending() -> int:
    """Beat: commit every settled period still waiting, oldest first."""
    try:
        return len(commits_catch_up())
    except (ChainUnavailable, OperatorBusy) as exc:
        log.warning("Commits wait: %s", exc)
        return 0


@shared_task(ignore_result=True)
def index_chain() -> dict:
    """Beat: follow new blocks and contract events; redeploy and re-commit after a chain reset."""
    try:
        report = chain_index()
    except (ChainUnavailable, OperatorBusy) as exc:
        log.warning("Indexer waits: %s", exc)
        return {"error": str(exc)}
    if report.redeployed:
        # A reset chain holds none of our commits: put every settled period back on, in order.
        transaction.on_commit(commit_pending.delay)
    return {"head": report.head, "events": report.events, "redeployed": report.redeployed}

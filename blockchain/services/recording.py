"""What a commit's outcome writes: mined (the commit row done, the period moved on to committed,
the wall display told) or stopped (the chain holds a root the database does not give: an alarm).

Used by the commit itself and by the indexer, which may see a commit's event first.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from blockchain.models import ChainAlarm, PeriodCommit
from trading.live import broadcast
from trading.services.periods import period_record_committed

log = logging.getLogger(__name__)


def commit_record_committed(
    *, row: PeriodCommit, tx_hash: str, block: int | None, gas: int | None
) -> None:
    """Mark the commit done and move the period on (only from settled: a duplicate does nothing)."""
    now = timezone.now()
    with transaction.atomic():
        row.status = PeriodCommit.Status.COMMITTED
        row.tx_hash = tx_hash or row.tx_hash
        row.block_number = block if block is not None else row.block_number
        row.gas_used = gas if gas is not None else row.gas_used
        row.committed_at = row.committed_at or now
        row.last_error = ""
        row.save(
            update_fields=[
                "status",
                "tx_hash",
                "block_number",
                "gas_used",
                "committed_at",
                "last_error",
            ]
        )
        period_record_committed(period_id=row.period_id)
        commit = {
            "period": str(row.period),
            "trades": row.trade_count,
            "block": row.block_number,
            "tx_hash": row.tx_hash,
        }
        # The wall display's ticker; pushed only once the commit is in the database.
        transaction.on_commit(lambda: _push_commit(commit))


def _push_commit(commit: dict) -> None:
    try:
        broadcast.to_display("commit", commit)
    except Exception:  # a display that cannot be told must never undo a commit
        log.warning("could not push commit of %s to the display", commit["period"], exc_info=True)


def commit_record_mismatch(*, row: PeriodCommit, chain_root: str, database_root: str) -> None:
    """Stop the period: the chain holds a root the database does not produce.

    The row's merkle_root is saved as the caller set it (the root the chain holds).
    """
    with transaction.atomic():
        row.status = PeriodCommit.Status.MISMATCH
        row.last_error = f"Chain root {chain_root} differs from the database's {database_root}."
        row.save(update_fields=["status", "last_error", "merkle_root"])
        ChainAlarm.objects.get_or_create(
            kind=ChainAlarm.Kind.ROOT_MISMATCH,
            deployment=row.deployment,
            period=row.period,
            resolved_at=None,
            defaults={
                "message": (
                    f"{row.period} (chain period {row.chain_period_id}) is committed on chain "
                    f"with root {chain_root}, but its trades in the database give "
                    f"{database_root}. The period is stopped: check the trades, then amend the "
                    "chain (admin action on the commit) if the database is right."
                ),
                "database_root": database_root,
                "chain_root": chain_root,
            },
        )
    log.error("Root mismatch for %s: chain %s, database %s", row.period, chain_root, database_root)

"""Settled periods committed to the contract exactly once, oldest first.

Before sending we read the chain: a period the contract already holds with the same root is
recorded as committed and nothing is sent (the retry of a worker killed after sending); a
different root raises an alarm and stops that period. The transaction hash is recorded before
it is broadcast, and the contract itself reverts a second commit of a period, the last guard
against two racing workers. Every send happens under the operator lock.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from blockchain.chain.client import LedgerClient, PeriodTotals, Receipt
from blockchain.chain.node import chain_calls, chain_connect
from blockchain.models import ChainAlarm, ChainDeployment, PeriodCommit
from blockchain.selectors.ledger import PeriodSummary, period_summary
from blockchain.selectors.onchain import commit_location
from blockchain.selectors.status import MAX_FAILED_ATTEMPTS, commits_due
from blockchain.services.deployments import deployment_ensure
from blockchain.services.members import members_register, period_chain_ids_ensure
from blockchain.services.operator import OperatorBusy, operator_lock
from blockchain.services.recording import commit_record_committed, commit_record_mismatch
from coop.models import Member
from trading.models import TradingPeriod
from trading.services.periods import period_record_committed


def period_commit(
    *, period_id: int, client: LedgerClient, deployment: ChainDeployment
) -> PeriodCommit | None:
    """Commit one settled period (TradingPeriod pk) exactly once. Call under the operator lock.

    Returns the commit row, or None when the period is not settled. Raises ChainUnavailable when
    the node stops answering part-way (the row then says what was sent, and the next attempt
    starts by reading the chain).
    """
    period = TradingPeriod.objects.filter(pk=period_id).first()
    if period is None or period.state not in (
        TradingPeriod.State.SETTLED,
        TradingPeriod.State.COMMITTED,
    ):
        return None
    period_chain_ids_ensure(period=period)
    summary = period_summary(period)
    row, _ = PeriodCommit.objects.get_or_create(
        deployment=deployment,
        period=period,
        defaults={"chain_period_id": summary.chain_period_id, **summary.totals.columns()},
    )
    if row.status in (PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH):
        if row.status == PeriodCommit.Status.COMMITTED:
            period_record_committed(period_id=period.pk)
        return row
    # The row says what the database says now (a correction before sending changes the root).
    for column, value in summary.totals.columns().items():
        setattr(row, column, value)
    row.attempts += 1
    row.save(update_fields=[*PeriodTotals.COLUMNS, "attempts"])

    members = list(
        Member.objects.filter(Q(purchases__period=period) | Q(sales__period=period)).distinct()
    )
    members_register(client=client, deployment=deployment, members=members)

    with chain_calls():
        on_chain = client.get_commit(deployment.contract_address, summary.chain_period_id)
        if on_chain is not None:
            if on_chain.root == summary.root:
                tx_hash, block, gas = commit_location(client, deployment, row)
                commit_record_committed(row=row, tx_hash=tx_hash, block=block, gas=gas)
            else:
                row.merkle_root = on_chain.root
                commit_record_mismatch(
                    row=row, chain_root=on_chain.root, database_root=summary.root
                )
            return row

        # Sent before and not on chain yet: still in the node's pool, or lost (dropped, or the
        # chain was restarted from an older state). Wait for it if the node knows it.
        if (
            row.status == PeriodCommit.Status.SENT
            and row.tx_hash
            and client.transaction_known(row.tx_hash)
        ):
            receipt = client.wait_for_receipt(row.tx_hash)
            return _after_receipt(client, deployment, row, summary, receipt)

        signed = client.sign_commit(deployment.contract_address, summary.totals)
        # Recorded before it is broadcast: if this worker dies from here on, the retry finds
        # either the commit on chain (same root: recorded, nothing sent) or nothing (sent again).
        row.status = PeriodCommit.Status.SENT
        row.tx_hash = signed.tx_hash
        row.sent_at = timezone.now()
        row.save(update_fields=["status", "tx_hash", "sent_at"])
        client.send_signed(signed)
        receipt = client.wait_for_receipt(signed.tx_hash)
        return _after_receipt(client, deployment, row, summary, receipt)


def _after_receipt(
    client: LedgerClient,
    deployment: ChainDeployment,
    row: PeriodCommit,
    summary: PeriodSummary,
    receipt: Receipt,
) -> PeriodCommit:
    if receipt.status == 1:
        commit_record_committed(
            row=row, tx_hash=receipt.tx_hash, block=receipt.block_number, gas=receipt.gas_used
        )
        return row
    # Reverted: most likely another worker committed the period a moment earlier.
    on_chain = client.get_commit(deployment.contract_address, summary.chain_period_id)
    if on_chain is not None and on_chain.root == summary.root:
        tx_hash, block, gas = commit_location(client, deployment, row)
        commit_record_committed(row=row, tx_hash=tx_hash, block=block, gas=gas)
    elif on_chain is not None:
        row.merkle_root = on_chain.root
        commit_record_mismatch(row=row, chain_root=on_chain.root, database_root=summary.root)
    else:
        row.status = PeriodCommit.Status.FAILED
        row.last_error = (
            f"Commit transaction {receipt.tx_hash} reverted in block {receipt.block_number}."
        )
        row.save(update_fields=["status", "last_error"])
        if row.attempts >= MAX_FAILED_ATTEMPTS:
            ChainAlarm.objects.get_or_create(
                kind=ChainAlarm.Kind.COMMIT_FAILED,
                deployment=deployment,
                period=row.period,
                resolved_at=None,
                defaults={"message": f"{row.period}: {row.last_error} ({row.attempts} attempts)"},
            )
    return row


def commits_catch_up(*, up_to_period_id: int | None = None, limit: int = 500) -> list[PeriodCommit]:
    """Commit every waiting settled period, oldest first, up to and including `up_to_period_id`
    (all when None). Raises ChainUnavailable when there is no chain and OperatorBusy when another
    worker is already at it (it will commit ours too, in order)."""
    client = chain_connect()
    up_to = None
    if up_to_period_id is not None:
        up_to = TradingPeriod.objects.filter(pk=up_to_period_id).first()
        if up_to is None:
            return []
    done: list[PeriodCommit] = []
    with operator_lock() as lock:
        deployment = deployment_ensure(client=client)
        for period in commits_due(deployment, up_to=up_to)[:limit]:
            row = period_commit(period_id=period.pk, client=client, deployment=deployment)
            if row is not None:
                done.append(row)
            if not lock.owned():
                raise OperatorBusy(
                    "The operator lock lapsed during the catch-up; stopping before the next "
                    "period (the retry or the sweep carries on)."
                )
    return done

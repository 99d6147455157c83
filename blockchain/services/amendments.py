"""Amendments: the database's current root committed beside a period's original commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from blockchain.chain.node import chain_calls, chain_connect
from blockchain.models import Amendment, ChainAlarm, PeriodCommit
from blockchain.selectors.ledger import period_summary
from blockchain.services.deployments import deployment_ensure
from blockchain.services.members import period_chain_ids_ensure
from blockchain.services.operator import operator_lock
from trading.services.periods import period_record_committed


def period_amend(*, period_id: int, reason: str) -> Amendment:
    """Commit the database's current root for a committed (or stopped) period as an amendment.

    The contract keeps the original and adds the amendment beside it; here the Amendment row
    references the original commit and, once mined, the period counts as committed again and
    its open mismatch alarm is resolved.
    """
    if not reason.strip():
        raise ValueError("Say why the period is amended: the reason is kept on the record.")
    client = chain_connect()
    with operator_lock():
        deployment = deployment_ensure(client=client)
        row = PeriodCommit.objects.select_related("period").get(
            deployment=deployment, period_id=period_id
        )
        if row.status not in (PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH):
            raise ValueError(f"{row.period} is not on chain yet ({row.status}): nothing to amend.")
        period_chain_ids_ensure(period=row.period)
        summary = period_summary(row.period)
        amendment = Amendment.objects.create(
            original=row, reason=reason.strip()[:200], **summary.totals.columns()
        )
        with chain_calls():
            receipt = client.amend_period(deployment.contract_address, summary.totals)
        now = timezone.now()
        with transaction.atomic():
            amendment.tx_hash = receipt.tx_hash
            amendment.block_number = receipt.block_number
            amendment.gas_used = receipt.gas_used
            if receipt.status == 1:
                amendment.status = Amendment.Status.COMMITTED
                amendment.committed_at = now
                row.status = PeriodCommit.Status.COMMITTED
                row.last_error = ""
                row.committed_at = row.committed_at or now
                row.save(update_fields=["status", "last_error", "committed_at"])
                period_record_committed(period_id=row.period_id)
                ChainAlarm.objects.filter(
                    period=row.period, deployment=deployment, resolved_at__isnull=True
                ).update(resolved_at=now, resolution=f"Amended on chain: {amendment.reason}")
            else:
                amendment.status = Amendment.Status.FAILED
                amendment.last_error = f"Amendment transaction {receipt.tx_hash} reverted."
            amendment.save(
                update_fields=[
                    "tx_hash",
                    "block_number",
                    "gas_used",
                    "status",
                    "committed_at",
                    "last_error",
                ]
            )
    return amendment

"""The indexer: follow new blocks and the contract's events, and notice a reset chain.

Each event is stored once (ChainEvent) and, where it concerns a row of ours, fills in where and
at what gas it landed; a commit we had not recorded (its worker died after sending) is recorded
from its event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from blockchain.chain.client import Event
from blockchain.chain.node import chain_calls, chain_connect
from blockchain.models import (
    Amendment,
    ChainDeployment,
    ChainEvent,
    MemberRegistration,
    PeriodCommit,
)
from blockchain.selectors.ledger import period_of_chain_id, period_summary
from blockchain.selectors.onchain import deployment_current_on_chain
from blockchain.selectors.status import deployment_active
from blockchain.services.deployments import deployment_ensure
from blockchain.services.members import period_chain_ids_ensure
from blockchain.services.operator import operator_lock
from blockchain.services.recording import commit_record_committed, commit_record_mismatch

log = logging.getLogger(__name__)


def _index_commit_event(deployment: ChainDeployment, event: Event, gas: int | None) -> None:
    """A PeriodCommitted event: make sure the commit row says where and at what gas it landed."""
    period = period_of_chain_id(event.period_id) if event.period_id is not None else None
    if period is None:
        log.warning("Chain commit of unknown period %s in tx %s", event.period_id, event.tx_hash)
        return
    row = PeriodCommit.objects.filter(deployment=deployment, period=period).first()
    if row is not None and row.status == PeriodCommit.Status.COMMITTED:
        if row.block_number is None or row.gas_used is None or row.tx_hash != event.tx_hash:
            row.tx_hash, row.block_number, row.gas_used = event.tx_hash, event.block_number, gas
            row.save(update_fields=["tx_hash", "block_number", "gas_used"])
        return
    if row is not None and row.status == PeriodCommit.Status.MISMATCH:
        return
    # A commit we had not recorded (its worker died after sending) or not yet seen mined.
    period_chain_ids_ensure(period=period)
    summary = period_summary(period)
    if row is None:
        row = PeriodCommit.objects.create(
            deployment=deployment,
            period=period,
            chain_period_id=summary.chain_period_id,
            **summary.totals.columns(),
        )
    if event.root == summary.root:
        commit_record_committed(row=row, tx_hash=event.tx_hash, block=event.block_number, gas=gas)
    else:
        row.merkle_root = event.root
        commit_record_mismatch(row=row, chain_root=event.root, database_root=summary.root)


def _index_amend_event(deployment: ChainDeployment, event: Event, gas: int | None) -> None:
    amendment = Amendment.objects.filter(
        original__deployment=deployment, tx_hash=event.tx_hash
    ).first()
    if amendment is not None and amendment.block_number is None:
        amendment.block_number, amendment.gas_used = event.block_number, gas
        amendment.save(update_fields=["block_number", "gas_used"])


def _index_member_event(deployment: ChainDeployment, event: Event, gas: int | None) -> None:
    MemberRegistration.objects.filter(
        deployment=deployment, tx_hash=event.tx_hash, block_number__isnull=True
    ).update(block_number=event.block_number, gas_used=gas)


INDEXERS = {
    "PeriodCommitted": _index_commit_event,
    "PeriodAmended": _index_amend_event,
    "MemberRegistered": _index_member_event,
}


@dataclass
class IndexReport:
    chain_id: int = 0
    head: int = 0
    from_block: int = 0
    to_block: int = 0
    events: int = 0
    redeployed: bool = False
    contract: str = ""


def chain_index(*, max_blocks: int = 5_000) -> IndexReport:
    """One indexer tick: notice a reset (redeploying), then read new blocks' contract events.

    Raises ChainUnavailable when the node does not answer (the next beat tick tries again).
    """
    client = chain_connect()
    report = IndexReport()
    with chain_calls():
        genesis = client.genesis_hash()
        active = deployment_active()
        if active is not None and deployment_current_on_chain(client, active, genesis):
            deployment = active
        else:
            with operator_lock():
                deployment = deployment_ensure(client=client)
            report.redeployed = active is not None
        report.chain_id = deployment.chain_id
        report.contract = deployment.contract_address
        head = client.block_number()
        report.head = head
        start = max(deployment.indexed_block + 1, deployment.deploy_block)
        end = min(head, start + max_blocks - 1)
        report.from_block, report.to_block = start, end
        if start > end:
            return report
        gas_of: dict[str, int | None] = {}
        for event in client.events(deployment.contract_address, from_block=start, to_block=end):
            if event.tx_hash not in gas_of:
                receipt = client.receipt(event.tx_hash)
                gas_of[event.tx_hash] = receipt.gas_used if receipt else None
            gas = gas_of[event.tx_hash]
            _, created = ChainEvent.objects.get_or_create(
                deployment=deployment,
                tx_hash=event.tx_hash,
                log_index=event.log_index,
                defaults={
                    "name": event.name,
                    "chain_period_id": getattr(event, "period_id", None),
                    "merkle_root": getattr(event, "root", "") or "",
                    "block_number": event.block_number,
                    "gas_used": gas,
                    "args": event.args_json,
                },
            )
            report.events += int(created)
            handler = INDEXERS.get(event.name)
            if handler is not None:
                handler(deployment, event, gas)
        ChainDeployment.objects.filter(pk=deployment.pk, indexed_block__lt=end).update(
            indexed_block=end
        )
    return report

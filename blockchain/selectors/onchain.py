"""Reads that ask the chain node (view calls and receipts, never a transaction) and compare what
it holds with what the database gives. They write nothing: a disagreement found here is reported
to the caller; the services (the commit and the indexer) are what raise alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from blockchain.chain.client import LedgerClient
from blockchain.chain.node import chain_calls, chain_connect
from blockchain.models import ChainDeployment, PeriodCommit
from blockchain.selectors.ledger import period_summary
from blockchain.selectors.status import deployment_active
from trading.models import TradingPeriod


def contract_code_present(client: LedgerClient, address: str) -> bool:
    """Is there contract code at `address`? (Not in the client: a thin call of our own.)"""
    return len(client.w3.eth.get_code(to_checksum_address(address))) > 0


def deployment_current_on_chain(
    client: LedgerClient, deployment: ChainDeployment | None, genesis: str
) -> bool:
    """Does the connected chain still hold this deployment's contract?

    The genesis hash tells a wiped Ganache apart; Anvil started again within the same second
    can rebuild the very same genesis block, so the contract's code is checked as well.
    """
    return (
        deployment is not None
        and deployment.genesis_hash == genesis
        and contract_code_present(client, deployment.contract_address)
    )


def commit_location(
    client: LedgerClient, deployment: ChainDeployment, row: PeriodCommit
) -> tuple[str, int | None, int | None]:
    """(tx hash, block, gas) of the period's commit, from our recorded hash or the events."""
    if row.tx_hash:
        receipt = client.receipt(row.tx_hash)
        if receipt is not None and receipt.status == 1:
            return row.tx_hash, receipt.block_number, receipt.gas_used
    for event in client.events(
        deployment.contract_address,
        from_block=deployment.deploy_block,
        names=("PeriodCommitted",),
        period_id=row.chain_period_id,
    ):
        receipt = client.receipt(event.tx_hash)
        return event.tx_hash, event.block_number, receipt.gas_used if receipt else None
    return row.tx_hash, None, None


# --- audit ------------------------------------------------------------------------------------


@dataclass
class AuditLine:
    period: str
    chain_period_id: int
    problem: str
    database_root: str
    chain_root: str


@dataclass
class AuditReport:
    contract: str = ""
    checked: int = 0
    mismatches: list[AuditLine] = field(default_factory=list)
    not_committed: int = 0


def chain_audit() -> AuditReport:
    """Recompute every committed period's root from the database and compare with the chain."""
    client = chain_connect()
    report = AuditReport()
    deployment = deployment_active()
    with chain_calls():
        if not deployment_current_on_chain(client, deployment, client.genesis_hash()):
            # No deployment on this chain: anything we think committed is not on it.
            deployment = None
        rows = (
            PeriodCommit.objects.filter(
                deployment=deployment,
                status__in=[PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH],
            )
            .select_related("period")
            .order_by("period__start")
            if deployment
            else PeriodCommit.objects.none()
        )
        # The rows are those of the deployment, so there are none without one.
        report.contract = contract = deployment.contract_address if deployment else ""
        for row in rows:
            report.checked += 1
            # A trade naming a member without a chain id gives a draft root: it differs, rightly.
            database_root = period_summary(row.period).root
            on_chain = client.get_commit(contract, row.chain_period_id)
            if on_chain is None:
                report.mismatches.append(
                    AuditLine(
                        str(row.period), row.chain_period_id, "not on chain", database_root, ""
                    )
                )
                continue
            # Never None here: a period with a committed root has a current root.
            chain_root = client.current_root(contract, row.chain_period_id) or ""
            if chain_root != database_root:
                report.mismatches.append(
                    AuditLine(
                        str(row.period),
                        row.chain_period_id,
                        "root differs",
                        database_root,
                        chain_root,
                    )
                )
    committed_periods = TradingPeriod.objects.filter(state=TradingPeriod.State.COMMITTED)
    if deployment is not None:
        committed_periods = committed_periods.exclude(
            chain_commits__deployment=deployment,
            chain_commits__status=PeriodCommit.Status.COMMITTED,
        )
    report.not_committed = committed_periods.count()
    return report

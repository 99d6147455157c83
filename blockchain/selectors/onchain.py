"""Reads that ask the chain node (view calls and receipts, never a transaction) and compare what
it holds with what the database gives. They write nothing: a disagreement found here is reported
to the caller; the services (the commit and the indexer) are what raise alarms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from blockchain import merkle
from blockchain.chain.client import LedgerClient
from blockchain.chain.node import ChainUnavailable, chain_calls, chain_connect
from blockchain.models import ChainDeployment, PeriodCommit
from blockchain.selectors.ledger import period_summary, trade_proof
from blockchain.selectors.status import deployment_active
from trading.models import Trade, TradingPeriod


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


# --- verifying a trade ----------------------------------------------------------------------


@dataclass
class VerifyResult:
    """What the Verify button found, in words and in the numbers a member can check again."""

    verified: bool
    state: str  # verified, pending, not_verified, unavailable, held
    message: str
    trade_id: int
    chain_period_id: int
    leaf: str = ""
    leaf_index: int | None = None
    proof: list[str] = field(default_factory=list)
    root: str = ""  # the period's root from the database
    contract: str = ""
    chain_id: int | None = None
    block: int | None = None
    tx_hash: str = ""
    chain_root: str = ""  # the root the contract holds, when it does not accept the proof

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def trade_verify(*, trade: Trade) -> VerifyResult:
    """Check a trade's leaf and proof against the contract with a view call (no transaction).

    Writes nothing: a proof the contract refuses is reported in the result (with the root the
    contract holds), not recorded; the commit and the indexer raise the alarms.
    """
    period = trade.period
    deployment = deployment_active()
    summary, index, proof = trade_proof(trade)
    result = VerifyResult(
        verified=False,
        state="pending",
        message="",
        trade_id=trade.pk,
        chain_period_id=period.period_id,
        leaf_index=index,
    )
    if not summary.unregistered:
        # With a member not yet given a chain id the leaf is a draft: nothing to show yet.
        result.leaf = "0x" + merkle.leaf_hash(summary.leaves[index]).hex()
        result.proof = ["0x" + p.hex() for p in proof]
        result.root = summary.root
    row = (
        PeriodCommit.objects.filter(deployment=deployment, period=period).first()
        if deployment
        else None
    )
    on_chain_states = (PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH)
    if deployment is None or row is None or row.status not in on_chain_states:
        result.message = (
            f"Not on the chain yet: {period} is waiting to be committed. Try again later."
        )
        return result
    result.contract, result.chain_id = deployment.contract_address, deployment.chain_id
    result.block, result.tx_hash = row.block_number, row.tx_hash
    try:
        client = chain_connect()
        with chain_calls():
            ok = client.verify_trade(
                deployment.contract_address,
                period_id=period.period_id,
                leaf=summary.leaves[index],
                index=index,
                proof=proof,
            )
            if not ok:
                result.chain_root = (
                    client.current_root(deployment.contract_address, period.period_id) or ""
                )
    except ChainUnavailable:
        result.state = "unavailable"
        result.message = "The chain node is not reachable just now, so nothing was checked."
        return result
    if ok:
        result.verified, result.state = True, "verified"
        result.message = (
            f"Verified: the contract at {deployment.contract_address} confirms this trade is "
            f"leaf {index + 1} of {summary.trade_count} in {period} (chain period "
            f"{period.period_id}), committed in block {row.block_number}."
        )
    elif row.status == PeriodCommit.Status.MISMATCH:
        result.state = "held"
        result.message = (
            "Not verified: the contract does not accept this trade's proof against the root it "
            f"holds for {period}. The co-op has been alerted; the period is under review."
        )
    else:
        result.state = "not_verified"
        records = f"; the co-op's records give {result.root}" if result.root else ""
        result.message = (
            "Not verified: the contract does not accept this trade's proof against the root it "
            f"holds for {period} ({result.chain_root or 'none'}){records}. Please tell the "
            "co-op, so the period can be reviewed."
        )
    return result

"""What the co-op knows about the chain: deployments of the contract, registered members, one
commit per settled period per deployment, amendments, the events the indexer saw, and alarms.

Units on chain are integers with the unit in the name (energy_wh, value_micro_nzd); hashes and
addresses are stored as 0x-prefixed lower-case hex so they compare as plain strings.
"""

from __future__ import annotations

from typing import TypedDict

from django.db import models
from django.db.models import Q

from coop.models import Member
from trading.models import TradingPeriod


class _Length(TypedDict):
    max_length: int


HASH: _Length = {"max_length": 66}  # 0x and 32 bytes in hex
ADDRESS: _Length = {"max_length": 42}  # 0x and 20 bytes in hex


class ChainDeployment(models.Model):
    """One deployment of the CoopLedger contract on one chain.

    A chain is known by its chain id and genesis block hash: a wiped dev Ganache keeps its
    chain id but gets a new genesis, so the genesis hash is what tells a reset apart.
    """

    chain_id = models.PositiveBigIntegerField()
    genesis_hash = models.CharField(**HASH)
    contract_address = models.CharField(**ADDRESS)
    operator_address = models.CharField(**ADDRESS, blank=True)
    deploy_tx_hash = models.CharField(**HASH)
    deploy_block = models.PositiveBigIntegerField()
    rpc_url = models.CharField(max_length=200, blank=True, help_text="The node it was seen on.")
    active = models.BooleanField(default=True)
    indexed_block = models.PositiveBigIntegerField(
        default=0, help_text="The last block the indexer has read events up to (inclusive)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The co-op commits to one chain at a time (the configured one). Two workers deploying
            # at once: the second insert fails and that worker uses the first deployment.
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_deployment"
            ),
        ]

    def __str__(self) -> str:
        state = "active" if self.active else "retired"
        return f"chain {self.chain_id} contract {self.contract_address} ({state})"


class MemberChainId(models.Model):
    """How the chain names a member, fixed once and kept across chain resets.

    The hash is keccak256 of a random salt and the member's id, so the chain shows no names
    and no one can test a guess of who a hash is; the member sees their own hash on their page.
    The address is derived from the hash (no one holds its key): the contract wants an address
    per member, and members do not need an Ethereum wallet to trade.
    """

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="chain_id")
    salt = models.CharField(**HASH)
    member_hash = models.CharField(**HASH, unique=True)
    address = models.CharField(**ADDRESS, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "member chain id"

    def __str__(self) -> str:
        return f"{self.member}: {self.member_hash[:10]}…"


class MemberRegistration(models.Model):
    """A member made known to the contract: an address and a hash that names no one."""

    deployment = models.ForeignKey(
        ChainDeployment, on_delete=models.CASCADE, related_name="registrations"
    )
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="chain_registrations")
    member_hash = models.CharField(**HASH)
    address = models.CharField(**ADDRESS)
    tx_hash = models.CharField(**HASH, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "member"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "member"], name="one_registration_per_member_and_deployment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} as {self.member_hash[:10]}…"


class PeriodCommit(models.Model):
    """A settled period's Merkle root and totals, and where its one commit transaction is."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent, waiting for the receipt"
        COMMITTED = "committed", "Committed"
        FAILED = "failed", "Failed"
        MISMATCH = "mismatch", "Chain holds a different root (stopped)"

    deployment = models.ForeignKey(
        ChainDeployment, on_delete=models.CASCADE, related_name="commits"
    )
    period = models.ForeignKey(
        TradingPeriod, on_delete=models.PROTECT, related_name="chain_commits"
    )
    chain_period_id = models.PositiveBigIntegerField(help_text="yyyymmdd * 100 + TP")
    merkle_root = models.CharField(**HASH)
    trade_count = models.PositiveIntegerField()
    total_wh = models.PositiveBigIntegerField()
    total_value_micro_nzd = models.PositiveBigIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    tx_hash = models.CharField(**HASH, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "period__start"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "period"], name="one_commit_per_period_and_deployment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} on {self.deployment.contract_address[:10]}…: {self.status}"


class Amendment(models.Model):
    """A correction committed beside the original commit, which the contract never overwrites."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        COMMITTED = "committed", "Committed"
        FAILED = "failed", "Failed"

    original = models.ForeignKey(PeriodCommit, on_delete=models.PROTECT, related_name="amendments")
    merkle_root = models.CharField(**HASH)
    trade_count = models.PositiveIntegerField()
    total_wh = models.PositiveBigIntegerField()
    total_value_micro_nzd = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    tx_hash = models.CharField(**HASH, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["original", "created_at"]

    def __str__(self) -> str:
        return f"Amendment of {self.original.period}: {self.reason}"


class ChainEvent(models.Model):
    """A contract event the indexer read: where and at what gas each commit landed."""

    deployment = models.ForeignKey(ChainDeployment, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=40)
    chain_period_id = models.PositiveBigIntegerField(null=True, blank=True)
    merkle_root = models.CharField(**HASH, blank=True)
    block_number = models.PositiveBigIntegerField()
    tx_hash = models.CharField(**HASH)
    log_index = models.PositiveIntegerField()
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    args = models.JSONField(default=dict)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "tx_hash", "log_index"], name="one_row_per_chain_log"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} in block {self.block_number}"


class ChainAlarm(models.Model):
    """Something a person must look at: the chain disagrees with the database, or was reset."""

    class Kind(models.TextChoices):
        ROOT_MISMATCH = "root_mismatch", "Chain root differs from the database"
        CHAIN_RESET = "chain_reset", "Chain was reset (new genesis); redeployed"
        COMMIT_FAILED = "commit_failed", "A commit transaction failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    deployment = models.ForeignKey(
        ChainDeployment, on_delete=models.CASCADE, null=True, blank=True, related_name="alarms"
    )
    period = models.ForeignKey(
        TradingPeriod, on_delete=models.PROTECT, null=True, blank=True, related_name="chain_alarms"
    )
    message = models.TextField()
    database_root = models.CharField(**HASH, blank=True)
    chain_root = models.CharField(**HASH, blank=True)
    raised_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # Retries of a stopped period do not pile up alarms: one open alarm per kind & period.
            models.UniqueConstraint(
                fields=["kind", "deployment", "period"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alarm_per_kind_and_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.period or self.deployment}"

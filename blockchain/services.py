"""Writes that involve the chain: deploy, register members, commit settled periods exactly once,
amend, index events, audit, verify a trade.

Exactly once, with at-least-once tasks: before sending a commit we read the chain. A period the
contract already holds with the same root is recorded as committed and nothing is sent (the
retry of a worker killed after sending); a different root raises an alarm and stops that period.
The transaction hash is recorded before waiting for the receipt, and the contract itself
reverts a second commit of a period, which is the last guard against two racing workers.

Every send from the operator account happens under one Redis lock (`operator_lock`): it keeps
nonces from colliding and makes periods land on chain in the order they started. The lock lives
LOCK_TTL_SECONDS and a thread renews it while its holder works, so a worker killed mid-commit
holds up the others for at most that long.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ProviderConnectionError, TimeExhausted

from blockchain import merkle
from blockchain.chain import client as chain
from blockchain.models import (
    Amendment,
    ChainAlarm,
    ChainDeployment,
    ChainEvent,
    MemberChainId,
    MemberRegistration,
    PeriodCommit,
)
from coop.models import Member
from trading.models import Trade, TradingPeriod

log = logging.getLogger(__name__)

# A node that does not answer: refused, reset, timed out. requests' errors are OSErrors.
CONNECTION_ERRORS = (OSError, requests.RequestException, ProviderConnectionError, TimeExhausted)
LOCK_NAME = "hapori:chain:operator"
# Short, and renewed every third of it while the holder works (operator_lock): a killed worker's
# lock lapses within this, while a live holder keeps it however long a catch-up takes.
LOCK_TTL_SECONDS = 20
# A commit whose transaction reverted for a reason other than "already committed" is tried this
# many times, then left for a person (admin action "retry") with an alarm.
MAX_FAILED_ATTEMPTS = 5


class ChainUnavailable(Exception):
    """No chain node answers (or none is configured): commits wait and are retried."""


class OperatorBusy(Exception):
    """Another worker holds the operator lock; this one steps aside and retries later."""


# --- connection and locking ------------------------------------------------------------------


def chain_url() -> str:
    return settings.CHAIN_RPC_URL


@contextlib.contextmanager
def chain_calls(url: str = "") -> Iterator[None]:
    """Turn 'the node does not answer' into ChainUnavailable, whatever library raised it."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise ChainUnavailable(
            f"The chain node at {url or chain_url()} does not answer: {exc}"
        ) from exc


def chain_connect(url: str | None = None) -> chain.LedgerClient:
    url = url if url is not None else chain_url()
    if not url:
        raise ChainUnavailable(
            "No chain is configured (CHAIN_RPC_URL is empty); settled periods wait until one is."
        )
    with chain_calls(url):
        client = chain.LedgerClient(url, settings.CHAIN_PRIVATE_KEY)
        client.genesis_hash()
    return client


def _renew_lock(lock: Any, stop: threading.Event, every: float) -> None:
    """Keep the lock's TTL topped up until `stop`; give up once it is no longer ours."""
    while not stop.wait(every):
        try:
            lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            # It lapsed (this process was paused past the TTL) and may be someone else's now:
            # the holder finds out before its next period (commits_catch_up checks `owned`).
            log.error("The operator lock lapsed while held; no longer renewing it.")
            return
        except redis.RedisError as exc:  # Redis away for a moment: try again next tick
            log.warning("Could not renew the operator lock: %s", exc)


@contextlib.contextmanager
def operator_lock(*, wait_seconds: float = 10) -> Iterator[Any]:
    """Hold the operator account's lock; raise OperatorBusy if another worker keeps it.

    The lock expires LOCK_TTL_SECONDS after its last renewal. While the with-block runs, a
    daemon thread renews it every third of that, so work of any length keeps it; a worker that
    is killed stops renewing and its lock lapses within the TTL. On leaving (normally or by an
    exception) the renewal stops and the lock is released.
    """
    ttl = LOCK_TTL_SECONDS
    conn = redis.Redis.from_url(settings.REDIS_URL)
    lock = conn.lock(LOCK_NAME, timeout=ttl, blocking_timeout=wait_seconds, thread_local=False)
    if not lock.acquire():
        conn.close()
        raise OperatorBusy("Another worker is sending from the operator account.")
    stop = threading.Event()
    renewal = threading.Thread(
        target=_renew_lock,
        args=(lock, stop, ttl / 3),
        name="operator-lock-renewal",
        daemon=True,
    )
    renewal.start()
    try:
        yield lock
    finally:
        stop.set()
        renewal.join(timeout=ttl)
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()
        conn.close()


# --- deployments --------------------------------------------------------------------------


def contract_code_present(client: chain.LedgerClient, address: str) -> bool:
    """Is there contract code at `address`? (Not in the client: a thin call of our own.)"""
    return len(client.w3.eth.get_code(to_checksum_address(address))) > 0


def deployment_current_on_chain(
    client: chain.LedgerClient, deployment: ChainDeployment | None, genesis: str
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


def deployment_ensure(*, client: chain.LedgerClient) -> ChainDeployment:
    """The active deployment on the connected chain, deploying the contract when there is none.

    A different genesis hash than the active deployment's means the chain was reset (a wiped dev
    Ganache) or the co-op moved chains: the old deployment is retired, the contract deployed
    again and an alarm notes it; every settled period then lacks a commit on the new deployment,
    so the catch-up re-registers members and re-commits them all, oldest first. Call under the
    operator lock (deploying sends a transaction).
    """
    with chain_calls():
        genesis = client.genesis_hash()
        active = ChainDeployment.objects.filter(active=True).first()
        if deployment_current_on_chain(client, active, genesis):
            return active
        chain_id = client.chain_id()
        deployed = client.deploy()
    now = timezone.now()
    try:
        with transaction.atomic():
            ChainDeployment.objects.filter(active=True).update(active=False, retired_at=now)
            new = ChainDeployment.objects.create(
                chain_id=chain_id,
                genesis_hash=genesis,
                contract_address=deployed.address.lower(),
                operator_address=client.operator_address.lower(),
                deploy_tx_hash=deployed.tx_hash,
                deploy_block=deployed.block_number,
                indexed_block=max(deployed.block_number - 1, 0),
                rpc_url=chain_url()[:200],
            )
            if active is not None:
                ChainAlarm.objects.create(
                    kind=ChainAlarm.Kind.CHAIN_RESET,
                    deployment=new,
                    message=(
                        f"The chain at {chain_url()} (genesis {genesis}) no longer holds contract "
                        f"{active.contract_address} (genesis {active.genesis_hash}): it was reset "
                        f"or replaced. The contract was deployed again at {new.contract_address}; "
                        "every settled period is being committed to it again, oldest first."
                    ),
                )
    except IntegrityError:
        # Someone else recorded a deployment at the same moment; theirs is the one.
        return ChainDeployment.objects.get(active=True)
    log.info("Deployed CoopLedger at %s on chain %s", new.contract_address, chain_id)
    return new


# --- members ------------------------------------------------------------------------------


def member_chain_id(member: Member) -> MemberChainId:
    """The member's fixed chain identity, created on first use."""
    existing = MemberChainId.objects.filter(member=member).first()
    if existing is not None:
        return existing
    salt = secrets.token_bytes(32)
    member_hash = keccak(salt + member.pk.to_bytes(32, "big"))
    address = keccak(b"hapori-member-address:" + member_hash)[12:]
    try:
        with transaction.atomic():
            return MemberChainId.objects.create(
                member=member,
                salt="0x" + salt.hex(),
                member_hash="0x" + member_hash.hex(),
                address="0x" + address.hex(),
            )
    except IntegrityError:
        return MemberChainId.objects.get(member=member)


def members_register(
    *, client: chain.LedgerClient, deployment: ChainDeployment, members: list[Member]
) -> int:
    """Register on the contract every member given that the deployment does not know yet.

    Read first, as for commits: a member the contract already knows (a worker killed after
    sending) is recorded without sending again. Returns how many were sent.
    """
    known = set(
        MemberRegistration.objects.filter(deployment=deployment, member__in=members).values_list(
            "member_id", flat=True
        )
    )
    sent = 0
    for member in members:
        if member.pk in known:
            continue
        ident = member_chain_id(member)
        with chain_calls():
            receipt = None
            if not client.is_member(deployment.contract_address, ident.address):
                receipt = client.register_member(
                    deployment.contract_address, ident.address, ident.member_hash
                )
                sent += 1
        MemberRegistration.objects.get_or_create(
            deployment=deployment,
            member=member,
            defaults={
                "member_hash": ident.member_hash,
                "address": ident.address,
                "tx_hash": receipt.tx_hash if receipt else "",
                "block_number": receipt.block_number if receipt else None,
                "gas_used": receipt.gas_used if receipt else None,
            },
        )
    return sent


# --- what a period commits ----------------------------------------------------------------


@dataclass(frozen=True)
class PeriodSummary:
    """A period as the chain sees it: the root of its trades and the totals beside it."""

    chain_period_id: int
    leaves: list[bytes]
    root: str
    trade_count: int
    total_wh: int
    total_value_micro_nzd: int


def _to_wh(kwh) -> int:
    # energy_kwh has exactly 3 decimal places (whole Wh): the conversion is exact.
    return int(kwh.scaleb(3).to_integral_exact())


def _to_micro(nzd) -> int:
    # NZD fields have exactly 6 decimal places (whole micro-dollars).
    return int(nzd.scaleb(6).to_integral_exact())


def trade_leaf_fields(trade: Trade, ids: dict[int, MemberChainId]) -> merkle.TradeLeaf:
    """The integers a trade's leaf encodes (see blockchain.merkle for the byte layout)."""
    return merkle.TradeLeaf(
        period_id=trade.period.period_id,
        sequence=trade.sequence,
        buyer=bytes.fromhex(ids[trade.buyer_id].member_hash[2:]),
        seller=bytes.fromhex(ids[trade.seller_id].member_hash[2:]),
        energy_wh=_to_wh(trade.energy_kwh),
        price_c_e4=int(trade.price_c.scaleb(4).to_integral_exact()),
        value_micro_nzd=_to_micro(trade.buyer_pays_nzd),
    )


def period_trades(period: TradingPeriod) -> list[Trade]:
    return list(Trade.objects.filter(period=period).select_related("period").order_by("sequence"))


def period_summary(period: TradingPeriod) -> PeriodSummary:
    trades = period_trades(period)
    member_ids = {t.buyer_id for t in trades} | {t.seller_id for t in trades}
    ids = {m.pk: member_chain_id(m) for m in Member.objects.filter(pk__in=member_ids)}
    leaves = [merkle.encode_leaf(trade_leaf_fields(t, ids)) for t in trades]
    return PeriodSummary(
        chain_period_id=period.period_id,
        leaves=leaves,
        root="0x" + merkle.merkle_root(leaves).hex(),
        trade_count=len(trades),
        total_wh=sum(_to_wh(t.energy_kwh) for t in trades),
        total_value_micro_nzd=sum(_to_micro(t.buyer_pays_nzd) for t in trades),
    )


# --- committing -----------------------------------------------------------------------------


def _record_committed(
    row: PeriodCommit, *, tx_hash: str, block: int | None, gas: int | None
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
        row.save()
        TradingPeriod.objects.filter(pk=row.period_id, state=TradingPeriod.State.SETTLED).update(
            state=TradingPeriod.State.COMMITTED, state_changed_at=now
        )
        commit = {
            "period": str(row.period),
            "trades": row.trade_count,
            "block": row.block_number,
            "tx_hash": row.tx_hash,
        }
        # The wall display's ticker; pushed only once the commit is in the database.
        transaction.on_commit(lambda: _push_commit(commit))


def _push_commit(commit: dict) -> None:
    from trading.live import broadcast

    try:
        broadcast.to_display("commit", commit)
    except Exception:  # a display that cannot be told must never undo a commit
        log.warning("could not push commit of %s to the display", commit["period"], exc_info=True)


def _raise_mismatch(row: PeriodCommit, *, chain_root: str, database_root: str) -> None:
    """Stop the period: the chain holds a root the database does not produce."""
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


def _where_committed(
    client: chain.LedgerClient, deployment: ChainDeployment, row: PeriodCommit
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


def period_commit(
    *, period_id: int, client: chain.LedgerClient, deployment: ChainDeployment
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
    summary = period_summary(period)
    row, _ = PeriodCommit.objects.get_or_create(
        deployment=deployment,
        period=period,
        defaults={
            "chain_period_id": summary.chain_period_id,
            "merkle_root": summary.root,
            "trade_count": summary.trade_count,
            "total_wh": summary.total_wh,
            "total_value_micro_nzd": summary.total_value_micro_nzd,
        },
    )
    if row.status in (PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH):
        if row.status == PeriodCommit.Status.COMMITTED:
            TradingPeriod.objects.filter(pk=period.pk, state=TradingPeriod.State.SETTLED).update(
                state=TradingPeriod.State.COMMITTED, state_changed_at=timezone.now()
            )
        return row
    # The row says what the database says now (a correction before sending changes the root).
    row.merkle_root = summary.root
    row.trade_count = summary.trade_count
    row.total_wh = summary.total_wh
    row.total_value_micro_nzd = summary.total_value_micro_nzd
    row.attempts += 1
    row.save()

    members = list(
        Member.objects.filter(Q(purchases__period=period) | Q(sales__period=period)).distinct()
    )
    members_register(client=client, deployment=deployment, members=members)

    with chain_calls():
        on_chain = client.get_commit(deployment.contract_address, summary.chain_period_id)
        if on_chain is not None:
            if on_chain.root == summary.root:
                tx_hash, block, gas = _where_committed(client, deployment, row)
                _record_committed(row, tx_hash=tx_hash, block=block, gas=gas)
            else:
                row.merkle_root = on_chain.root
                _raise_mismatch(row, chain_root=on_chain.root, database_root=summary.root)
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

        signed = client.sign_commit(
            deployment.contract_address,
            period_id=summary.chain_period_id,
            root=summary.root,
            trade_count=summary.trade_count,
            total_wh=summary.total_wh,
            total_value_micro_nzd=summary.total_value_micro_nzd,
        )
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
    client: chain.LedgerClient,
    deployment: ChainDeployment,
    row: PeriodCommit,
    summary: PeriodSummary,
    receipt,
) -> PeriodCommit:
    if receipt.status == 1:
        _record_committed(
            row, tx_hash=receipt.tx_hash, block=receipt.block_number, gas=receipt.gas_used
        )
        return row
    # Reverted: most likely another worker committed the period a moment earlier.
    on_chain = client.get_commit(deployment.contract_address, summary.chain_period_id)
    if on_chain is not None and on_chain.root == summary.root:
        tx_hash, block, gas = _where_committed(client, deployment, row)
        _record_committed(row, tx_hash=tx_hash, block=block, gas=gas)
    elif on_chain is not None:
        row.merkle_root = on_chain.root
        _raise_mismatch(row, chain_root=on_chain.root, database_root=summary.root)
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


def _commit_queue(deployment: ChainDeployment, up_to: TradingPeriod | None) -> list[TradingPeriod]:
    """Settled periods still to commit on the deployment, oldest first; stopped ones left out."""
    from blockchain.selectors import commits_waiting

    stopped = PeriodCommit.objects.filter(deployment=deployment).filter(
        Q(status=PeriodCommit.Status.MISMATCH)
        | Q(status=PeriodCommit.Status.FAILED, attempts__gte=MAX_FAILED_ATTEMPTS)
    )
    stopped_ids = set(stopped.values_list("period_id", flat=True))
    return [
        p
        for p in commits_waiting(deployment)
        if p.pk not in stopped_ids and (up_to is None or p.start <= up_to.start)
    ]


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
        for period in _commit_queue(deployment, up_to)[:limit]:
            row = period_commit(period_id=period.pk, client=client, deployment=deployment)
            if row is not None:
                done.append(row)
            if not lock.owned():
                raise OperatorBusy(
                    "The operator lock lapsed during the catch-up; stopping before the next "
                    "period (the retry or the sweep carries on)."
                )
    return done


# --- amendments -----------------------------------------------------------------------------


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
        summary = period_summary(row.period)
        amendment = Amendment.objects.create(
            original=row,
            merkle_root=summary.root,
            trade_count=summary.trade_count,
            total_wh=summary.total_wh,
            total_value_micro_nzd=summary.total_value_micro_nzd,
            reason=reason.strip()[:200],
        )
        with chain_calls():
            receipt = client.amend_period(
                deployment.contract_address,
                period_id=summary.chain_period_id,
                root=summary.root,
                trade_count=summary.trade_count,
                total_wh=summary.total_wh,
                total_value_micro_nzd=summary.total_value_micro_nzd,
            )
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
                TradingPeriod.objects.filter(
                    pk=row.period_id, state=TradingPeriod.State.SETTLED
                ).update(state=TradingPeriod.State.COMMITTED, state_changed_at=now)
                ChainAlarm.objects.filter(
                    period=row.period, deployment=deployment, resolved_at__isnull=True
                ).update(resolved_at=now, resolution=f"Amended on chain: {amendment.reason}")
            else:
                amendment.status = Amendment.Status.FAILED
                amendment.last_error = f"Amendment transaction {receipt.tx_hash} reverted."
            amendment.save()
    return amendment


def effective_root(row: PeriodCommit) -> str:
    """The root that stands for a period: its latest mined amendment's, else the original's."""
    latest = (
        row.amendments.filter(status=Amendment.Status.COMMITTED).order_by("-created_at").first()
    )
    return latest.merkle_root if latest else row.merkle_root


# --- the indexer ------------------------------------------------------------------------------


def _period_from_chain_id(chain_period_id: int) -> TradingPeriod | None:
    day, number = divmod(chain_period_id, 100)
    try:
        date = dt.date(day // 10_000, day // 100 % 100, day % 100)
    except ValueError:
        return None
    return TradingPeriod.objects.filter(trading_date=date, number=number).first()


def _index_commit_event(deployment: ChainDeployment, event, gas: int | None) -> None:
    """A PeriodCommitted event: make sure the commit row says where and at what gas it landed."""
    period = _period_from_chain_id(event.period_id)
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
    summary = period_summary(period)
    if row is None:
        row = PeriodCommit.objects.create(
            deployment=deployment,
            period=period,
            chain_period_id=summary.chain_period_id,
            merkle_root=summary.root,
            trade_count=summary.trade_count,
            total_wh=summary.total_wh,
            total_value_micro_nzd=summary.total_value_micro_nzd,
        )
    if event.root == summary.root:
        _record_committed(row, tx_hash=event.tx_hash, block=event.block_number, gas=gas)
    else:
        row.merkle_root = event.root
        _raise_mismatch(row, chain_root=event.root, database_root=summary.root)


def _index_amend_event(deployment: ChainDeployment, event, gas: int | None) -> None:
    amendment = Amendment.objects.filter(
        original__deployment=deployment, tx_hash=event.tx_hash
    ).first()
    if amendment is not None and amendment.block_number is None:
        amendment.block_number, amendment.gas_used = event.block_number, gas
        amendment.save(update_fields=["block_number", "gas_used"])


def _index_member_event(deployment: ChainDeployment, event, gas: int | None) -> None:
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
        active = ChainDeployment.objects.filter(active=True).first()
        if not deployment_current_on_chain(client, active, genesis):
            with operator_lock():
                deployment = deployment_ensure(client=client)
            report.redeployed = active is not None
        else:
            deployment = active
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
    deployment = ChainDeployment.objects.filter(active=True).first()
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
        report.contract = deployment.contract_address if deployment else ""
        for row in rows:
            report.checked += 1
            database_root = period_summary(row.period).root
            on_chain = client.get_commit(deployment.contract_address, row.chain_period_id)
            if on_chain is None:
                report.mismatches.append(
                    AuditLine(
                        str(row.period), row.chain_period_id, "not on chain", database_root, ""
                    )
                )
                continue
            chain_root = client.current_root(deployment.contract_address, row.chain_period_id)
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
    root: str = ""
    contract: str = ""
    chain_id: int | None = None
    block: int | None = None
    tx_hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def trade_proof(trade: Trade) -> tuple[PeriodSummary, int, list[bytes]]:
    """(the period's summary, the trade's leaf index, its Merkle proof) from the database."""
    summary = period_summary(trade.period)
    index = [t.pk for t in period_trades(trade.period)].index(trade.pk)
    return summary, index, merkle.merkle_proof(summary.leaves, index)


def trade_verify(*, trade: Trade) -> VerifyResult:
    """Check a trade's leaf and proof against the contract with a view call (no transaction)."""
    period = trade.period
    deployment = ChainDeployment.objects.filter(active=True).first()
    summary, index, proof = trade_proof(trade)
    result = VerifyResult(
        verified=False,
        state="pending",
        message="",
        trade_id=trade.pk,
        chain_period_id=period.period_id,
        leaf="0x" + merkle.leaf_hash(summary.leaves[index]).hex(),
        leaf_index=index,
        proof=["0x" + p.hex() for p in proof],
        root=summary.root,
    )
    row = (
        PeriodCommit.objects.filter(deployment=deployment, period=period).first()
        if deployment
        else None
    )
    if row is None or row.status not in (
        PeriodCommit.Status.COMMITTED,
        PeriodCommit.Status.MISMATCH,
    ):
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
    else:
        result.state = "held" if row.status == PeriodCommit.Status.MISMATCH else "not_verified"
        result.message = (
            "Not verified: the contract does not accept this trade's proof against the root it "
            f"holds for {period}. The co-op has been alerted; the period is under review."
        )
        if row.status != PeriodCommit.Status.MISMATCH:
            _raise_mismatch(
                row,
                chain_root=client.current_root(deployment.contract_address, period.period_id),
                database_root=summary.root,
            )
    return result

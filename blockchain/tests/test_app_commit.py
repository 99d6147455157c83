"""Settled periods committed to the contract exactly once, against a real Ganache and Anvil.

Each test gets its own contract (the database rolls back, so the app deploys on first use) on a
chain started once per session; the tests that reset or stop a chain use their own chain.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from blockchain.chain.devchain import DevChain
from blockchain.chain.node import chain_connect
from blockchain.models import (
    ChainAlarm,
    ChainDeployment,
    ChainEvent,
    MemberChainId,
    MemberRegistration,
    PeriodCommit,
)
from blockchain.selectors.ledger import PeriodSummary, period_summary
from blockchain.selectors.status import commits_waiting, trade_chain_status
from blockchain.services.amendments import period_amend
from blockchain.services.deployments import deployment_ensure
from blockchain.services.members import members_register, period_chain_ids_ensure
from blockchain.services.operator import operator_lock
from blockchain.tasks import commit_pending, commit_period, index_chain
from blockchain.tests.test_app_support import settled_period
from trading.models import Trade, TradingPeriod
from trading.signals import period_settled

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.fixture(scope="session", params=["ganache", "anvil"])
def session_chain(request):
    chain = DevChain(request.param).start()
    yield chain
    chain.stop()


@pytest.fixture
def on_chain(settings, session_chain):
    settings.CHAIN_RPC_URL = session_chain.url
    return session_chain


@pytest.fixture
def parties(resident, other_resident):
    return resident, other_resident


def settle(period: TradingPeriod, capture) -> None:
    """What trading does when a period settles: the signal, after the database commit."""
    with capture(execute=True), transaction.atomic():
        transaction.on_commit(
            lambda: period_settled.send(sender=TradingPeriod, period_id=period.pk)
        )


def operator_nonce() -> int:
    client = chain_connect()
    return client.nonce()


def final_summary(period: TradingPeriod) -> PeriodSummary:
    """The summary as the commit makes it: the members' chain ids created first."""
    period_chain_ids_ensure(period=period)
    return period_summary(period)


def commit_events(period: TradingPeriod) -> list:
    client = chain_connect()
    deployment = ChainDeployment.objects.get(active=True)
    return [
        e
        for e in client.events(deployment.contract_address, from_block=deployment.deploy_block)
        if e.name == "PeriodCommitted" and e.period_id == period.period_id
    ]


def test_a_settled_period_is_committed_after_the_database_commit(
    on_chain, parties, django_capture_on_commit_callbacks
):
    period = settled_period(20, *parties, trades=3)
    settle(period, django_capture_on_commit_callbacks)

    row = PeriodCommit.objects.get(period=period)
    period.refresh_from_db()
    assert row.status == PeriodCommit.Status.COMMITTED
    assert period.state == TradingPeriod.State.COMMITTED
    assert row.block_number
    assert row.tx_hash.startswith("0x")
    assert len(row.tx_hash) == 66
    assert 0 < row.gas_used < 60_000
    summary = period_summary(period)
    assert (row.trade_count, row.total_wh) == (3, sum(1250 + s for s in (1, 2, 3)))
    chain_view = chain_connect().get_commit(row.deployment.contract_address, period.period_id)
    assert chain_view.root == summary.root == row.merkle_root
    # Members in the period's trades were registered before the commit.
    assert MemberRegistration.objects.filter(deployment=row.deployment).count() == 2

    status = trade_chain_status(Trade.objects.filter(period=period))
    assert {s["state"] for s in status.values()} == {"committed"}
    assert {s["tx_hash"] for s in status.values()} == {row.tx_hash}


def test_a_rolled_back_settlement_commits_nothing(
    on_chain, parties, django_capture_on_commit_callbacks
):
    period = settled_period(20, *parties)

    def settlement_that_fails() -> None:
        with transaction.atomic():
            transaction.on_commit(
                lambda: period_settled.send(sender=TradingPeriod, period_id=period.pk)
            )
            raise RuntimeError("settlement failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        settlement_that_fails()
    assert not PeriodCommit.objects.exists()


def test_a_task_delivered_twice_commits_once(on_chain, parties):
    period = settled_period(21, *parties)
    commit_period.apply(args=[period.pk])
    nonce = operator_nonce()
    commit_period.apply(args=[period.pk])
    assert operator_nonce() == nonce, "the second delivery sent a transaction"
    assert len(commit_events(period)) == 1
    assert PeriodCommit.objects.get(period=period).status == PeriodCommit.Status.COMMITTED


def test_a_worker_killed_after_sending_is_recorded_without_sending_again(on_chain, parties):
    """The dead worker's transaction is on chain but the database never heard of it."""
    period = settled_period(22, *parties)
    client = chain_connect()
    with operator_lock():
        deployment = deployment_ensure(client=client)
    summary = final_summary(period)
    members = [period.trades.first().buyer, period.trades.first().seller]
    members_register(client=client, deployment=deployment, members=members)
    signed = client.sign_commit(deployment.contract_address, summary.totals)
    client.send_signed(signed)  # ...and the worker dies here.
    nonce = operator_nonce()

    commit_period.apply(args=[period.pk])

    assert operator_nonce() == nonce
    row = PeriodCommit.objects.get(period=period)
    assert row.status == PeriodCommit.Status.COMMITTED
    assert row.tx_hash == signed.tx_hash
    assert row.block_number
    assert row.gas_used
    assert len(commit_events(period)) == 1


def test_a_worker_killed_after_recording_but_before_sending_sends_once(on_chain, parties):
    """The row says 'sent' with a hash the chain never saw: the retry sends, once."""
    period = settled_period(23, *parties)
    with operator_lock():
        deployment = deployment_ensure(client=chain_connect())
    summary = final_summary(period)
    never_broadcast = "0x" + "cd" * 32
    PeriodCommit.objects.create(
        deployment=deployment,
        period=period,
        chain_period_id=summary.chain_period_id,
        merkle_root=summary.root,
        trade_count=summary.trade_count,
        total_wh=summary.total_wh,
        total_value_micro_nzd=summary.total_value_micro_nzd,
        status=PeriodCommit.Status.SENT,
        tx_hash=never_broadcast,
        attempts=1,
    )

    commit_period.apply(args=[period.pk])
    commit_period.apply(args=[period.pk])

    row = PeriodCommit.objects.get(period=period)
    assert row.status == PeriodCommit.Status.COMMITTED
    assert row.tx_hash != never_broadcast
    assert row.attempts == 2
    assert len(commit_events(period)) == 1


def test_periods_commit_in_the_order_they_started(on_chain, parties):
    later = settled_period(30, *parties)
    earlier = settled_period(29, *parties)
    commit_period.apply(args=[later.pk])  # the later one's task runs first
    rows = list(PeriodCommit.objects.order_by("block_number"))
    assert [r.period_id for r in rows] == [earlier.pk, later.pk]


def test_a_different_root_on_chain_raises_an_alarm_and_stops_that_period(on_chain, parties):
    period = settled_period(24, *parties)
    after = settled_period(25, *parties)
    client = chain_connect()
    with operator_lock():
        deployment = deployment_ensure(client=client)
    summary = final_summary(period)
    wrong = "0x" + "11" * 32
    client.wait_for_receipt(
        client.send_signed(
            client.sign_commit(deployment.contract_address, replace(summary.totals, root=wrong))
        )
    )

    commit_pending.apply()

    row = PeriodCommit.objects.get(period=period)
    assert row.status == PeriodCommit.Status.MISMATCH
    period.refresh_from_db()
    assert period.state == TradingPeriod.State.SETTLED
    alarm = ChainAlarm.objects.get(kind=ChainAlarm.Kind.ROOT_MISMATCH, period=period)
    assert alarm.chain_root == wrong
    assert alarm.database_root == summary.root
    # Only that period stops; the next one commits.
    assert PeriodCommit.objects.get(period=after).status == PeriodCommit.Status.COMMITTED
    # Retrying does nothing more: still one alarm, nothing sent.
    nonce = operator_nonce()
    commit_pending.apply()
    commit_period.apply(args=[period.pk])
    assert operator_nonce() == nonce
    assert ChainAlarm.objects.filter(period=period).count() == 1

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("audit_chain", stdout=out, stderr=err)
    assert str(period.period_id) in err.getvalue()

    # The co-op checks, finds the database right, and amends: audit is clean again.
    amendment = period_amend(period_id=period.pk, reason="Chain root was wrong")
    assert amendment.status == amendment.Status.COMMITTED
    alarm.refresh_from_db()
    assert alarm.resolved_at is not None
    period.refresh_from_db()
    assert period.state == TradingPeriod.State.COMMITTED
    call_command("audit_chain", stdout=StringIO(), stderr=StringIO())


def test_audit_finds_a_trade_changed_after_commit(on_chain, parties):
    period = settled_period(26, *parties)
    commit_period.apply(args=[period.pk])
    out = StringIO()
    call_command("audit_chain", stdout=out)
    assert "Every committed period matches" in out.getvalue()

    Trade.objects.filter(period=period, sequence=1).update(energy_kwh=Decimal("9.999"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 period"):
        call_command("audit_chain", stdout=StringIO(), stderr=err)
    assert f"chain period {period.period_id}" in err.getvalue()


def test_the_proof_of_the_residents_own_trade_verifies_against_the_contract(
    on_chain, parties, client
):
    resident, other = parties
    period = settled_period(27, resident, other, trades=5)
    trade = period.trades.get(sequence=4)
    client.force_login(resident.user)
    url = reverse("chain-proof", args=[trade.pk])

    pending = client.get(url).json()
    assert pending["status"]["state"] == "pending"
    assert pending["leaf_encoded"] == ""

    commit_period.apply(args=[period.pk])
    proof = client.get(url).json()
    deployment = ChainDeployment.objects.get(active=True)
    assert proof["status"]["state"] == "committed"
    assert proof["leaf_index"] == 3
    assert (proof["contract"], proof["chain_id"]) == (deployment.contract_address, 1337)
    assert proof["leaf_fields"]["sequence"] == 4
    assert proof["member_hash"] == MemberChainId.objects.get(member=resident).member_hash
    assert proof["leaf_fields"]["buyer"] == proof["member_hash"]
    assert on_chain_verifies(proof)

    # A trade the resident was not in is not theirs to see.
    stranger = settled_period(28, other, other, trades=1).trades.get()
    assert client.get(reverse("chain-proof", args=[stranger.pk])).status_code == 404
    assert client.get(reverse("chain-proof", args=[999_999])).status_code == 404

    # A tampered database row gives a proof the contract refuses. A GET writes nothing, so it
    # raises no alarm (the indexer and the commit do that).
    Trade.objects.filter(pk=trade.pk).update(energy_kwh=Decimal("0.001"))
    tampered = client.get(url).json()
    assert tampered["root"] != proof["root"]
    assert not on_chain_verifies(tampered)
    assert not ChainAlarm.objects.exists()


def on_chain_verifies(proof: dict) -> bool:
    return chain_connect().verify_trade(
        proof["contract"],
        period_id=proof["chain_period_id"],
        leaf=bytes.fromhex(proof["leaf_encoded"][2:]),
        index=proof["leaf_index"],
        proof=[bytes.fromhex(p[2:]) for p in proof["proof"]],
    )


def test_the_proof_writes_nothing(on_chain, parties, client):
    """The proof API is a read: no chain id, no alarm, no row at all."""
    resident, other = parties
    period = settled_period(37, resident, other, trades=2)
    trade = period.trades.get(sequence=1)
    client.force_login(resident.user)
    url = reverse("chain-proof", args=[trade.pk])

    def writes_of(url: str) -> tuple[dict, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(url).json()
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]
        return answer, writes

    # Before the first commit the members have no chain id: none is made up and saved.
    answer, writes = writes_of(url)
    assert writes == []
    assert answer["root"] == ""
    assert answer["proof"] == []
    assert not MemberChainId.objects.exists()

    # Committed, then tampered with: the proof is given, and nothing is written or raised.
    commit_period.apply(args=[period.pk])
    Trade.objects.filter(pk=trade.pk).update(energy_kwh=Decimal("0.002"))
    answer, writes = writes_of(url)
    assert writes == []
    assert answer["root"] != PeriodCommit.objects.get(period=period).merkle_root
    assert (MemberChainId.objects.count(), ChainAlarm.objects.count()) == (2, 0)


def test_the_indexer_records_block_tx_and_gas_of_every_commit(on_chain, parties):
    first = settled_period(31, *parties)
    second = settled_period(32, *parties)
    commit_pending.apply()
    PeriodCommit.objects.update(block_number=None, gas_used=None)

    report = index_chain.apply().get()

    assert report["events"] >= 2
    for period in (first, second):
        row = PeriodCommit.objects.get(period=period)
        event = ChainEvent.objects.get(name="PeriodCommitted", chain_period_id=period.period_id)
        assert (row.block_number, row.tx_hash, row.gas_used) == (
            event.block_number,
            event.tx_hash,
            event.gas_used,
        )
        assert 0 < row.gas_used < 60_000
    again = index_chain.apply().get()
    assert again["events"] == 0


def test_a_chain_reset_redeploys_and_commits_every_settled_period_again(
    settings, parties, tmp_path, session_chain, django_capture_on_commit_callbacks
):
    fresh = DevChain(session_chain.kind, tmp_path).start()
    try:
        settings.CHAIN_RPC_URL = fresh.url
        periods = [settled_period(n, *parties) for n in (33, 34, 35)]
        commit_pending.apply()
        old = ChainDeployment.objects.get(active=True)

        # Wipe the chain: a new one on the same port, empty state (new genesis).
        fresh.stop()
        for child in tmp_path.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        fresh.start()

        # The re-commit is queued on the indexer's commit (the test's transaction never ends).
        with django_capture_on_commit_callbacks(execute=True):
            result = index_chain.apply().get()

        assert result["redeployed"] is True
        new = ChainDeployment.objects.get(active=True)
        assert new.pk != old.pk
        assert not ChainDeployment.objects.get(pk=old.pk).active
        assert ChainAlarm.objects.filter(kind=ChainAlarm.Kind.CHAIN_RESET).exists()
        rows = list(PeriodCommit.objects.filter(deployment=new).order_by("block_number"))
        assert [r.period_id for r in rows] == [p.pk for p in periods]
        assert all(r.status == PeriodCommit.Status.COMMITTED for r in rows)
        assert MemberRegistration.objects.filter(deployment=new).count() == 2
        call_command("audit_chain", stdout=StringIO())
    finally:
        fresh.stop()


def test_bench_chain_prints_gas_per_commit_and_per_trade(on_chain):
    out = StringIO()
    call_command("bench_chain", "--trades", "1,10,100", stdout=out)
    result = json.loads(out.getvalue())
    sizes = {row["trades"]: row for row in result["results"]}
    assert set(sizes) == {1, 10, 100}
    for n, row in sizes.items():
        assert row["gas_per_commit"] < 60_000
        assert row["gas_per_trade"] == pytest.approx(row["gas_per_commit"] / n, rel=0.01)


def test_without_a_chain_the_period_waits(settings, parties, django_capture_on_commit_callbacks):
    settings.CHAIN_RPC_URL = ""
    period = settled_period(36, *parties)
    settle(period, django_capture_on_commit_callbacks)
    period.refresh_from_db()
    assert period.state == TradingPeriod.State.SETTLED
    assert [p.pk for p in commits_waiting()] == [period.pk]

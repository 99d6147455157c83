"""Faults: the chain goes down mid-run and comes back with its state; nothing lost, nothing twice.

Ganache keeps its state in a database directory and Anvil dumps it to a file on exit; each is
restarted on the same port, as an operator restarting the node would.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from blockchain.chain.devchain import DevChain
from blockchain.chain.node import ChainUnavailable, chain_connect
from blockchain.models import ChainDeployment, PeriodCommit
from blockchain.services.commits import commits_catch_up
from blockchain.tasks import backoff, commit_pending, commit_period
from blockchain.tests.test_app_support import settled_period
from trading.models import TradingPeriod
from trading.signals import period_settled

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.mark.parametrize("kind", ["ganache", "anvil"])
def test_chain_down_commits_wait_and_catch_up_in_order(
    kind, settings, resident, other_resident, tmp_path, django_capture_on_commit_callbacks
):
    chain = DevChain(kind, tmp_path).start()
    try:
        settings.CHAIN_RPC_URL = chain.url
        first = settled_period(10, resident, other_resident)
        commit_period.apply(args=[first.pk])
        deployment = ChainDeployment.objects.get(active=True)
        assert PeriodCommit.objects.get(period=first).status == PeriodCommit.Status.COMMITTED

        chain.stop()  # the node goes down mid-run
        waiting = [settled_period(n, resident, other_resident) for n in (11, 12, 13)]
        for period in reversed(waiting):  # tasks arrive in any order
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                transaction.on_commit(
                    lambda pk=period.pk: period_settled.send(sender=TradingPeriod, period_id=pk)
                )
        with pytest.raises(ChainUnavailable):
            commits_catch_up()
        for period in waiting:
            period.refresh_from_db()
            assert period.state == TradingPeriod.State.SETTLED
        assert not PeriodCommit.objects.filter(
            period__in=waiting, status=PeriodCommit.Status.COMMITTED
        ).exists()

        chain.start()  # back, same port, same state
        assert chain_connect().genesis_hash() == deployment.genesis_hash
        commit_pending.apply()
        commit_pending.apply()  # and the sweep again: nothing more happens

        assert ChainDeployment.objects.get(active=True).pk == deployment.pk
        rows = list(PeriodCommit.objects.filter(deployment=deployment).order_by("block_number"))
        assert [r.period_id for r in rows] == [first.pk] + [p.pk for p in waiting]
        assert all(r.status == PeriodCommit.Status.COMMITTED for r in rows)
        client = chain_connect()
        committed = [
            e.period_id
            for e in client.events(deployment.contract_address, from_block=deployment.deploy_block)
            if e.name == "PeriodCommitted"
        ]
        assert committed == [p.period_id for p in [first, *waiting]]
    finally:
        chain.stop()


def test_a_worker_task_retries_with_backoff_while_the_chain_is_down(
    settings, resident, other_resident
):
    from celery.exceptions import Retry

    from config.embedded_redis import free_port

    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    period = settled_period(14, resident, other_resident)
    # As in a worker on its third delivery (not eager, not called directly): the task asks
    # Celery for a later retry instead of failing or giving up.
    commit_period.push_request(
        id="third-try",
        args=[period.pk],
        kwargs={},
        retries=2,
        is_eager=False,
        called_directly=False,
    )
    try:
        with pytest.raises(Retry) as retry:
            commit_period.run(period.pk)
    finally:
        commit_period.pop_request()
    assert retry.value.when == backoff(2) == 20
    assert "does not answer" in str(retry.value.exc)
    period.refresh_from_db()
    assert period.state == TradingPeriod.State.SETTLED


def test_retries_back_off_up_to_five_minutes():
    assert [backoff(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]

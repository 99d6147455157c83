"""The chain for people: trade status on the resident's trade list, the admin status page, and
the demo's beat tasks. The chain tests run against a real Ganache."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from blockchain.chain.devchain import DevChain
from blockchain.models import PeriodCommit
from blockchain.tasks import commit_period
from blockchain.tests.test_app_support import settled_period
from coop.schedules import install

pytestmark = pytest.mark.django_db

STATUS_INCLUDE = Template(
    '{% for t in trades %}{% include "blockchain/_trade_status.html" with trade=t %}{% endfor %}'
)


@pytest.fixture(scope="module")
def ganache():
    chain = DevChain("ganache").start()
    yield chain
    chain.stop()


def render_status(trades, user) -> str:
    request = RequestFactory().get("/market/trades/")
    request.user = user
    return STATUS_INCLUDE.render(Context({"trades": trades, "request": request}))


@pytest.mark.chain
def test_each_trade_shows_pending_then_block_and_transaction(
    settings, ganache, resident, other_resident, django_assert_max_num_queries
):
    settings.CHAIN_RPC_URL = ganache.url
    period = settled_period(20, resident, other_resident, trades=3)
    trades = list(period.trades.order_by("sequence"))

    html = render_status(trades, resident.user)
    assert html.count('class="badge">pending') == 3
    assert "Verify" not in html

    commit_period.apply(args=[period.pk])
    row = PeriodCommit.objects.get(period=period)
    with django_assert_max_num_queries(3):  # one read for the page, not one per trade
        html = render_status(trades, resident.user)
    assert html.count("badge ok") == 3
    assert f"block {row.block_number}" in html
    assert row.tx_hash in html
    assert f'data-proof-url="{reverse("chain-proof", args=[trades[0].pk])}"' in html
    assert html.count("vendor/ethers/ethers.umd.min.js") == 3  # loaded on the first press only
    assert html.count("js/verify.js") == 1


def test_without_a_chain_the_admin_status_page_says_so(
    admin_client, settings, resident, other_resident
):
    settings.CHAIN_RPC_URL = ""
    settled_period(21, resident, other_resident)
    page = admin_client.get(reverse("admin:blockchain_chain_status"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "none configured" in text
    assert "No contract deployed yet" in text
    assert "Pending commits (1)" in text


@pytest.mark.chain
def test_the_admin_status_page_shows_node_contract_pending_and_gas(
    admin_client, settings, ganache, resident, other_resident
):
    settings.CHAIN_RPC_URL = ganache.url
    committed = settled_period(22, resident, other_resident)
    commit_period.apply(args=[committed.pk])
    settled_period(23, resident, other_resident)  # settled after: waiting for the next tick
    row = PeriodCommit.objects.get(period=committed)

    page = admin_client.get(reverse("admin:blockchain_chain_status"))
    text = page.content.decode()
    assert ganache.url in text
    assert "Ganache" in text
    assert "<th>Chain id</th><td>1337</td>" in text
    assert row.deployment.contract_address in text
    assert 'id="block-height"' in text
    assert "Pending commits (1)" in text
    assert "2026-07-08 TP23" in text
    gas = row.gas_used + sum(r.gas_used for r in row.deployment.registrations.all())
    assert f'id="gas-month">{gas:,}<' in text

    for name in ("periodcommit", "chainalarm", "chainevent", "memberregistration", "amendment"):
        assert admin_client.get(reverse(f"admin:blockchain_{name}_changelist")).status_code == 200


def test_residents_cannot_see_the_chain_status_page(client, resident):
    client.force_login(resident.user)
    page = client.get(reverse("admin:blockchain_chain_status"))
    assert page.status_code == 302
    assert "/admin/login/" in page["Location"]


def test_the_chain_beat_tasks_are_installed_once():
    install()
    install()
    tasks = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert tasks["blockchain.tasks.commit_pending"] == 60
    assert tasks["blockchain.tasks.index_chain"] == 30
    assert PeriodicTask.objects.filter(task__startswith="blockchain.").count() == 2


def test_the_status_page_names_periods_stuck_before_settlement(admin_client, settings, resident):
    """A period that never settled is never 'on chain': the page must not say all is well."""
    from trading.models import TradingPeriod
    from trading.services import periods

    settings.CHAIN_RPC_URL = ""
    periods.periods_ensure(hours=1)
    stuck = TradingPeriod.objects.order_by("start").first()
    TradingPeriod.objects.filter(pk=stuck.pk).update(
        state=TradingPeriod.State.CLEARED,
        last_error="ICPs 0000000001UN8E3 have no tariff in force",
    )
    text = admin_client.get(reverse("admin:blockchain_chain_status")).content.decode()
    assert "Not settled, so not on chain (1)" in text
    assert "0000000001UN8E3" in text
    TradingPeriod.objects.filter(pk=stuck.pk).update(last_error="")
    text = admin_client.get(reverse("admin:blockchain_chain_status")).content.decode()
    assert "Not settled, so not on chain (0)" in text

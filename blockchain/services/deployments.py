"""The contract's deployment on the connected chain: found, or deployed (again, after a reset)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from blockchain.chain.client import LedgerClient
from blockchain.chain.node import chain_calls, chain_url
from blockchain.models import ChainAlarm, ChainDeployment
from blockchain.selectors.onchain import deployment_current_on_chain
from blockchain.selectors.status import deployment_active

log = logging.getLogger(__name__)


def deployment_ensure(*, client: LedgerClient) -> ChainDeployment:
    """The active deployment on the connected chain, deploying the contract when there is none.

    A different genesis hash than the active deployment's means the chain was reset (a wiped dev
    Ganache) or the co-op moved chains: the old deployment is retired, the contract deployed
    again and an alarm notes it; every settled period then lacks a commit on the new deployment,
    so the catch-up re-registers members and re-commits them all, oldest first. Call under the
    operator lock (deploying sends a transaction).
    """
    with chain_calls():
        genesis = client.genesis_hash()
        active = deployment_active()
        if active is not None and deployment_current_on_chain(client, active, genesis):
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

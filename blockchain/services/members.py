"""Members on chain: each member's fixed chain id, and their registration on a deployment."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from blockchain.chain.client import LedgerClient
from blockchain.chain.node import chain_calls
from blockchain.models import ChainDeployment, MemberChainId, MemberRegistration
from blockchain.selectors.ledger import member_chain_id_draft, member_chain_ids, period_member_ids
from coop.models import Member
from trading.models import TradingPeriod


def member_chain_id_ensure(*, member: Member) -> MemberChainId:
    """The member's fixed chain identity, created on first use and kept across chain resets."""
    existing = MemberChainId.objects.filter(member=member).first()
    if existing is not None:
        return existing
    draft = member_chain_id_draft(member.pk)
    try:
        with transaction.atomic():
            return MemberChainId.objects.create(
                member=member,
                salt=draft.salt,
                member_hash=draft.member_hash,
                address=draft.address,
            )
    except IntegrityError:
        return MemberChainId.objects.get(member=member)


def period_chain_ids_ensure(*, period: TradingPeriod) -> None:
    """Give every member who traded in the period a chain id, so its summary is the final one
    (blockchain.selectors.ledger.period_summary reads them and creates none)."""
    member_ids = period_member_ids(period)
    missing = member_ids - member_chain_ids(member_ids).keys()
    for member in Member.objects.filter(pk__in=missing):
        member_chain_id_ensure(member=member)


def members_register(
    *, client: LedgerClient, deployment: ChainDeployment, members: list[Member]
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
        ident = member_chain_id_ensure(member=member)
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

"""REST: a resident's own trades' Merkle proofs, to check against the contract with any tool.

Each proof is self-contained: the encoded leaf and its fields, the siblings, the root, and where
to check it (the contract, its chain id, and the node the co-op publishes to members,
settings.CHAIN_PUBLIC_RPC_URL). The Verify button, scripts/verify-trade.mjs and `cast call`
(docs/chain.md) need nothing else, so a member need not trust the co-op's server for the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from eth_abi import decode
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from blockchain import merkle
from blockchain.models import ChainDeployment
from blockchain.selectors.ledger import (
    HARDSHIP_POOL_HASH,
    TradeProof,
    member_chain_ids,
    trade_proof,
    trade_proofs,
)
from blockchain.selectors.status import (
    deployment_active,
    trade_chain_status,
    trade_of_member,
    trades_of_member_between,
)
from coop.models import Member
from coop.selectors import member_for_user, member_of_request
from trading.selectors import month_bounds, month_parse

# The leaf's fields in encoding order (blockchain.merkle.LEAF_TYPES), named as in TradeLeaf.
LEAF_FIELDS = (
    "period_id",
    "sequence",
    "buyer",
    "seller",
    "energy_wh",
    "price_c_e4",
    "value_micro_nzd",
)


# The shape of one proof, for the schema (the views build plain dicts).
TRADE_PROOF = inline_serializer(
    "TradeProof",
    {
        "trade_id": serializers.IntegerField(),
        "chain_period_id": serializers.IntegerField(),
        "leaf_index": serializers.IntegerField(),
        "leaf_encoded": serializers.CharField(help_text="The ABI-encoded leaf, 0x hex."),
        "leaf": serializers.CharField(help_text="keccak256(keccak256(leaf_encoded))."),
        "leaf_fields": serializers.DictField(help_text="The leaf decoded (blockchain/merkle.py)."),
        "proof": serializers.ListField(child=serializers.CharField()),
        "root": serializers.CharField(),
        "member_hash": serializers.CharField(help_text="Your chain id: the buyer or seller."),
        "pool_hash": serializers.CharField(
            help_text="The hardship pool's id: both sides of a gift's leaf."
        ),
        "contract": serializers.CharField(),
        "chain_id": serializers.IntegerField(allow_null=True),
        "rpc_url": serializers.CharField(help_text="The chain node the co-op publishes."),
        "status": serializers.DictField(),
    },
)
MONTH_PROOFS = inline_serializer(
    "MonthTradeProofs",
    {"month": serializers.CharField(), "trades": serializers.ListField(child=TRADE_PROOF)},
)


class IndentedJSONRenderer(JSONRenderer):
    """JSON only, indented: the month's file is saved and read by people, not just tools."""

    def get_indent(self, accepted_media_type: str, renderer_context: Mapping[str, Any]) -> int:
        return 2


def leaf_fields(leaf: bytes) -> dict[str, int | str]:
    """The leaf's fields decoded from its bytes, so they are what the chain checks."""
    values = decode(merkle.LEAF_TYPES, leaf)
    return {
        name: "0x" + value.hex() if isinstance(value, bytes) else value
        for name, value in zip(LEAF_FIELDS, values, strict=True)
    }


def proof_json(
    found: TradeProof,
    status: dict[str, Any],
    deployment: ChainDeployment | None,
    member_hash: str,
) -> dict[str, Any]:
    # A member of the period with no chain id yet (before its first commit): the leaf and root
    # would be drafts that no chain holds, so there is nothing to give yet.
    final = found.final
    return {
        "trade_id": found.trade.pk,
        "chain_period_id": found.summary.chain_period_id,
        "leaf_index": found.index,
        "leaf_encoded": "0x" + found.leaf.hex() if final else "",
        "leaf": "0x" + merkle.leaf_hash(found.leaf).hex() if final else "",
        "leaf_fields": leaf_fields(found.leaf) if final else {},
        "proof": ["0x" + p.hex() for p in found.proof] if final else [],
        "root": found.summary.root if final else "",
        "member_hash": member_hash,
        # A gift names the hardship pool on both sides, never the donor or the recipient.
        "pool_hash": "0x" + HARDSHIP_POOL_HASH.hex(),
        "contract": deployment.contract_address if deployment else "",
        "chain_id": deployment.chain_id if deployment else None,
        "rpc_url": settings.CHAIN_PUBLIC_RPC_URL,
        "status": {k: v for k, v in status.items() if k != "committed_at"},
    }


def _member_hash(member: Member) -> str:
    recorded = member_chain_ids([member.pk]).get(member.pk)
    return recorded.member_hash if recorded else ""


class TradeProofView(APIView):
    """The trade's leaf, its proof, the period's root, and where the root is on chain."""

    renderer_classes = [IndentedJSONRenderer]

    @extend_schema(responses=TRADE_PROOF)
    def get(self, request: Request, trade_id: int) -> Response:
        member = member_for_user(request.user)
        trade = trade_of_member(trade_id=trade_id, member=member) if member else None
        if member is None or trade is None:
            raise Http404("No such trade among yours.")
        status = trade_chain_status([trade])[trade.pk]
        found = trade_proof(trade)
        return Response(proof_json(found, status, deployment_active(), _member_hash(member)))


class MonthProofsView(APIView):
    """Every proof of the member's own trades in a month (NZ trading days), as one JSON file."""

    renderer_classes = [IndentedJSONRenderer]

    @extend_schema(responses=MONTH_PROOFS)
    def get(self, request: Request, month: str) -> Response:
        member = member_of_request(request)
        try:
            first = month_parse(month)
        except ValueError as exc:
            raise ParseError(f"{month!r} is not a month: {exc}") from None
        until = month_bounds(first)[1]
        found = trade_proofs(trades_of_member_between(member=member, first=first, until=until))
        statuses = trade_chain_status(f.trade for f in found)
        deployment, member_hash = deployment_active(), _member_hash(member)
        body = {
            "month": first.strftime("%Y-%m"),
            "trades": [proof_json(f, statuses[f.trade.pk], deployment, member_hash) for f in found],
        }
        filename = f"hapori-trade-proofs-{body['month']}.json"
        return Response(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})

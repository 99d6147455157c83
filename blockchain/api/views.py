"""REST: a resident's own trade's Merkle proof, to check against the contract with any tool."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from blockchain import merkle
from blockchain.selectors.ledger import trade_proof
from blockchain.selectors.status import trade_chain_status, trade_of_member
from coop.selectors import member_for_user


class TradeProofView(APIView):
    """The trade's leaf, its proof, the period's root, and where the root is on chain."""

    @extend_schema(
        responses=inline_serializer(
            "TradeProof",
            {
                "trade_id": serializers.IntegerField(),
                "chain_period_id": serializers.IntegerField(),
                "leaf_index": serializers.IntegerField(),
                "leaf_encoded": serializers.CharField(),
                "leaf": serializers.CharField(),
                "proof": serializers.ListField(child=serializers.CharField()),
                "root": serializers.CharField(),
                "status": serializers.DictField(),
            },
        )
    )
    def get(self, request: Request, trade_id: int) -> Response:
        member = member_for_user(request.user)
        trade = trade_of_member(trade_id=trade_id, member=member) if member else None
        if trade is None:
            raise Http404("No such trade among yours.")
        summary, index, proof = trade_proof(trade)
        status = trade_chain_status([trade])[trade.pk]
        # A member of the period with no chain id yet (before its first commit): the leaf and
        # root would be drafts that no chain holds, so there is nothing to give yet.
        fixed = not summary.unregistered
        leaf = summary.leaves[index]
        return Response(
            {
                "trade_id": trade.pk,
                "chain_period_id": summary.chain_period_id,
                "leaf_index": index,
                "leaf_encoded": "0x" + leaf.hex() if fixed else "",
                "leaf": "0x" + merkle.leaf_hash(leaf).hex() if fixed else "",
                "proof": ["0x" + p.hex() for p in proof] if fixed else [],
                "root": summary.root if fixed else "",
                "status": {k: v for k, v in status.items() if k != "committed_at"},
            }
        )

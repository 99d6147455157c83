"""REST: a resident's own trade's Merkle proof, to check against the contract with any tool."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from blockchain import selectors, services
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
    def get(self, request, trade_id: int):
        member = member_for_user(request.user)
        trade = selectors.trade_of_member(trade_id=trade_id, member=member) if member else None
        if trade is None:
            raise Http404("No such trade among yours.")
        summary, index, proof = services.trade_proof(trade)
        status = selectors.trade_chain_status([trade])[trade.pk]
        return Response(
            {
                "trade_id": trade.pk,
                "chain_period_id": summary.chain_period_id,
                "leaf_index": index,
                "leaf_encoded": "0x" + summary.leaves[index].hex(),
                "leaf": "0x" + services.merkle.leaf_hash(summary.leaves[index]).hex(),
                "proof": ["0x" + p.hex() for p in proof],
                "root": summary.root,
                "status": {k: v for k, v in status.items() if k != "committed_at"},
            }
        )

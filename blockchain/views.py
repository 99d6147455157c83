"""Resident pages of the chain: the Verify button's endpoint. Thin: a selector does the chain
call (a view call that writes nothing)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from blockchain.selectors.onchain import trade_verify
from blockchain.selectors.status import trade_of_member
from coop.selectors import member_for_user


@login_required
@require_GET
def verify_trade(request: HttpRequest, trade_id: int) -> JsonResponse:
    """Check one of the resident's own trades against the contract and say what was found.

    Someone else's trade (or one that does not exist) is a 404 either way, so the endpoint does
    not reveal which trade ids exist.
    """
    member = member_for_user(request.user)
    trade = trade_of_member(trade_id=trade_id, member=member) if member else None
    if trade is None:
        raise Http404("No such trade among yours.")
    return JsonResponse(trade_verify(trade=trade).as_dict())

"""The resident's "Sharing and gifts" page: share solar with whānau and friends (a partner code,
partners in order, arrangements where I am the partner) and give to households in hardship.

Thin, like trading.views: forms parse, trading.services.sharing decides and refuses, selectors
read. Nothing here lists members or lets anyone look one up: a partner is reached only by the
code they gave, and the hardship pool shows each side only their own kWh, never the other's.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from coop import nz
from coop.models import Member
from coop.selectors import member_of_request
from trading import selectors
from trading.services import sharing
from trading.sharing_forms import GiftPledgeForm, PartnerAddForm
from trading.sharing_models import GiftPledge, HardshipRecipient, Partnership

PAST_SHOWN = 10  # ended or declined arrangements kept on the page, newest first


def _refusal(form: Form, exc: ValidationError) -> None:
    """A service's refusal next to the field it names, or at the top of the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def _gift_initial(pledge: GiftPledge | None) -> dict[str, object]:
    if pledge is None or not pledge.active:
        return {}
    return {"share_pct": pledge.share_pct, "monthly_cap_kwh": pledge.monthly_cap_kwh}


def _page(
    request: HttpRequest,
    member: Member,
    *,
    partner_form: PartnerAddForm | None = None,
    gift_form: GiftPledgeForm | None = None,
) -> HttpResponse:
    first, following = selectors.month_bounds(nz.today())
    this_month = selectors.sharing_between(member, first, following, settled_only=False)
    pledge = GiftPledge.objects.filter(member=member).first()
    recipient = HardshipRecipient.objects.filter(member=member, active=True).first()
    given = Partnership.objects.filter(seller=member).select_related("partner")
    taken = Partnership.objects.filter(partner=member).select_related("seller")
    status = Partnership.Status
    return render(
        request,
        "trading/sharing.html",
        {
            "month": first,
            "code": selectors.partner_code_current(member),
            "partner_form": partner_form or PartnerAddForm(),
            "partners": list(given.filter(status=status.ACTIVE).order_by("rank", "pk")),
            "partners_past": list(
                given.exclude(status=status.ACTIVE).order_by("-ended_at", "-pk")[:PAST_SHOWN]
            ),
            "sharing_with_me": list(
                taken.filter(status=status.ACTIVE).order_by("seller__display_name", "pk")
            ),
            "pledge": pledge if pledge and pledge.active else None,
            "gift_form": gift_form or GiftPledgeForm(initial=_gift_initial(pledge)),
            "recipient": recipient,
            "shared": this_month,
        },
    )


@login_required
def sharing_page(request: HttpRequest) -> HttpResponse:
    return _page(request, member_of_request(request))


@login_required
@require_POST
def partner_code_issue(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    try:
        code = sharing.partner_code_issue(member=member)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(
            request, f"Your new partner code is {code.code}; older codes stop working."
        )
    return redirect("sharing")


@login_required
@require_POST
def partner_add(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    form = PartnerAddForm(request.POST)
    if form.is_valid():
        try:
            partnership = sharing.partnership_add(seller=member, **form.cleaned_data)
        except ValidationError as exc:
            _refusal(form, exc)
        else:
            messages.success(
                request,
                f"You now share with {partnership.partner.display_name} at "
                f"{partnership.price_c:.2f} c/kWh, from the next clearing on.",
            )
            return redirect("sharing")
    return _page(request, member, partner_form=form)


@login_required
@require_POST
def partner_move(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_of_request(request)
    moving = get_object_or_404(Partnership, pk=pk, seller=member, status=Partnership.Status.ACTIVE)
    ids = list(
        Partnership.objects.filter(seller=member, status=Partnership.Status.ACTIVE)
        .order_by("rank", "pk")
        .values_list("pk", flat=True)
    )
    at = ids.index(moving.pk)
    to = at - 1 if request.POST.get("direction") == "up" else at + 1
    if 0 <= to < len(ids):
        ids[at], ids[to] = ids[to], ids[at]
        try:
            sharing.partnership_reorder(seller=member, ids=ids)
        except ValidationError as exc:
            messages.error(request, _message(exc))
    return redirect("sharing")


@login_required
@require_POST
def partner_end(request: HttpRequest, pk: int) -> HttpResponse:
    """The seller ends an arrangement, or the partner declines it (the same button)."""
    member = member_of_request(request)
    partnership = get_object_or_404(
        Partnership.objects.filter(Q(seller=member) | Q(partner=member)), pk=pk
    )
    try:
        ended = sharing.partnership_end(member=member, partnership=partnership)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        done = "declined" if ended.status == Partnership.Status.DECLINED else "ended"
        messages.success(request, f"Arrangement {done}: it stops from the next clearing.")
    return redirect("sharing")


@login_required
@require_POST
def gift_set(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    form = GiftPledgeForm(request.POST)
    if form.is_valid():
        try:
            pledge = sharing.gift_pledge_set(member=member, **form.cleaned_data)
        except ValidationError as exc:
            _refusal(form, exc)
        else:
            cap = (
                f", at most {pledge.monthly_cap_kwh} kWh a month"
                if pledge.monthly_cap_kwh is not None
                else ""
            )
            messages.success(
                request,
                f"Thank you: you give {pledge.share_pct}% of your surplus to the hardship "
                f"pool{cap}, from the next clearing on.",
            )
            return redirect("sharing")
    return _page(request, member, gift_form=form)


@login_required
@require_POST
def gift_stop(request: HttpRequest) -> HttpResponse:
    member = member_of_request(request)
    try:
        sharing.gift_pledge_stop(member=member)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Your gift stops from the next clearing; thank you for it.")
    return redirect("sharing")

"""Resident pages of the co-op app. Thin: selectors do the reading, always as the resident."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from coop import selectors


def _member_or_404(request):
    member = selectors.member_for_user(request.user)
    if member is None:
        raise Http404("You are not a member of this co-op.")
    return member


@login_required
def home(request):
    member = selectors.member_for_user(request.user)
    icps = list(selectors.icps_of_member(member)) if member else []
    return render(request, "coop/home.html", {"member": member, "icps": icps})


@login_required
def icp_detail(request, identifier: str):
    member = _member_or_404(request)
    icp = selectors.icp_of_member(member, identifier)
    if icp is None:
        raise Http404("No such ICP among yours.")
    return render(request, "coop/icp_detail.html", {"member": member, "icp": icp})

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from coop.selectors import member_for_user


@xframe_options_sameorigin
def display(request: HttpRequest) -> HttpResponse:
    """The lab wall display: no login, no names; a token when the co-op sets one."""
    token = request.GET.get("token", "")
    if settings.DISPLAY_TOKEN and token != settings.DISPLAY_TOKEN:
        return HttpResponseForbidden("This display needs its token: /display/?token=...")
    return render(request, "display/display.html", {"token": token})


@login_required
def live(request: HttpRequest) -> HttpResponse:
    return render(request, "live/live.html", {"member": member_for_user(request.user)})

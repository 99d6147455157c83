"""Resident pages of the co-op app. Thin: selectors do the reading, always as the resident."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from coop import selectors, throttle


@login_required
def home(request: HttpRequest) -> HttpResponse:
    member = selectors.member_for_user(request.user)
    icps = list(selectors.icps_of_member(member)) if member else []
    return render(request, "coop/home.html", {"member": member, "icps": icps})


@login_required
def icp_detail(request: HttpRequest, identifier: str) -> HttpResponse:
    member = selectors.member_of_request(request)
    icp = selectors.icp_of_member(member, identifier)
    if icp is None:
        raise Http404("No such ICP among yours.")
    return render(request, "coop/icp_detail.html", {"member": member, "icp": icp})


class ThrottledPasswordResetView(auth_views.PasswordResetView):
    """Password reset, with mail throttled per address and per client IP.

    Over the per-address limit the page still says "check your email" (saying otherwise would
    tell a stranger the address has an account), but no more mail goes out this hour. Over the
    per-IP limit the form is refused with a 429 and a message.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = request.META.get("REMOTE_ADDR", "")
        if not throttle.allow("reset-ip", ip, limit=settings.PASSWORD_RESET_PER_IP_PER_HOUR):
            return render(
                request,
                "registration/password_reset_form.html",
                {
                    "form": self.get_form(),
                    "throttled": "Too many password resets were asked for from your network "
                    "in the last hour. Try again later, or ask the co-op.",
                },
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        limit = settings.PASSWORD_RESET_PER_EMAIL_PER_HOUR
        if not throttle.allow("reset-email", email, limit=limit):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)

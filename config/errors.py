"""Error pages: an API client gets JSON, as the schema documents; a person gets the page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "/api/" in request.path


def page_not_found(
    request: HttpRequest, exception: Exception, template_name: str = "404.html"
) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "No such resource."}, status=404)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "The server failed; the co-op has been told."}, status=500)
    return defaults.server_error(request, template_name)

"""ASGI entry point (config.web_server runs it): HTTP through Django's WSGI handler on a pool of
threads (config.wsgi_bridge), websockets through Channels routing."""

import os
from typing import Any, cast

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_wsgi_app = get_wsgi_application()  # sets Django up, before Channels' imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config.body_limit import BodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from config.wsgi_bridge import WSGIBridge  # noqa: E402

# The URLconf, and with it DRF and every view, loaded now, before the process serves: Django
# otherwise loads them on the first request, and the requests arriving meanwhile queue behind
# it. At 50 orders/s from 100 clients just after a start, the first requests took 1.1-1.6 s
# and p95 was 487-841 ms; with this, none over 150 ms and p95 10-29 ms. (Only importing
# config.urls left the first at 0.6 s.)
get_resolver().url_patterns  # noqa: B018

# Sockets that never look at a login: the wall display. Channels' session middleware wraps
# every message a socket is sent to check for a session to save, so thousands of displays
# would pay for it on every push; they are routed past it (they see no "user" in the scope).
ANONYMOUS_WEBSOCKETS = frozenset({"/ws/display/"})


class AnonymousOrAuthenticated:
    """A websocket goes to `anonymous` on the paths above, else through `authenticated`."""

    def __init__(self, anonymous: Any, authenticated: Any) -> None:
        self.anonymous, self.authenticated = anonymous, authenticated

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        app = self.anonymous if scope["path"] in ANONYMOUS_WEBSOCKETS else self.authenticated
        return await app(scope, receive, send)


# HTTP runs Django's WSGI handler on a fixed pool of long-lived threads (config.wsgi_bridge), not
# Django's ASGI handler: that one starts a thread for every request and hops between the event
# loop and a thread around the view and middleware. bench_orders measured 7 ms of server CPU per
# order on a thread pool against 12 ms (quiet machine) to 30 ms (busy) through the ASGI handler,
# and four times the orders a second. Every view here is synchronous, so nothing is lost;
# websockets stay on the event loop.
# (cast: Django's stubs and the bridge each spell the standard WSGI callable their own way.)
django_http_app: Any = WSGIBridge(cast(Any, django_wsgi_app), threads=settings.WEB_HTTP_THREADS)

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_http_app, max_bytes=settings.REQUEST_MAX_BODY_BYTES),
        "websocket": AllowedHostsOriginValidator(
            AnonymousOrAuthenticated(
                URLRouter(websocket_urlpatterns),
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
            )
        ),
    }
)

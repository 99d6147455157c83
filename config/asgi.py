"""ASGI entry point (config.web_server runs it): HTTP through Django, websockets through
Channels routing."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.body_limit import BodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

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


application = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_asgi_app, max_bytes=settings.REQUEST_MAX_BODY_BYTES),
        "websocket": AllowedHostsOriginValidator(
            AnonymousOrAuthenticated(
                URLRouter(websocket_urlpatterns),
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
            )
        ),
    }
)

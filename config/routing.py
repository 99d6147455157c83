"""Websocket routes of every app, gathered in one place for the ASGI router."""

from django.urls import path

from trading.live.consumers import DisplayConsumer, LiveConsumer

websocket_urlpatterns = [
    path("ws/display/", DisplayConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]

"""Websockets: authenticate, join groups, forward. Nothing else happens here.

A push costs each socket as little as it can: its process took it off the channel layer once
(trading.live.fanout) and broadcast encoded it once, so a socket's share is one write of text
it is handed. What a socket is first sent is read and encoded once for the sockets connecting
at the same time (a restart reconnects every display at once), see fanout.shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from config.payloads import PayloadRefused, PayloadTooLarge, json_loads_bounded
from trading.live import broadcast
from trading.live.fanout import fanout
from trading.live.power import member_power
from trading.live.selectors import latest_prices, prices_status
from trading.live.snapshot import display_snapshot

# Application close codes (daphne's autobahn allows only 1000 and 4000-4999 from an app), after
# the HTTP statuses as 4401/4403 are: 4400 a payload that is not acceptable, 4413 too large.
INVALID_PAYLOAD, TOO_BIG = 4400, 4413


class DisplayConsumer(AsyncWebsocketConsumer):
    """The wall display: read-only and anonymous (an optional token in the settings)."""

    # No channel-layer channel per socket (an alias that is not configured gives none): the
    # process's fan-out receives each group's pushes once and hands them to `push`.
    channel_layer_alias = "fan-out, not a channel per socket"

    groups_joined: list[str]
    # Pushes that came while the first messages were being read: sent after them, in order.
    held: list[dict[str, Any]] | None

    async def connect(self) -> None:
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if settings.DISPLAY_TOKEN and token != settings.DISPLAY_TOKEN:
            await self.close(code=4403)
            return
        await self.join([broadcast.DISPLAY])
        await self.accept()
        await self.send(text_data=await fanout().shared(broadcast.DISPLAY, "snapshot", _snapshot))
        await self.release()

    async def join(self, groups: list[str]) -> None:
        """Before the first messages are read: a push in between is held, not missed."""
        self.held = []
        self.groups_joined = groups
        for group in groups:
            await fanout().join(group, self)

    async def release(self) -> None:
        while self.held:
            await self.send(text_data=self.held.pop(0)["text"])
        self.held = None

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await fanout().leave(group, self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Browsers only listen on these sockets. Whatever a client sends is bounded and checked
        # before it is decoded (the web server caps a message at 16 KiB first), then ignored.
        payload = text_data if text_data is not None else bytes_data or b""
        try:
            json_loads_bounded(payload, max_bytes=settings.WEBSOCKET_MAX_MESSAGE_BYTES)
        except PayloadTooLarge:
            await self.close(code=TOO_BIG)
        except PayloadRefused:
            await self.close(code=INVALID_PAYLOAD)

    async def push(self, event: dict[str, Any]) -> None:
        """From the fan-out: the frame broadcast encoded once for every socket, sent as is."""
        if self.held is not None:
            self.held.append(event)
        else:
            await self.send(text_data=event["text"])


class LiveConsumer(DisplayConsumer):
    """A resident's dashboard: the public feed plus their own live power."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        member = await database_sync_to_async(lambda: getattr(user, "member", None))()
        if member is None:
            await self.close(code=4403)
            return
        await self.join([broadcast.DISPLAY, broadcast.member_group(member.pk)])
        await self.accept()
        await self.send(text_data=await fanout().shared(broadcast.DISPLAY, "prices", _prices))
        power = await database_sync_to_async(member_power)(member.pk)
        await self.send(text_data=broadcast.frame("power", power))
        await self.release()


async def _snapshot() -> str:
    return broadcast.frame("snapshot", await database_sync_to_async(display_snapshot)())


async def _prices() -> str:
    def read() -> str:
        return broadcast.frame("prices", {"latest": latest_prices(), "status": prices_status()})

    return await database_sync_to_async(read)()

"""Websockets: authenticate, join groups, forward. Nothing else happens here."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from config.payloads import PayloadRefused, PayloadTooLarge, json_loads_bounded
from trading.live import broadcast
from trading.live.power import member_power
from trading.live.selectors import latest_prices, prices_status
from trading.live.snapshot import display_snapshot

# Application close codes (daphne's autobahn allows only 1000 and 4000-4999 from an app), after
# the HTTP statuses as 4401/4403 are: 4400 a payload that is not acceptable, 4413 too large.
INVALID_PAYLOAD, TOO_BIG = 4400, 4413


class DisplayConsumer(AsyncJsonWebsocketConsumer):
    """The wall display: read-only and anonymous (an optional token in the settings)."""

    async def connect(self) -> None:
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if settings.DISPLAY_TOKEN and token != settings.DISPLAY_TOKEN:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(broadcast.DISPLAY, self.channel_name)
        await self.accept()
        await self.send_json(
            {"kind": "snapshot", "data": await database_sync_to_async(display_snapshot)()}
        )

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(broadcast.DISPLAY, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Browsers only listen on these sockets. Whatever a client sends is bounded and checked
        # before it is decoded (daphne caps the frame size too), then ignored.
        payload = text_data if text_data is not None else bytes_data or b""
        try:
            json_loads_bounded(payload, max_bytes=settings.WEBSOCKET_MAX_MESSAGE_BYTES)
        except PayloadTooLarge:
            await self.close(code=TOO_BIG)
        except PayloadRefused:
            await self.close(code=INVALID_PAYLOAD)

    async def push(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"kind": event["kind"], "data": event["data"], "sent": event.get("sent")}
        )


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
        self.groups_joined = [broadcast.DISPLAY, broadcast.member_group(member.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        prices = await database_sync_to_async(latest_prices)()
        status = await database_sync_to_async(prices_status)()
        await self.send_json({"kind": "prices", "data": {"latest": prices, "status": status}})
        await self.send_json(
            {"kind": "power", "data": await database_sync_to_async(member_power)(member.pk)}
        )

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

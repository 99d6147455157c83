"""Websockets: authenticate, join groups, forward. Nothing else happens here."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from trading.live import broadcast


class DisplayConsumer(AsyncJsonWebsocketConsumer):
    """The wall display: read-only and anonymous (an optional token in the settings)."""

    async def connect(self):
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if settings.DISPLAY_TOKEN and token != settings.DISPLAY_TOKEN:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(broadcast.DISPLAY, self.channel_name)
        await self.accept()
        from trading.live.snapshot import display_snapshot

        await self.send_json(
            {"kind": "snapshot", "data": await database_sync_to_async(display_snapshot)()}
        )

    async def disconnect(self, code):
        await self.channel_layer.group_discard(broadcast.DISPLAY, self.channel_name)

    async def push(self, event):
        await self.send_json(
            {"kind": event["kind"], "data": event["data"], "sent": event.get("sent")}
        )


class LiveConsumer(DisplayConsumer):
    """A resident's dashboard: the public feed plus their own live power."""

    async def connect(self):
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
        from django.core.cache import cache

        from trading.live.power import member_power
        from trading.live.prices import STATUS_KEY, latest_prices

        prices = await database_sync_to_async(latest_prices)()
        status = await database_sync_to_async(cache.get)(STATUS_KEY)
        await self.send_json(
            {"kind": "prices", "data": {"latest": prices, "status": status or {"source": "none"}}}
        )
        await self.send_json(
            {"kind": "power", "data": await database_sync_to_async(member_power)(member.pk)}
        )

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

"""A push is encoded once and taken off the channel layer once per process, however many sockets
the process holds (Channels communicators over the real Redis channel layer)."""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from config.asgi import application
from trading.live import broadcast, consumers
from trading.live.fanout import fanout

DISPLAYS = 5


def _display() -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, "/ws/display/", headers=[(b"origin", b"http://localhost")]
    )


async def _connected(count: int) -> list[WebsocketCommunicator]:
    displays = [_display() for _ in range(count)]
    for display in displays:
        connected, _ = await display.connect()
        assert connected
    return displays


@pytest.mark.django_db(transaction=True)
def test_a_push_is_encoded_once_and_sent_as_is_to_every_socket(settings, monkeypatch):
    settings.DISPLAY_TOKEN = ""
    encoded = []
    real_dumps = json.dumps

    def counting_dumps(obj, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("kind") == "prices":
            encoded.append(obj)
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(broadcast.json, "dumps", counting_dumps)

    async def scenario():
        displays = await _connected(DISPLAYS)
        for display in displays:
            assert json.loads(await display.receive_from(timeout=5))["kind"] == "snapshot"
        # The process listens to the group once: one layer channel for all its sockets.
        group = fanout().groups[broadcast.DISPLAY]
        assert len(group.members) == DISPLAYS
        layer = get_channel_layer()._get_layer()
        assert len(layer.groups[layer._get_group_channel_name(broadcast.DISPLAY)]) == 1
        # What the layer carries is the encoded frame itself.
        listener = await get_channel_layer().new_channel()
        await get_channel_layer().group_add(broadcast.DISPLAY, listener)
        sent_at = time.time()
        await database_sync_to_async(broadcast.to_display)("prices", {"latest": {"n": 1}})
        event = await asyncio.wait_for(get_channel_layer().receive(listener), 5)
        assert set(event) == {"type", "text"}
        texts = [await display.receive_from(timeout=5) for display in displays]
        for display in displays:
            await display.disconnect()
        return event["text"], texts, sent_at

    text, texts, sent_at = asyncio.run(scenario())
    assert len(encoded) == 1  # once for the five sockets
    assert texts == [text] * DISPLAYS  # each socket got the very text, unchanged
    frame = json.loads(text)
    assert frame["kind"] == "prices"
    assert frame["data"] == {"latest": {"n": 1}}
    assert sent_at <= frame["sent"] <= time.time()  # the stamp latency is measured from


@pytest.mark.django_db(transaction=True)
def test_displays_connecting_together_share_one_snapshot_read_until_a_push(settings, monkeypatch):
    settings.DISPLAY_TOKEN = ""
    reads = []
    real_snapshot = consumers.display_snapshot

    def counted_snapshot():
        reads.append(1)
        return real_snapshot()

    monkeypatch.setattr(consumers, "display_snapshot", counted_snapshot)

    async def scenario():
        displays = [_display() for _ in range(DISPLAYS)]
        await asyncio.gather(*(display.connect() for display in displays))
        first = {await display.receive_from(timeout=5) for display in displays}
        together = len(reads)
        await database_sync_to_async(broadcast.to_display)("prices", {"latest": {}})
        for display in displays:
            assert json.loads(await display.receive_from(timeout=5))["kind"] == "prices"
        late = await _connected(1)
        await late[0].receive_from(timeout=5)
        for display in [*displays, *late]:
            await display.disconnect()
        return first, together

    first, together = asyncio.run(scenario())
    assert together == 1  # five displays, one read of the database
    assert len(first) == 1
    assert len(reads) == 2  # after a push, the next display reads the state anew


@pytest.mark.django_db(transaction=True)
def test_a_push_during_the_snapshot_read_follows_the_snapshot(settings, monkeypatch):
    """Joined before the snapshot is read, so no push is missed; held until it is sent, so the
    screen never gets a price and then an older snapshot over it."""
    settings.DISPLAY_TOKEN = ""
    real_snapshot = consumers.display_snapshot

    def snapshot_with_a_push_meanwhile():
        state = real_snapshot()
        broadcast.to_display("prices", {"latest": {"during": True}})
        time.sleep(0.5)  # the fan-out has the push well before this snapshot is sent
        return state

    monkeypatch.setattr(consumers, "display_snapshot", snapshot_with_a_push_meanwhile)

    async def scenario():
        display = (await _connected(1))[0]
        got = [json.loads(await display.receive_from(timeout=5)) for _ in range(2)]
        assert await display.receive_nothing(timeout=0.3)
        await display.disconnect()
        return got

    snapshot, pushed = asyncio.run(scenario())
    assert snapshot["kind"] == "snapshot"
    assert pushed["kind"] == "prices"
    assert pushed["data"] == {"latest": {"during": True}}


@pytest.mark.django_db(transaction=True)
def test_the_last_socket_leaving_leaves_the_group(settings):
    settings.DISPLAY_TOKEN = ""

    async def scenario():
        displays = await _connected(2)
        for display in displays:
            await display.receive_from(timeout=5)
        channel = fanout().groups[broadcast.DISPLAY].channel
        await displays[0].disconnect()
        still = broadcast.DISPLAY in fanout().groups
        await displays[1].disconnect()
        layer = get_channel_layer()._get_layer()
        members = layer.groups.get(layer._get_group_channel_name(broadcast.DISPLAY), set())
        return still, broadcast.DISPLAY in fanout().groups, channel in members

    still, after, subscribed = asyncio.run(scenario())
    assert still
    assert not after
    assert not subscribed

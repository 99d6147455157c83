"""Each web process takes a push off the channel layer once, then writes it to its sockets.

Channels' usual pattern gives every socket its own layer channel. channels_redis 4.3's pub/sub
layer then queues the raw message for each member channel of the group, and each consumer
deserialises its own copy (pubsub.py: `_receive_message` queues bytes per channel, `receive`
decodes): a push cost each socket a msgpack decode, a queue wake-up, a task, an `asyncio.wait`
and a dispatch (with a thread hop to close database connections) before its one write, and with
2,500 displays on a process that was most of a push's CPU. Here a process joins each group
once, with one layer channel and one receiving task per group, so a push is decoded once per
process, and forwards every event to the group's local sockets in one loop. Cross-process
delivery is still the channel layer's (one Redis PUBLISH per push).

What every local socket of a group is first sent (the display's snapshot) is computed once for
all of them (`shared`), until the group's next push or for two seconds at most: after a restart
thousands of displays reconnect within seconds, and each snapshot is a dozen queries.

A member's `push` must not wait on its client: the servers' websocket send only buffers the
frame (uvicorn, daphne), so one slow socket does not hold up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class Member(Protocol):
    def push(self, event: dict[str, Any]) -> Awaitable[None]: ...


SHARED_SECONDS = 2.0


class _Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.members: set[Member] = set()
        self.channel = ""
        self.opened: asyncio.Future[None] | None = None
        self.pump: asyncio.Task[None] | None = None
        self.shared: dict[str, tuple[float, asyncio.Future[str]]] = {}


class Fanout:
    """The groups one event loop (one web process) has joined, and their local members."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.groups: dict[str, _Group] = {}

    async def join(self, name: str, member: Member) -> None:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group(name)
            group.opened = asyncio.ensure_future(self._open(group))
        group.members.add(member)
        assert group.opened is not None
        await asyncio.shield(group.opened)  # subscribed before the socket is told it is live

    async def leave(self, name: str, member: Member) -> None:
        group = self.groups.get(name)
        if group is None or member not in group.members:
            return
        group.members.discard(member)
        if group.members:
            return
        del self.groups[name]  # a socket joining from now on opens a new one
        if group.opened is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(group.opened)
        if group.pump is not None:
            group.pump.cancel()
        if group.channel:
            await self.layer.group_discard(name, group.channel)

    async def shared(self, name: str, key: str, compute: Callable[[], Awaitable[str]]) -> str:
        """`compute()` once for the group's sockets that ask within SHARED_SECONDS and before
        the group's next push. Ask after joining: a push that the value may miss then reaches
        the socket itself."""
        group = self.groups[name]
        now = time.monotonic()
        made, future = group.shared.get(key, (0.0, None))
        # One in the making is waited for however long it takes: no pile of the same queries.
        if future is None or (future.done() and now - made > SHARED_SECONDS):
            future = asyncio.ensure_future(compute())
            group.shared[key] = (now, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            if group.shared.get(key, (0, None))[1] is future:
                del group.shared[key]  # failed: the next socket tries again
            raise

    async def _open(self, group: _Group) -> None:
        try:
            group.channel = await self.layer.new_channel()
            await self.layer.group_add(group.name, group.channel)
        except BaseException:
            if self.groups.get(group.name) is group:
                del self.groups[group.name]  # the next socket tries again (Redis back, say)
            raise
        group.pump = asyncio.ensure_future(self._pump(group))

    async def _pump(self, group: _Group) -> None:
        while True:
            try:
                event = await self.layer.receive(group.channel)
            except Exception:  # this group's sockets must not go quiet for good: log, go on
                logger.exception("receiving the pushes of %s failed", group.name)
                await asyncio.sleep(1)
                continue
            group.shared.clear()  # a socket joining from now on reads the state after this push
            for member in list(group.members):
                try:
                    await member.push(event)
                except Exception:  # a socket closing under us: the others still get theirs
                    logger.debug("push to a socket of %s failed", group.name, exc_info=True)


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def fanout() -> Fanout:
    """This event loop's fan-out (a web process has one loop; each test its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _fanouts:
        _fanouts[loop] = Fanout()
    return _fanouts[loop]

"""The embedded default's channel layer: Channels' in-memory layer, made fit for one Daphne
process carrying a few hundred cockpit sockets.

Channels' own layer scans every channel and group for expired messages on each send and receive,
deep-copies each message for each member, and fans a group message out through one asyncio task
per member. With 50 cockpit sessions of six people at 10 Hz (bench/bench_cockpit.py) that was most
of the server's time, and sockets fell so far behind that their messages expired. Here expiry is
swept at most once a second, a group message is put on each member's queue directly, and the
copy is shallow (the relay's messages carry an immutable pre-serialised text). Same semantics
otherwise: bounded queues, a full queue drops that member's message (ChannelFull), expiry.
"""

import asyncio
import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

CLEAN_EVERY_S = 1.0


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at < CLEAN_EVERY_S:
            return
        self._cleaned_at = now
        super()._clean_expired()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message)

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            # A member too far behind loses this one; it resyncs from its last seq.
            with contextlib.suppress(ChannelFull):
                self._put(channel, message)

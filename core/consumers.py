"""A person's own websocket: what WeScan has to tell them, on whatever page they have open; the
feed socket it is made of (a plan's progress is another); and the answer to a websocket address
that leads nowhere.

Envelopes are `{"type", "seq", "payload"}`; bad frames get an `error` frame, never a dropped socket.
The socket only answers `ping`, so its frames are small: read by `core.frames` with a cap of its
own (MAX_FRAME_BYTES). Every frame takes a token from the person's bucket (FRAMES, shared by
their sockets on this process) before it is read; past it, frames are dropped unread with one
`rate_limited` error frame per refill interval.
"""

from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.frames import error_payload, frame_loads
from core.gates import socket_refusal
from core.groups import user_group
from core.ratelimit import Rate, TokenBuckets
from core.sockets import Cleanup

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_FRAME_BYTES = 1024

# A page pings now and then; a person has a few pages open at most.
FRAMES = Rate(per_second=2, burst=10)
frame_buckets = TokenBuckets()


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Every websocket address no route serves (`ws/nope/`, `ws/cockpit/0/`): accepted, then
    closed with 4404, so that the client sees why (a refused handshake shows as a bare HTTP 403)
    and the server logs nothing."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)


class FeedConsumer(Cleanup, AsyncJsonWebsocketConsumer):
    """A socket that feeds a signed-in person what a group publishes, as numbered frames, and
    answers only `ping`: the person's notifications, a plan's progress. A subclass checks who
    may listen in `connect` and calls `listen` with the group."""

    async def held_back(self) -> bool:
        """A layer above holds the signed-in person back (a second factor not set up, or not
        passed in this session: `core.gates`): the socket is refused with an `error` frame that
        says why, then 4403, and True. They hear nothing until it lets them."""
        refusal = await database_sync_to_async(socket_refusal)(self.scope)
        if refusal is None:
            return False
        self.seq = 0
        await self.accept()
        await self.send_frame("error", error_payload(refusal))
        await self.close(code=CLOSE_FORBIDDEN)
        return True

    async def listen(self, group: str) -> None:
        """Join `group` and accept the socket; frames are numbered from here."""
        self.seq = 0
        self.group = group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.cleanup()

    async def cleanup(self) -> None:
        """Out of the group, however the socket ended (once)."""
        group = self.__dict__.pop("group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_frame(self, frame_type: str, payload: dict[str, Any]) -> None:
        self.seq += 1
        await self.send_json({"type": frame_type, "seq": self.seq, "payload": payload})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if not frame_buckets.admit(self.scope["user"].pk, FRAMES, what=_("frames")):
                return  # dropped unread: told once in this refill interval
            content = frame_loads(text_data, max_bytes=MAX_FRAME_BYTES)
        except DomainError as error:  # a FrameError, or RateLimited
            await self.send_frame("error", error_payload(error))
            return
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_frame(
                "error", {"code": "unknown_type", "message": _("This socket accepts 'ping' only.")}
            )
            return
        await self.send_frame("pong", {})


class NotificationConsumer(FeedConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels closes stale database connections before every handler, a hop onto the one
        shared sync thread: a notice waited there behind whatever the sync thread was doing (the
        request that caused it, say). This consumer uses no database, so the hop is skipped."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if await self.held_back():
            return
        await self.listen(user_group(user.pk))
        await self.send_frame("hello", {"user": user.email})

    async def notify(self, event: dict[str, Any]) -> None:
        """Group message from `core.notify.push`: forward it as a `notification` frame."""
        await self.send_frame("notification", event["payload"])

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Group message from `core.notify.sessions_ended_on_commit`: if this socket's session
        was signed out (here, from another device, or everywhere), it stops hearing notices."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        if key is None or key not in event["session_keys"]:
            return
        await self.send_frame(
            "error", {"code": "signed_out", "message": _("This session was signed out.")}
        )
        await self.close(code=CLOSE_UNAUTHENTICATED)

"""What every WeScan websocket consumer needs to end well, however its client goes away, and to
speak the person's language (`socket_language`).

A client may close at any moment: while `connect()` is still sending the welcome, in the middle
of a replay, between two group events. The server then refuses further sends: Daphne raises
autobahn's `Disconnected` ("Attempt to send on a closed protocol") for a socket in its closing
handshake, and the ASGI spec lets a server raise an `OSError` for one that is closed. Channels
lets that escape, the application instance dies with "Exception inside application", and no
`disconnect()` ever runs: groups, presence entries and background tasks of the socket stay
behind.

`Cleanup` turns such a send into `SocketClosed` (a StopConsumer, so the consumer ends quietly)
and runs the consumer's `cleanup()` once the application instance is over, whichever way it
ended: a disconnect, a closed socket, an error, or the server cancelling it.

A text sent to many sockets is framed once (`FrameSender`): Daphne, as `wescan.asgi` sets it up,
offers each websocket a way to send a frame built beforehand, and a consumer given that way
writes the same bytes to every socket instead of each socket encoding and framing the text again.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from autobahn.exception import Disconnected
from autobahn.websocket.protocol import PreparedMessage
from channels.exceptions import StopConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import (
    get_supported_language_variant,
    parse_accept_lang_header,
)

logger = logging.getLogger(__name__)

# What a server raises when the application sends on a socket whose client has gone.
SOCKET_GONE: tuple[type[Exception], ...] = (Disconnected, OSError)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class SocketClosed(StopConsumer):
    """The client went away while the consumer was sending to it: the consumer stops here."""


# The scope extension under which the server offers a websocket the sending of a frame built
# beforehand (`wescan.asgi.offer_prepared_frames`): a callable taking a PreparedMessage, which
# raises as `send` does for a socket that has gone.
PREPARED_FRAMES = "wescan.prepared_frames"


class FrameSender:
    """Sends texts to one socket, framing each text once for all the sockets it is sent to:
    through the server's prepared frames when it offers them, else through `send`."""

    # The last text framed and its frame: a broadcast sends one text to its sockets in a row.
    framed: tuple[str, PreparedMessage] | None = None

    def __init__(self, scope: dict[str, Any], send: Send) -> None:
        self.send_prepared: Callable[[PreparedMessage], None] | None = scope.get(
            "extensions", {}
        ).get(PREPARED_FRAMES)
        self.send = send

    async def __call__(self, text: str) -> None:
        if self.send_prepared is None:
            await self.send({"type": "websocket.send", "text": text})
            return
        framed = FrameSender.framed
        if framed is None or framed[0] is not text:
            framed = FrameSender.framed = (
                text,
                PreparedMessage(text.encode(), False, False, False),
            )
        try:
            self.send_prepared(framed[1])
        except SOCKET_GONE:
            raise SocketClosed() from None


def send_or_stop(send: Send) -> Send:
    """`send`, raising SocketClosed instead of the server's error once the client has gone."""

    async def guarded(message: dict[str, Any]) -> None:
        try:
            await send(message)
        except SOCKET_GONE:
            raise SocketClosed() from None

    return guarded


# An Accept-Language header longer than this is not read (Django's own limit).
ACCEPT_LANGUAGE_MAX = 500


def socket_language(scope: dict[str, Any]) -> str:
    """The language a socket's frames are written in, as for a page: the person's own choice,
    else the language cookie, else the browser's Accept-Language, else the site's default."""
    supported = dict(settings.LANGUAGES)
    user = scope.get("user")
    if user is not None and user.is_authenticated and getattr(user, "language", "") in supported:
        return str(user.language)
    cookie = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie in supported:
        return str(cookie)
    headers = dict(scope.get("headers", []))
    header = headers.get(b"accept-language", b"").decode("latin-1")
    if len(header) <= ACCEPT_LANGUAGE_MAX:
        for code, _quality in parse_accept_lang_header(header):
            try:
                return get_supported_language_variant(code)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


class Cleanup:
    """Mixin for a Channels consumer (before the consumer class in the bases): `cleanup()` runs
    when the application instance ends, however it ends. It must be safe to run more than once
    and on a consumer whose `connect()` never got far."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Frames (an `error`'s message, say) in the person's language, for the socket's life:
        # this task's context, copied into the threads it runs database work in.
        translation.activate(socket_language(scope))
        try:
            await super().__call__(scope, receive, send_or_stop(send))  # type: ignore[misc]
        finally:
            try:
                await self.cleanup()
            except Exception:  # the entries it could not remove expire on their own
                logger.exception("websocket cleanup failed")

    async def cleanup(self) -> None:
        """Leave groups, drop presence, cancel the socket's tasks."""

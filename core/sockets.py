"""What every WeScan websocket consumer needs to end well, however its client goes away.

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
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from autobahn.exception import Disconnected
from channels.exceptions import StopConsumer

logger = logging.getLogger(__name__)

# What a server raises when the application sends on a socket whose client has gone.
SOCKET_GONE: tuple[type[Exception], ...] = (Disconnected, OSError)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class SocketClosed(StopConsumer):
    """The client went away while the consumer was sending to it: the consumer stops here."""


def send_or_stop(send: Send) -> Send:
    """`send`, raising SocketClosed instead of the server's error once the client has gone."""

    async def guarded(message: dict[str, Any]) -> None:
        try:
            await send(message)
        except SOCKET_GONE:
            raise SocketClosed() from None

    return guarded


class Cleanup:
    """Mixin for a Channels consumer (before the consumer class in the bases): `cleanup()` runs
    when the application instance ends, however it ends. It must be safe to run more than once
    and on a consumer whose `connect()` never got far."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send_or_stop(send))  # type: ignore[misc]
        finally:
            try:
                await self.cleanup()
            except Exception:  # the entries it could not remove expire on their own
                logger.exception("websocket cleanup failed")

    async def cleanup(self) -> None:
        """Leave groups, drop presence, cancel the socket's tasks."""

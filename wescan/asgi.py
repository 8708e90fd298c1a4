"""ASGI entry point: HTTP first (so Django is set up before any consumer is imported), then the
websocket router behind origin validation and session authentication. In the embedded mode with
WESCAN_EMBEDDED_BEAT=1 (`make run`), the periodic jobs run inside this process
(`wescan.embedded_beat`).

Served by Daphne, a websocket message over its size limit (1 MiB, `--websocket-max-message-size`)
ends the connection with a close frame, 1009 (message too big), instead of a dropped TCP
connection (1006) that tells the client nothing: see `close_oversized_messages_cleanly`."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wescan.settings.local")
http_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from wescan.embedded_beat import with_embedded_beat  # noqa: E402
from wescan.routing import websocket_urlpatterns  # noqa: E402


def close_oversized_messages_cleanly() -> None:
    """Autobahn fails a websocket connection (a message over the limit, a protocol error) by
    dropping it, unless its factory says `failByDrop = False`; Daphne has no option for that.
    Daphne's factory class is told here, in place (Daphne's test servers re-import
    `daphne.server`, and importing that installs Twisted's reactor: neither is touched), so
    that such connections end with a close frame and its code (1009 for a message too big)."""
    from daphne.ws_protocol import WebSocketFactory

    if getattr(WebSocketFactory, "closes_cleanly", False):
        return
    reset = WebSocketFactory.resetProtocolOptions

    def reset_to_close_cleanly(self: WebSocketFactory) -> None:
        reset(self)
        self.failByDrop = False

    WebSocketFactory.resetProtocolOptions = reset_to_close_cleanly
    WebSocketFactory.closes_cleanly = True


def leave_request_bodies_unparsed() -> None:
    """Twisted parses every form POST's body into `request.args` on its one reactor thread
    before Daphne hands the body on (Django never reads `args`): a 20 MB body of `&` from
    anyone, signed in or not, held every page and every cockpit socket of the process for
    seven seconds. Twisted has a switch for that (`parsePOSTFormSubmission`) that Daphne never
    sets; Daphne's requests are told here, in place, so that bodies reach Django unread, where
    the size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) refuses them before any parsing."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "leaves_bodies_unparsed", False):
        return
    init = WebRequest.__init__

    def init_unparsed(self: WebRequest, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = init_unparsed
    WebRequest.leaves_bodies_unparsed = True


def write_at_once() -> None:
    """Twisted never writes to a socket when asked: it buffers the bytes, asks the event loop to
    watch the socket for writing (an epoll_ctl), sends on the loop's next turn, then stops
    watching (another epoll_ctl): a cockpit frame to six people paid that six times. (On
    bench_cockpit this saves little CPU, within the run-to-run noise of a few per cent: Python,
    not system calls, is most of a Daphne's time; it is kept for the loop wake-ups it saves.)
    A TCP connection is told here, in place, to send at once when nothing of it is waiting,
    as asyncio's own transports do; whatever the socket does not take (a slow reader, an error)
    is handed to Twisted's buffer, behind which every later write then queues, so order holds
    and Twisted still reports the error and paces a producer."""
    from twisted.internet.tcp import Connection

    if getattr(Connection, "writes_at_once", False):
        return
    write = Connection.write

    def write_now(self: Connection, data: bytes) -> None:
        idle = (
            not getattr(self, "TLS", False)
            and self.connected
            and not self._writeDisconnected
            and not self._tempDataLen
            and self.offset == len(self.dataBuffer)
        )
        if idle and type(data) is bytes and data:
            try:
                sent = self.socket.send(data)
            except OSError:
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        write(self, data)

    Connection.write = write_now  # type: ignore[method-assign,assignment]
    Connection.writes_at_once = True  # type: ignore[attr-defined]


def read_without_log_context() -> None:
    """Twisted's asyncio reactor calls each socket's reads and writes through `callWithLogger`,
    which copies a legacy logging context (the socket's log prefix) for every read, a tenth of
    the work of taking in a cockpit frame. Daphne sends Twisted's log nowhere (verbosity 0 or
    1) or to the standard library's logging, which never reads that context. The reactor's
    module is given a version here that keeps what matters: a reader's failure is logged
    (twisted.python.log.err), never raised into the event loop."""
    from twisted.internet import asyncioreactor
    from twisted.python import log

    if getattr(asyncioreactor, "reads_without_log_context", False):
        return

    def call_logging_failures(logger: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException:
            log.err(system="asyncio reactor")
            return None

    asyncioreactor.callWithLogger = call_logging_failures
    asyncioreactor.reads_without_log_context = True  # type: ignore[attr-defined]


def send_frames_without_session_checks() -> None:
    """Channels' session middleware looks at the session (two lookups through its lazy object)
    on every message a consumer sends, to save it before an HTTP response starts; a websocket
    frame never saves it, and the relay sends thousands a second. Its wrapper is told here, in
    place, to hand any other message straight on."""
    from channels.sessions import InstanceSessionWrapper

    if getattr(InstanceSessionWrapper, "sends_frames_straight", False):
        return
    send = InstanceSessionWrapper.send

    async def send_straight(self: InstanceSessionWrapper, message: dict[str, Any]) -> None:
        if message["type"] not in self.save_message_types:
            await self.real_send(message)
        else:
            await send(self, message)

    InstanceSessionWrapper.send = send_straight
    InstanceSessionWrapper.sends_frames_straight = True


def format_log_values_only_when_logged() -> None:
    """Autobahn colours the values of its debug lines (click.style) before it knows whether
    debug is on: twice per websocket frame sent or received, a tenth of the work of sending a
    frame. Its websocket modules are given plain versions here (a debug line, when someone
    turns debug on, shows the values uncoloured)."""
    import autobahn.twisted.websocket
    import autobahn.websocket.protocol

    def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
        return value

    for module in (autobahn.websocket.protocol, autobahn.twisted.websocket):
        module.hltype = plain  # type: ignore[attr-defined]
        module.hlval = plain  # type: ignore[attr-defined]


def offer_prepared_frames() -> None:
    """The cockpit relay sends each console state to every person of the session: through ASGI,
    each socket encodes the same text and frames it again. Daphne's websockets are offered here
    a scope extension (`core.sockets.PREPARED_FRAMES`) that sends a frame built once (Autobahn's
    own broadcast API, `sendPreparedMessage`), with the checks of Daphne's own send: nothing is
    sent to a socket Daphne saw go, and a socket in its closing handshake raises Disconnected."""
    from autobahn.exception import Disconnected
    from autobahn.websocket.protocol import PreparedMessage
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    from core.sockets import PREPARED_FRAMES

    if getattr(Server, "offers_prepared_frames", False):
        return
    create = Server.create_application

    def create_offering_prepared_frames(self: Server, protocol: Any, scope: dict[str, Any]) -> Any:
        if not isinstance(protocol, WebSocketProtocol):
            return create(self, protocol, scope)
        connections = self.connections

        def send_prepared(message: PreparedMessage) -> None:
            connection = connections.get(protocol)
            if connection is None or connection.get("disconnected"):
                return
            if protocol.state != protocol.STATE_OPEN:
                raise Disconnected("Attempt to send on a closed protocol")
            protocol.sendPreparedMessage(message)

        extensions = {**scope.get("extensions", {}), PREPARED_FRAMES: send_prepared}
        return create(self, protocol, {**scope, "extensions": extensions})

    Server.create_application = create_offering_prepared_frames
    Server.offers_prepared_frames = True


close_oversized_messages_cleanly()
leave_request_bodies_unparsed()
write_at_once()
read_without_log_context()
offer_prepared_frames()
send_frames_without_session_checks()
format_log_values_only_when_logged()

application = with_embedded_beat(
    ProtocolTypeRouter(
        {
            "http": http_application,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

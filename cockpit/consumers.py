"""The cockpit relay: one consumer for both sides of a cockpit session.

- People connect to `ws/cockpit/<id>/?role=<role>&since=<seq>` with their session cookie;
- the scanner agent connects to `ws/cockpit/scanner/` with `Authorization: Device <token>` and is
  attached to the cockpit its scanner serves now.

Every session event (`state`, `command`, `ack`, `stop`, `control`, `chat`, `presence`,
`session`, `stops`, `assist`, `link`) is numbered and kept by the store (`cockpit.store`), which
builds its envelope text once and hands it, in the same atomic step, to every process's fan-out
(`cockpit.fanout`): each socket registers there when it enters the session and is handed each
event in seq order (`event_deliver`), which it sends as it is. The scanner's socket gets only
what it acts on (`command`, `stop`, and `session` when the cockpit ends). The channel-layer
groups (`cockpit.groups`) carry only the rare messages that are not session events: the lobby's
`cockpit.admitted` and `cockpit.dismissed`.

A socket that stops reading is shed (`cockpit.link.Backlog`): no more events until it echoes a
probe again; then it catches up (`since` from the history, or a snapshot with `resync`). A
snapshot that answers a `since` (the query's or a `resync` frame's) carries `resync`: `behind`
(the history no longer reaches back), `lost` (Redis lost the session's events; the seq goes on
above what anyone saw) or `shed`; a snapshot on a plain connect has no `resync`.

Refusals are sent after accepting the socket, so that a real client sees the close code:
4401 not authenticated / bad device token, 4403 role not allowed, 4404 no such session (or not
yours; for a scanner: no open session now, after an `error` frame saying when the next opens),
4409 not open yet, 4410 ended.

A request for help (`assist` frame) is raised, called off or ended by the assist services; they
tell the session once it commits (`cockpit.broadcast`), so the relay publishes no `assist` event
itself: it reaches everyone through the store and the fan-out like any other.

The hot path (a state frame from the scanner) touches no database: one store round trip (which
also publishes it). Everything else goes through `cockpit.services` in a worker thread; a
DomainError or an invalid frame becomes an `error` frame `{code, message, ref}` and the socket
stays open.

Every frame takes a token from its sender's bucket (`frame_buckets`) before it is read, so that
frames refused as too large, too deep or malformed count too: a person's bucket, per cockpit
(settings.COCKPIT_PERSON_FRAMES, shared by the person's sockets on this process), or the
scanner's (settings.COCKPIT_SCANNER_FRAMES, well above the agent's ten state frames a second).
A frame beyond the limit is dropped unread; the sender gets one `rate_limited` error frame
(`retry_after` in seconds, `ref` null) per refill interval, not one per frame. Local staff's STOP
takes no token: nothing keeps them from stopping the scan. It is recognised cheaply: only a
short frame (STOP_MAX_CHARS) is read before its token is taken, and one that cannot be read is
not a STOP.

`?since=` is the last seq the client saw: 0 to 2**53 - 1, at most 16 digits. Anything else gets
an `invalid` error frame and the socket goes on from a snapshot.

The link check (`cockpit.link`): every person's socket is probed each COCKPIT_LINK_PROBE_S and
its round trip timed; a `link` event tells the session when the figures change noticeably, and a
snapshot lists them. When the remote person holding control loses their link, control falls back
to local staff (`services.control_fallback`, then a `control` event, action `fallback`): at once
when their last socket closes (the process that sees the close does it), or once nothing was
heard from any of their sockets for COCKPIT_CONTROL_LINK_TIMEOUT_S, which a watchdog in the
scanner's and local staff's sockets checks every probe interval from the last-heard times in the
store (so a Daphne process that crashed with the controller's socket is noticed by the others).

However the client goes (at any point of connect, welcome, snapshot or replay, or with the
server refusing a send because it is closing), the socket leaves the fan-out, its groups and the
presence list (`core.sockets.Cleanup`): no participant stays listed after their socket is gone.
A send from the fan-out's task that finds the client gone ends the consumer the same way
(`socket_gone`).
"""

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.second_factor import Hold
from accounts.sessions import session_keep_alive
from cockpit import link, rules, second_factor, selectors, services
from cockpit.fanout import Event, seq_floor
from cockpit.groups import lobby_group, session_group, store_prefix
from cockpit.link import LinkMeter
from cockpit.models import CockpitSession, CockpitStatus, Role
from cockpit.rules import MOVES, Room, Who, moves_json
from cockpit.schemas import (
    MOVES_EVENTS,
    PEOPLE_PAYLOADS,
    SCANNER_PAYLOADS,
    Ack,
    Assist,
    Chat,
    Checklist,
    Command,
    Control,
    Echo,
    FrameError,
    Resync,
    State,
    StopReason,
    parse_frame,
)
from cockpit.store import PRESENCE_HEARTBEAT_S, PRESENCE_TTL_S, dumps, store
from core.errors import DomainError, NotFound
from core.frames import error_payload, parse_count
from core.outage import piece_unavailable, unavailable_message
from core.ratelimit import Rate, TokenBuckets
from core.sockets import Cleanup, FrameSender, SocketClosed
from marketplace.selectors import scanner_by_device_token
from scheduling.models import BookingStatus

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_OPEN = 4409
CLOSE_ENDED = 4410
# RFC 6455's "try again later": the database or Redis is not answering (core.outage).
CLOSE_TRY_AGAIN_LATER = 1013

# What reaches the scanner's socket (besides its own replies).
SCANNER_EVENTS = frozenset({"command", "stop"})

# Who may send what is `cockpit.rules`' table, which the services enforce: the relay keeps no
# copy of it. It only tells each person the moves open to them (`moves`, see cockpit.schemas).

# The longest text local staff's STOP is read from before a token is taken (a STOP envelope is
# about 40 characters; one with a long `seq` and spaces stays well under this).
STOP_MAX_CHARS = 256

# Frames each participant may send, per cockpit (settings COCKPIT_PERSON_FRAMES and
# COCKPIT_SCANNER_FRAMES), on this process's monotonic clock; a person's sockets share a bucket.
frame_buckets = TokenBuckets()

# A person's open cockpit keeps their signed-in session alive (accounts.sessions, whose "last
# seen" is kept to the minute): the heartbeat says so at most this often, and closes the socket
# (4401) once that session is signed out (idle, ended from "sign out everywhere", erased).
SESSION_KEEP_ALIVE_S = 60.0


class Refused(Exception):
    def __init__(self, code: int, message: str = "", error: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error = error


@dataclass(frozen=True)
class Joined:
    cockpit: CockpitSession
    role: str
    person: dict[str, Any]
    session: dict[str, Any]
    control: dict[str, Any]
    room: Room


# --- Database work (worker threads) ---------------------------------------------------------


def _cockpit_gate(cockpit: CockpitSession) -> None:
    """4410 when the session is over, 4409 when it is not open yet."""
    booking = cockpit.booking
    if cockpit.status == CockpitStatus.ENDED or booking.status not in (
        BookingStatus.CONFIRMED,
        BookingStatus.IN_PROGRESS,
    ):
        raise Refused(CLOSE_ENDED)
    if not selectors.booking_cockpit_open(booking):
        if timezone.now() < booking.starts_at:
            raise Refused(CLOSE_NOT_OPEN)
        raise Refused(CLOSE_ENDED)


def _join_person(
    user: User, session: SessionBase | None, cockpit_id: int, wanted: str | None
) -> Joined:
    if not user.is_authenticated:
        raise Refused(CLOSE_UNAUTHENTICATED)
    try:
        cockpit = selectors.access_cockpit(user, cockpit_id)
    except DomainError:
        raise Refused(CLOSE_NOT_FOUND) from None
    roles = selectors.roles_for(user, cockpit)
    role = wanted or roles[0]
    if role not in roles:
        raise Refused(CLOSE_FORBIDDEN)
    hold = second_factor.cockpit_hold(user, session) if session is not None else Hold.PROVE
    if hold is not None:
        raise Refused(CLOSE_FORBIDDEN, second_factor.refusal(hold), error="second_factor_required")
    _cockpit_gate(cockpit)
    if role == Role.OPERATOR:
        # The evidence that the technologist came (scheduling.no_shows), kept in the database:
        # presence lives in the relay's store and does not last.
        try:
            services.cockpit_operator_joined(actor=user, cockpit=cockpit)
        except DomainError:
            raise Refused(CLOSE_ENDED) from None
    return Joined(
        cockpit=cockpit,
        role=role,
        person=_person(user, role),
        session=selectors.session_view(cockpit),
        control=selectors.control_view(cockpit),
        room=selectors.room_of(cockpit),
    )


def _join_scanner(token: str) -> Joined:
    scanner = scanner_by_device_token(token=token)
    if scanner is None:
        raise Refused(CLOSE_UNAUTHENTICATED)
    booking = selectors.scanner_open_booking(scanner=scanner)
    if booking is None:
        upcoming = selectors.scanner_next_booking(scanner=scanner)
        message = (
            _("No cockpit session is open on %(scanner)s now; the next opens at %(opens)s.")
            % {
                "scanner": scanner.name,
                "opens": (upcoming.starts_at - selectors.OPEN_BEFORE).isoformat(),
            }
            if upcoming is not None
            else _("No cockpit session is open on %(scanner)s now, and none is booked.")
            % {"scanner": scanner.name}
        )
        raise Refused(CLOSE_NOT_FOUND, message, error="no_session")
    cockpit = services.cockpit_open(booking=booking)
    cockpit = selectors.cockpit_get(cockpit_id=cockpit.pk)
    _cockpit_gate(cockpit)
    return Joined(
        cockpit=cockpit,
        role=Role.SCANNER,
        person={"id": None, "name": scanner.name, "role": Role.SCANNER},
        session=selectors.session_view(cockpit),
        control=selectors.control_view(cockpit),
        room=selectors.room_of(cockpit),
    )


def _join_approved(cockpit_id: int) -> bool:
    return CockpitSession.objects.filter(pk=cockpit_id, join_approved_at__isnull=False).exists()


def _person(user: User, role: str) -> dict[str, Any]:
    view = selectors.person(user, role)
    assert view is not None
    return view


def _views(cockpit_id: int) -> tuple[dict[str, Any], dict[str, Any], Room]:
    cockpit = selectors.cockpit_get(cockpit_id=cockpit_id)
    return (
        selectors.session_view(cockpit),
        selectors.control_view(cockpit),
        selectors.room_of(cockpit),
    )


def _control_after(service: Any, **arguments: Any) -> tuple[dict[str, Any], Room]:
    """Run a control service; the control view of the session as it now is, and the rules'
    view of it (each socket's `moves`)."""
    cockpit = selectors.cockpit_get(cockpit_id=service(**arguments).pk)
    return selectors.control_view(cockpit), selectors.room_of(cockpit)


def _session_after(service: Any, **arguments: Any) -> tuple[dict[str, Any], Room]:
    cockpit = selectors.cockpit_get(cockpit_id=service(**arguments).pk)
    return selectors.session_view(cockpit), selectors.room_of(cockpit)


def _stop_reason(**arguments: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Give a STOP's reason; that STOP and every STOP of the session."""
    stop = services.stop_reason_set(**arguments)
    cockpit = selectors.cockpit_get(cockpit_id=stop.cockpit_id)
    stops = selectors.outcome_view(cockpit)["stops"]
    return next(view for view in stops if view["id"] == stop.pk), stops


def _stop_after(**arguments: Any) -> tuple[dict[str, Any], Room]:
    """STOP; the control view as it now is, with every STOP so far (`stops`: the one just
    pressed with its id, for its reason), and the rules' view of the session."""
    cockpit = selectors.cockpit_get(cockpit_id=services.cockpit_stop(**arguments).pk)
    control = {**selectors.control_view(cockpit), "stops": selectors.outcome_view(cockpit)["stops"]}
    return control, selectors.room_of(cockpit)


def _assist_on_current(
    service: Any, *, move: str, role: str, actor: User, cockpit: CockpitSession
) -> None:
    """Cancel or finish the cockpit's request for help that is under way."""
    current = selectors.assist_current(cockpit=cockpit)
    if current is None:
        row = MOVES[move]
        if role not in row.roles:
            raise row.not_your_role.exception()  # not theirs, whatever is under way
        raise NotFound(_("No request for help is under way in this cockpit."))
    service(actor=actor, assist_id=current.pk)


def _fallback(cockpit_id: int, lost_user_id: int, why: str) -> tuple[dict[str, Any], Room] | None:
    """Control falls back to local staff: the control view after it and the rules' view of the
    session, or None when there was nothing to do (that person no longer holds control)."""
    cockpit = selectors.cockpit_get(cockpit_id=cockpit_id)
    if not services.control_fallback(cockpit=cockpit, lost_user_id=lost_user_id, why=why):
        return None
    cockpit = selectors.cockpit_get(cockpit_id=cockpit_id)
    return selectors.control_view(cockpit), selectors.room_of(cockpit)


def _control_now(cockpit_id: int) -> dict[str, Any]:
    return selectors.control_view(selectors.cockpit_get(cockpit_id=cockpit_id))


# --- The consumer -----------------------------------------------------------------------------


class CockpitConsumer(Cleanup, AsyncWebsocketConsumer):
    """Serves people (`ws/cockpit/<id>/`) and scanners (`ws/cockpit/scanner/`)."""

    joined_group = False  # in the session's group (or the lobby) and in presence
    on_bus = False  # registered with the process's fan-out (in the session, not the lobby)
    holds = 0  # while above 0, events from the fan-out wait in `held` (a catch-up is being sent)
    resyncing: asyncio.Task[None] | None = None
    ending: asyncio.Task[None] | None = None
    going: asyncio.Task[None] | None = None
    heartbeat: asyncio.Task[None] | None = None
    link_tasks: tuple[asyncio.Task[None], ...] = ()
    is_scanner: bool
    cockpit: CockpitSession
    role: str
    person: dict[str, Any]
    prefix: str
    group: str

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels closes stale database connections before every handler, a hop onto the one
        shared sync thread for each event to each socket: most of the relay's time under load
        (bench/bench_cockpit.py). The database work here all goes through
        `database_sync_to_async`, which does the same around each call, so the hop is skipped."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    accepted = False
    frame_bucket: tuple[tuple[Any, ...], Rate] | None = None  # take_token's

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def connect(self) -> None:
        """Join the session; while the database or Redis is not answering, the client is told
        so (an `unavailable` error frame, close code 1013: try again later) instead of the
        handshake failing with an HTTP 500, and reconnects as after any loss."""
        try:
            await self.join()
        except Exception as error:
            piece = piece_unavailable(error)
            if piece is None:
                raise
            logger.warning("cockpit socket refused: %s is not answering", piece)
            try:
                await self.leave()
            except Exception:  # the piece is away: presence entries expire on their own
                logger.warning("cockpit socket could not leave cleanly while %s is away", piece)
            if not self.accepted:
                await self.accept()
            await self.send_reply(
                "error", {"code": "unavailable", "message": unavailable_message(piece), "ref": None}
            )
            await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def join(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.is_scanner = bool(kwargs.get("scanner"))
        self.floor = 0  # events up to this seq were sent already (live, replay or snapshot)
        self.held: list[Event] = []
        self.backlog = link.Backlog(window=link.socket_window_bytes())  # see cockpit.link
        self.send_text = FrameSender(self.scope, self.base_send)  # events: framed once
        self.catching = asyncio.Lock()
        self.console: dict[str, Any] | None = None  # scanner: the merged full console state
        self.started = False
        self.starting: asyncio.Task[None] | None = None
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            if self.is_scanner:
                joined = await database_sync_to_async(_join_scanner)(self._device_token())
            else:
                wanted = (query.get("role") or [None])[0]
                joined = await database_sync_to_async(_join_person)(
                    self.scope.get("user"),
                    self.scope.get("session"),
                    int(kwargs["cockpit_id"]),
                    wanted,
                )
        except Refused as refusal:
            await self.accept()
            if refusal.error:
                await self.send_error(refusal.error, refusal.message)
            await self.close(code=refusal.code)
            return
        self.cockpit = joined.cockpit
        self.role = joined.role
        self.person = joined.person
        self.who = Who(self.role, self.person["id"])
        self.room = joined.room  # the latest rules' view of the session this socket has seen
        self.prefix = store_prefix(joined.cockpit)
        self.group = session_group(joined.cockpit.pk)
        self.store = store()
        self.fanout = self.store.fanout()
        # Consent: an operator whose join local staff have not approved waits in the lobby (no
        # console, no chat) until they do.
        self.waiting = self.role == Role.OPERATOR and not joined.control["join_approved"]
        self.member_of = lobby_group(joined.cockpit.pk) if self.waiting else self.group

        await self.channel_layer.group_add(self.member_of, self.channel_name)
        self.joined_group = True
        if not self.waiting:
            # Events from here on are held until the welcome and the catch-up are sent.
            self.holds += 1
            await self.bus_join()
        await self.accept()
        snapshot = await self.store.snapshot(self.prefix)
        await self.send_reply(
            "welcome",
            {
                "role": self.role,
                "you": self.person,
                "session": joined.session,
                "control": joined.control,
                "seq": max(snapshot.seq, seq_floor(self.prefix)),
                "waiting": self.waiting,
            },
            moves=not self.is_scanner,
        )
        if self.is_scanner:
            # Resume from the last console state (the agent may have been on another process).
            self.console = snapshot.state
            self.started = joined.cockpit.started_at is not None
            self.floor = max(self.floor, snapshot.seq)
            await self.release()
        elif self.waiting:
            if await database_sync_to_async(_join_approved)(self.cockpit.pk):
                self.waiting = False  # approved while this socket was joining the lobby
                await self.enter()
        else:
            since: int | None = None
            if "since" in query:
                since = parse_count(query["since"][0])
                if since is None:
                    await self.send_error(
                        "invalid", _("'since' is the last seq you saw: 0 to 9007199254740991.")
                    )
            await self.catch_up(since, joined.session, joined.control)
            await self.release()
        # The order people joined in (presence lists them so): the wall clock, comparable across
        # processes and distinct for each join, unlike the presence clock a test may freeze.
        self.joined_at = time.time()
        await self.store.presence_touch(
            self.prefix, self.channel_name, self.presence_person, joined=self.joined_at
        )
        await self.publish_presence(joined=self.presence_person)
        self.session_kept_at = time.monotonic()
        self.heartbeat = asyncio.create_task(self.beat())
        await self.link_start(joined.control)

    @property
    def presence_person(self) -> dict[str, Any]:
        """How this socket shows in the presence list (an operator waiting to be let in says so)."""
        return {**self.person, "waiting": True} if self.waiting else self.person

    async def enter(self) -> None:
        """From the lobby into the session: the console from a snapshot on."""
        await self.channel_layer.group_discard(self.member_of, self.channel_name)
        self.member_of = self.group
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.holds += 1
        try:
            await self.bus_join()
            await self.catch_up(None)
        finally:
            await self.release()

    async def cockpit_admitted(self, event: dict[str, Any]) -> None:
        """Local staff approved the operator's join (group message to the lobby)."""
        if not self.waiting:
            return
        self.waiting = False
        await self.enter()
        await self.store.presence_touch(
            self.prefix, self.channel_name, self.presence_person, joined=self.joined_at
        )
        await self.publish_presence(joined=self.presence_person)

    async def cockpit_dismissed(self, event: dict[str, Any]) -> None:
        """A senior's help here is done (`assist_finish`): their assistant sockets close."""
        if self.is_scanner or self.role != Role.ASSISTANT or self.person["id"] != event["user"]:
            return
        await self.send_error(
            "assist_ended", _("Your help in this cockpit is done: thank you. The session goes on.")
        )
        await self.leave()
        await self.close(code=CLOSE_FORBIDDEN)

    def _device_token(self) -> str:
        for name, value in self.scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _space, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "device":
                    return token.strip()
        return ""

    async def disconnect(self, code: int) -> None:
        await self.leave()

    async def cleanup(self) -> None:
        """The application instance ended (a disconnect, a closed socket, an error, cancelled)."""
        await self.leave()

    async def leave(self) -> None:
        """Leave the group and the presence list (once). The heartbeat stops first: an entry that
        is no longer refreshed drops out of the list within PRESENCE_TTL_S whatever fails next."""
        if not self.joined_group:
            return
        self.joined_group = False
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
        await self.link_stop()
        if self.on_bus:
            self.on_bus = False
            await self.fanout.unregister(self.prefix, self)
        if self.resyncing is not None:
            self.resyncing.cancel()
        await self.channel_layer.group_discard(self.member_of, self.channel_name)
        if await self.store.presence_remove(self.prefix, self.channel_name):
            await self.publish_presence(left=self.presence_person)
        await self.link_leave()

    async def beat(self) -> None:
        """Keep this socket's presence entry fresh while it is in the session (and only then);
        announce participants whose process died."""
        while self.joined_group:
            await asyncio.sleep(PRESENCE_HEARTBEAT_S)
            if not self.joined_group:
                return
            try:
                await self.store.presence_touch(
                    self.prefix, self.channel_name, self.presence_person, joined=self.joined_at
                )
                for gone in await self.store.presence_prune(self.prefix):
                    await self.publish_presence(left=gone)
            except Exception:  # the store is back on the next beat; the socket lives on
                logger.exception("cockpit presence heartbeat failed")
            try:
                signed_in = await self.keep_session_alive()
            except Exception:  # the database is back on the next beat; the socket lives on
                logger.exception("cockpit session keep-alive failed")
                continue
            if not signed_in:
                self.heartbeat = None  # this task: leave() must not wait on itself
                await self.send_error(
                    "signed_out", _("You were signed out: sign in again to rejoin the cockpit.")
                )
                await self.leave()
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return

    async def keep_session_alive(self) -> bool:
        """Tell the person's signed-in session they are still here (at most once every
        SESSION_KEEP_ALIVE_S); False once that session is signed out. The scanner's socket has
        no session."""
        if self.is_scanner:
            return True
        now = time.monotonic()
        if now - self.session_kept_at < SESSION_KEEP_ALIVE_S:
            return True
        self.session_kept_at = now
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if not session_key:
            return True
        return bool(
            await database_sync_to_async(session_keep_alive)(
                session_key=session_key, user_id=self.person["id"]
            )
        )

    # --- Sending ------------------------------------------------------------------------------

    async def send_reply(
        self, frame_type: str, payload: dict[str, Any], *, moves: bool = False
    ) -> None:
        """A reply to this socket only; `moves`: with the moves open to its person now."""
        tail = f',"moves":{moves_json(self.room, self.who)}}}' if moves else "}"
        await self.send(
            text_data=f'{{"type":"{frame_type}","seq":null,"payload":{dumps(payload)}{tail}'
        )

    async def send_error(self, code: str, message: str, ref: int | None = None) -> None:
        # The socket's language is active (core.sockets.Cleanup): the frame carries its words.
        await self.send_reply("error", {"code": code, "message": str(message), "ref": ref})

    async def publish(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        snapshot_state: dict[str, Any] | None = None,
        ended: bool = False,
        fence: int | None = None,
        room: Room | None = None,
        from_frame: bool = False,
    ) -> int:
        """Number and keep a session event; the store hands it to every process's fan-out, which
        sends its text to everyone in the session (`event_deliver`). 0 when the fence refused it
        (see `cockpit.store`). `room`: the rules' view of the session
        after the change, from which each socket works out its person's `moves`."""
        seq, _text = await self.store.publish(
            self.prefix,
            event_type,
            payload,
            snapshot_state=snapshot_state,
            fence=fence,
            ended=ended,
            room=selectors.room_data(room) if room is not None else None,
            from_frame=from_frame,
        )
        return seq

    async def publish_presence(
        self, *, joined: dict[str, Any] | None = None, left: dict[str, Any] | None = None
    ) -> None:
        participants = await self.store.presence_list(self.prefix)
        await self.publish(
            "presence", {"participants": participants, "joined": joined, "left": left}
        )

    # --- Events from the fan-out (cockpit.fanout), in seq order --------------------------------

    async def bus_join(self) -> None:
        """Receive the session's events from now on (the fan-out confirms the subscription
        before this returns: a history read after it misses nothing)."""
        self.on_bus = True
        await self.fanout.register(self.prefix, self)

    async def event_deliver(self, event: Event) -> None:
        """A session event from the fan-out: held while a catch-up is being sent, else sent."""
        if self.holds:
            self.held.append(event)
            return
        try:
            await self.event_send(event)
        except SocketClosed:
            self.socket_gone()

    def socket_gone(self) -> None:
        """A send from outside the consumer's own task found the client gone: the consumer is
        told through its channel (`cockpit_gone`), and ends as if its own send had failed."""
        if self.going is None and self.joined_group:
            self.going = asyncio.create_task(
                self.channel_layer.send(self.channel_name, {"type": "cockpit.gone"})
            )

    async def cockpit_gone(self, event: dict[str, Any]) -> None:
        raise SocketClosed()

    async def release(self) -> None:
        """A catch-up was sent: the events held meanwhile go out (those it did not cover)."""
        self.holds = max(0, self.holds - 1)
        if self.holds:
            return
        while self.held and not self.holds:
            await self.event_send(self.held.pop(0))

    def event_resync(self) -> None:
        """The fan-out may have missed events (its Redis connection was lost): catch up from
        the last seq this socket was sent. The events the fan-out hands over from now on are
        held until then (a person's socket): sent at once, a live event would go out ahead of
        those missed, leaving a gap that no snapshot explains."""
        if self.resyncing is None or self.resyncing.done():
            if not self.is_scanner:
                self.holds += 1
            self.resyncing = asyncio.create_task(self.resync())

    async def resync(self) -> None:
        try:
            if self.is_scanner:
                await self.scanner_missed_stops(self.floor)
            else:
                await self.catch_up(self.floor)
        except SocketClosed:
            self.socket_gone()
        except Exception:  # the store is away: the next reconnection tries again
            logger.exception("cockpit %s: a resync failed", self.cockpit.pk)
        finally:
            if not self.is_scanner:
                try:
                    await self.release()
                except SocketClosed:
                    self.socket_gone()

    async def event_send(self, event: Event) -> None:
        """Send one event: its text as built once by the store (with this person's moves for
        MOVES_EVENTS)."""
        kind = event.kind
        if kind == "control" and self.watching:
            self.control_seen(json.loads(event.text)["payload"])
        if self.is_scanner:
            self.floor = max(self.floor, event.seq)
            if kind in SCANNER_EVENTS:
                await self.send(text_data=event.text)
            elif event.ended:
                await self.send(text_data=event.text)
                # Off the fan-out's way: leaving talks to the store.
                self.ending = asyncio.create_task(self.end_scanner())
            return
        if event.room is not None:
            self.room = selectors.room_from(event.room)
        if event.seq <= self.floor:
            return  # already sent in a replay or covered by a snapshot
        backlog = self.backlog
        if backlog.shed or (backlog.sent - backlog.acked > backlog.window and self.shed_now()):
            return  # caught up when it echoes again
        self.floor = event.seq
        text = event.text
        if kind in MOVES_EVENTS:
            # The text as the store built it, with this person's moves spliced in (worked out
            # once per room and person: `moves_json` is cached).
            text = f'{text[:-1]},"moves":{moves_json(self.room, self.who)}}}'
        backlog.sent += len(text)
        # Straight to the server, the frame built once for all the session's sockets (what
        # `send` does, without its layers: once per socket and event, the relay's most frequent
        # call).
        await self.send_text(text)

    def shed_now(self) -> bool:
        """Whether to stop sending this socket events: it left too much unread for too long
        (`cockpit.link.Backlog`)."""
        if not self.backlog.over(link.link_clock()):
            return False
        self.backlog.shed = True
        link.shed_total += 1
        logger.warning(
            "cockpit %s: %s's socket stopped reading (%d bytes unacknowledged): no more events "
            "until it answers a probe (%d shed so far)",
            self.cockpit.pk,
            self.role,
            self.backlog.sent - self.backlog.acked,
            link.shed_total,
        )
        return True

    async def unshed(self) -> None:
        """A shed socket answered a probe: it catches up from the last event it was sent."""
        self.backlog.shed = False
        self.backlog.acked = self.backlog.sent
        await self.catch_up(self.floor, why="shed")

    async def end_scanner(self) -> None:
        with contextlib.suppress(SocketClosed):
            await self.leave()
            await self.close(code=CLOSE_ENDED)

    async def catch_up(
        self,
        since: int | None,
        session: dict[str, Any] | None = None,
        control: dict[str, Any] | None = None,
        *,
        why: str | None = None,
    ) -> None:
        """The events after `since`, or a snapshot when there is no `since` or the history does
        not reach back that far. Events from the fan-out wait meanwhile (`holds`). A snapshot
        that answers a `since` says why it came instead of the events (`resync`): `why` if given
        (`shed`: the socket had stopped reading), else `behind` (the history no longer reaches
        back to `since`) or `lost` (`since` is beyond what the store holds: Redis lost the
        session's events; the seq goes on above what the clients saw)."""
        self.holds += 1
        try:
            async with self.catching:
                await self.catch_up_now(since, session, control, why=why)
        finally:
            await self.release()

    async def catch_up_now(
        self,
        since: int | None,
        session: dict[str, Any] | None,
        control: dict[str, Any] | None,
        *,
        why: str | None,
    ) -> None:
        if since is not None:
            texts = await self.store.since(self.prefix, since)
            if texts is not None:
                for text in texts:
                    self.backlog.sent += len(text)
                    await self.send(text_data=text)
                self.floor = max(self.floor, since + len(texts))
                return
        if session is None or control is None:
            session, control, self.room = await database_sync_to_async(_views)(self.cockpit.pk)
        snapshot = await self.store.snapshot(self.prefix)
        presence = await self.store.presence_list(self.prefix)
        links = await self.link_list()
        resync = None
        if since is not None:
            resync = why or ("lost" if since > snapshot.seq else "behind")
        # Never below what this process has seen (a counter lost with Redis's data).
        seq = max(snapshot.seq, seq_floor(self.prefix))
        self.floor = max(self.floor, seq)
        payload = {
            "seq": seq,
            "state": snapshot.state,
            "control": control,
            "session": session,
            "presence": presence,
            "chat": snapshot.chat,
            "links": links,
            "activity": snapshot.activity,
        }
        if resync is not None:
            payload["resync"] = resync
        await self.send_reply("snapshot", payload, moves=True)

    # --- Receiving ----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined_group:
            return
        ref = None
        allowed = SCANNER_PAYLOADS if self.is_scanner else PEOPLE_PAYLOADS
        try:
            frame = self.local_stop(text_data)
            if frame is None:
                if not self.take_token():
                    return  # dropped unread: the sender was told in this refill interval
                frame = parse_frame(text_data, allowed=allowed)
            envelope, payload = frame
            ref = envelope.seq
            if envelope.type == "ping":
                await self.send_reply("pong", {})
            elif envelope.type == "echo":
                assert isinstance(payload, Echo)
                await self.link_echo(payload.probe)
            elif self.waiting:
                await self.send_error(
                    "waiting",
                    _(
                        "Local staff have not approved your join yet: the console opens "
                        "when they do."
                    ),
                    ref,
                )
            elif self.is_scanner:
                await self.from_scanner(envelope.type, envelope.payload, payload, ref)
            else:
                await self.from_person(envelope.type, payload, ref)
        except DomainError as error:  # a FrameError too
            await self.send_reply("error", error_payload(error, ref=ref))

    def local_stop(self, text_data: str | None) -> tuple[Any, Any] | None:
        """Local staff's STOP, read before any token is taken (it takes none: nothing keeps
        them from stopping the scan); None for anything else. Only a short frame is read here,
        so that this costs little whatever is sent; a frame that cannot be read is no STOP."""
        if self.is_scanner or self.role != Role.LOCAL:
            return None
        if text_data is None or len(text_data) > STOP_MAX_CHARS:
            return None
        try:
            envelope, payload = parse_frame(text_data, allowed=PEOPLE_PAYLOADS)
        except FrameError:
            return None
        return (envelope, payload) if envelope.type == "stop" else None

    def take_token(self) -> bool:
        """Take a frame's token from the sender's bucket: False when the frame is to be dropped
        without a word; RateLimited the first time in a refill interval that the bucket is
        empty. The bucket's key and rate are worked out at the socket's first frame that takes
        a token (reading the settings for each frame was a few per cent of the relay's time)."""
        bucket = self.frame_bucket
        if bucket is None:
            if self.is_scanner:
                key: tuple[Any, ...] = (self.cockpit.pk, Role.SCANNER)
                rate = Rate.of(settings.COCKPIT_SCANNER_FRAMES)
            else:
                key = (self.cockpit.pk, self.role, self.person["id"])
                rate = Rate.of(settings.COCKPIT_PERSON_FRAMES)
            bucket = self.frame_bucket = (key, rate)
        return frame_buckets.admit(bucket[0], bucket[1], what="frames")

    async def from_scanner(
        self, frame_type: str, raw: dict[str, Any], payload: Any, ref: int | None
    ) -> None:
        if frame_type == "resync":
            assert isinstance(payload, Resync)
            await self.scanner_missed_stops(payload.since)
        elif frame_type == "state":
            await self.scanner_state(raw, payload, ref)
        elif frame_type == "ack":
            assert isinstance(payload, Ack)
            await self.publish("ack", payload.model_dump())

    async def scanner_missed_stops(self, since: int) -> None:
        """A scanner back after a lost connection: the STOPs it missed, in order (commands sent
        while it was away are not replayed: nobody saw them acknowledged, and they are stale)."""
        texts = await self.store.since(self.prefix, since)
        if texts is not None:
            for text in texts:
                if text.startswith('{"type":"stop",'):
                    await self.send(text_data=text)
            return
        stop_seq = await self.store.stop_seq(self.prefix)
        if stop_seq > since:  # too far behind for the history: the last STOP at least
            await self.send(text_data=f'{{"type":"stop","seq":{stop_seq},"payload":{{"by":null}}}}')

    async def scanner_state(self, raw: dict[str, Any], frame: State, ref: int | None) -> None:
        """Relay the scanner's state frame as it was sent; keep the merged full state as the
        snapshot. The first merged state that runs a sequence starts the exam."""
        if frame.full:
            if frame.state is None:
                raise FrameError("invalid", _("A full state frame carries 'state'."), ref=ref)
            self.console = dict(frame.state)
        else:
            if frame.changes is None:
                raise FrameError("invalid", _("A delta state frame carries 'changes'."), ref=ref)
            if self.console is None:
                raise FrameError(
                    "invalid",
                    _("Send a full state first: there is nothing to apply changes to."),
                    ref=ref,
                )
            self.console.update(frame.changes)
        await self.publish("state", raw, snapshot_state=self.console, from_frame=True)
        if not self.started and self.console.get("status") == "running":
            # Off the hot path: the scanner's next frames are relayed while the booking moves.
            self.started = True
            self.starting = asyncio.create_task(self.mark_started())

    async def mark_started(self) -> None:
        try:
            session, room = await database_sync_to_async(_session_after)(
                services.cockpit_mark_started, cockpit=self.cockpit
            )
        except DomainError as error:
            # Not retried on every frame: the scanner is told, the log keeps it.
            logger.warning("cockpit %s did not start: %s", self.cockpit.pk, error.message)
            with contextlib.suppress(SocketClosed):  # the scanner went meanwhile
                await self.send_error(error.code, error.message)
            return
        except Exception:
            # A transient failure (the database away): tried again on the next running state.
            logger.exception("cockpit %s: recording the start failed", self.cockpit.pk)
            self.started = False
            return
        await self.publish("session", session, room=room)

    async def from_person(self, frame_type: str, payload: Any, ref: int | None) -> None:
        if frame_type == "resync":
            assert isinstance(payload, Resync)
            await self.catch_up(payload.since)
            return
        if frame_type == "chat":
            assert isinstance(payload, Chat)
            refused = rules.refusal("chat", self.room, self.who)  # the table, as for every move
            if refused is not None:
                raise refused.exception()
            text = services.chat_check(payload.text)
            await self.publish(
                "chat", {"from": self.person, "text": text, "at": timezone.now().isoformat()}
            )
            return
        if frame_type == "checklist":
            assert isinstance(payload, Checklist)
            await self.checklist_confirm(payload)
            return
        if frame_type in ("stop_reason", "end"):
            await self.outcome_frame(frame_type, payload)
            return
        user = self.scope["user"]
        if frame_type == "command":
            assert isinstance(payload, Command)
            if payload.name == "stop":
                # The controller's own stop is a STOP like local staff's: the scanner is held
                # locally afterwards.
                await self.stop(user)
                return
            args = payload.checked_args()
            # The rules first, on this socket's view of the room (no database): a session that
            # ended or control not held says so, rather than that the scanner is away.
            refused = rules.refusal("command", self.room, self.who)
            if refused is not None:
                raise refused.exception()
            if not await self.scanner_present():
                await self.send_error(
                    "scanner_offline",
                    _(
                        "The scanner is not connected to the cockpit: “%(command)s” was not "
                        "sent. Try again once it is back."
                    )
                    % {"command": payload.name},
                    ref,
                )
                return
            if payload.name == "start":
                self.link_require_for_start()
            # The fence: a STOP published after this point (or whose change of control has not
            # reached the database yet) keeps this command from the scanner.
            fence = await self.store.stop_seq(self.prefix)
            await database_sync_to_async(services.command_record)(
                actor=user, role=self.role, cockpit=self.cockpit, name=payload.name, args=args
            )
            seq = await self.publish(
                "command", {"name": payload.name, "args": args, "by": self.person}, fence=fence
            )
            if not seq:
                await self.send_error(
                    "stopped",
                    _("The scan was stopped while this command was on its way; it was not sent."),
                    ref,
                )
        elif frame_type == "stop":
            await self.stop(user)
        elif frame_type == "confirm_contrast":
            await database_sync_to_async(services.contrast_confirm)(
                actor=user, role=self.role, cockpit=self.cockpit
            )
            await self.publish(
                "command", {"name": "confirm_contrast", "args": {}, "by": self.person}
            )
        elif frame_type == "control":
            assert isinstance(payload, Control)
            await self.control(user, payload, ref)
        elif frame_type == "approve":
            control, room = await database_sync_to_async(_control_after)(
                services.cockpit_approve_join, actor=user, role=self.role, cockpit=self.cockpit
            )
            await self.publish(
                "control", {"action": "approve", "by": self.person, **control}, room=room
            )
            await self.channel_layer.group_send(
                lobby_group(self.cockpit.pk), {"type": "cockpit.admitted"}
            )
        elif frame_type == "close":
            await self.close_session(user)
        elif frame_type == "assist":
            assert isinstance(payload, Assist)
            await self.assist(user, payload, ref)

    async def stop(self, user: User) -> None:
        """Local staff's STOP goes to the scanner first, before any database work; then they
        hold control (local override). The controller's own stop is checked first."""
        if self.role == Role.LOCAL:
            await self.publish("stop", {"by": self.person})
            await self.warn_if_scanner_away()
            control, room = await database_sync_to_async(_stop_after)(
                actor=user, role=self.role, cockpit=self.cockpit
            )
            await self.publish(
                "control", {"action": "stop", "by": self.person, **control}, room=room
            )
            return
        control, room = await database_sync_to_async(_stop_after)(
            actor=user, role=self.role, cockpit=self.cockpit
        )
        await self.publish("stop", {"by": self.person})
        await self.warn_if_scanner_away()
        # A change of control after the STOP: commands are fenced until there is one.
        await self.publish("control", {"action": "stop", "by": self.person, **control}, room=room)

    async def scanner_present(self) -> bool:
        """Whether the scanner's socket is in the session now (the store's presence list)."""
        present = await self.store.presence_list(self.prefix)
        return any(p.get("role") == Role.SCANNER for p in present)

    async def warn_if_scanner_away(self) -> None:
        """A STOP reaches a scanner that is reconnecting when it is back (it asks for the stops
        it missed); the person who pressed it is told not to wait for that."""
        if not await self.scanner_present():
            await self.send_error(
                "scanner_offline",
                _(
                    "The scanner is not connected to the cockpit right now: the STOP reaches it as "
                    "soon as it reconnects. Use the console's own stop at the scanner."
                ),
            )

    async def control(self, user: User, payload: Control, ref: int | None) -> None:
        if payload.to is not None and payload.action != "grant":
            raise FrameError("invalid", _("'to' goes with 'grant' only."), ref=ref)
        # Always in this socket's role: a manager who may also stand beside the patient moves
        # nothing from an observer's socket (the moves it was offered are the ones it may make).
        arguments: dict[str, Any] = {"actor": user, "role": self.role, "cockpit": self.cockpit}
        if payload.action == "request":
            service: Any = services.control_request
        elif payload.action == "grant":
            service = services.control_grant
            arguments["to_user_id"] = payload.to
        elif payload.action == "release":
            service = services.control_release
        elif payload.action == "take_over":
            service = services.control_take_over
        else:
            service = services.control_override
        control, room = await database_sync_to_async(_control_after)(service, **arguments)
        await self.publish(
            "control", {"action": payload.action, "by": self.person, **control}, room=room
        )

    async def assist(self, user: User, payload: Assist, ref: int | None) -> None:
        """Ask for help, call it off, or end it. The services tell the session (an `assist`
        event) once their change commits."""
        if payload.action == "request":
            assert payload.exam_family is not None
            await database_sync_to_async(services.assist_request)(
                actor=user,
                role=self.role,
                cockpit=self.cockpit,
                exam_family=payload.exam_family,
                note=payload.note,
            )
        else:
            service = (
                services.assist_cancel if payload.action == "cancel" else services.assist_finish
            )
            await database_sync_to_async(_assist_on_current)(
                service,
                move=f"assist.{payload.action}",
                role=self.role,
                actor=user,
                cockpit=self.cockpit,
            )

    async def close_session(self, user: User) -> None:
        """The operator closes a finished protocol: the booking is completed."""
        snapshot = await self.store.snapshot(self.prefix)
        finished = snapshot.state is not None and snapshot.state.get("status") == "finished"
        session, room = await database_sync_to_async(_session_after)(
            services.cockpit_close,
            actor=user,
            cockpit=self.cockpit,
            finished=finished,
            console=snapshot.state,
        )
        await self.publish("session", session, ended=True, room=room)
        await self.store.forget(self.prefix)

    # --- The link check and the fall-back of control (cockpit.link) ---------------------------

    @property
    def watching(self) -> bool:
        """Whether this socket watches the controller's link: the scanner's and local staff's
        (they are in the room with the patient; one of them is there whenever it matters)."""
        return self.is_scanner or self.role == Role.LOCAL

    async def link_start(self, control: dict[str, Any]) -> None:
        """Enter this person's socket in the link entries, and start probing it; start the
        watchdog in the scanner's and local staff's sockets. Nothing runs with the check off."""
        self.meter = LinkMeter()
        self.link_told: dict[str, Any] | None = None
        self.link_told_at: float | None = None
        self.heard_written = 0.0
        self.control_known = control
        self.controller_absent_since: float | None = None
        if not self.is_scanner:
            await self.link_write()
        if link.link_probe_s() <= 0:
            return
        tasks = []
        if not self.is_scanner:  # every person's socket: its echoes bound its backlog
            tasks.append(asyncio.create_task(self.link_probes()))
        if self.watching:
            tasks.append(asyncio.create_task(self.link_watchdog()))
        self.link_tasks = tuple(tasks)

    async def link_stop(self) -> None:
        for task in self.link_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.link_tasks = ()

    async def link_write(self, *, heard: bool = True) -> None:
        """This socket's link entry: who, when last heard (the store's clock: now, with `heard`),
        its figures."""
        if heard:
            self.heard_written = self.store.clock()
        await self.store.link_touch(
            self.prefix,
            self.channel_name,
            {
                "user": self.person["id"],
                "person": self.person,
                "heard": self.heard_written,
                "figures": self.meter.figures(link.link_clock()),
            },
        )

    async def link_probes(self) -> None:
        """Probe this socket every interval (one probe out at a time)."""
        interval = link.link_probe_s()
        while self.joined_group:
            await asyncio.sleep(interval)
            probe_id = self.meter.due(
                link.link_clock(), give_up_after=link.control_link_timeout_s()
            )
            if probe_id is not None:
                self.backlog.probed(probe_id, link.link_clock())
                await self.send_reply("probe", {"id": probe_id})
            elif self.role != Role.OBSERVER:  # observers' figures matter to none
                await self.link_unanswered()

    async def link_unanswered(self) -> None:
        """A probe still out: only an echo says the link is alive (any other frame does not:
        a page that sends but never answers is not heard). Its age is a round trip at least,
        so the figures everyone sees worsen while it waits."""
        now = link.link_clock()
        figures = self.meter.figures(now)
        if figures is not None and self.link_tell(figures, now):
            await self.link_write(heard=False)
            await self.publish("link", {"person": self.person, **figures})

    def link_tell(self, figures: dict[str, Any], now: float) -> bool:
        """Whether the session is told of these figures now (`link.link_noticeable`); if so,
        they are the figures last told."""
        if not link.link_noticeable(self.link_told, figures, told_at=self.link_told_at, now=now):
            return False
        self.link_told, self.link_told_at = figures, now
        return True

    async def link_echo(self, probe_id: int) -> None:
        """The echo of a probe: what was sent before it was read (a shed socket catches up);
        one more round trip; the session is told of figures that changed noticeably (not an
        observer's: their figures matter to none)."""
        self.backlog.echoed(probe_id)
        if self.backlog.shed:
            await self.unshed()
        if not self.meter.echoed(probe_id, link.link_clock()) or self.role == Role.OBSERVER:
            return
        figures = self.meter.figures()
        assert figures is not None
        try:
            await self.link_write()
        except Exception:  # the store is busy or away: heard again at the next echo
            logger.exception("cockpit %s: the link entry was not written", self.cockpit.pk)
            return
        if self.link_tell(figures, link.link_clock()):
            await self.publish("link", {"person": self.person, **figures})

    async def link_list(self) -> list[dict[str, Any]]:
        """Everyone's link figures now (people heard from lately; the last heard of a person's
        sockets), for a snapshot."""
        entries = await self.store.link_entries(self.prefix)
        now = self.store.clock()
        latest: dict[tuple[Any, Any], dict[str, Any]] = {}
        for entry in sorted(entries.values(), key=lambda entry: entry["heard"]):
            if entry["figures"] is None or now - entry["heard"] > PRESENCE_TTL_S:
                continue
            key = (entry["person"].get("id"), entry["person"].get("role"))
            latest[key] = {"person": entry["person"], **entry["figures"]}
        return list(latest.values())

    def link_require_for_start(self) -> None:
        """The exam does not start over a link at `refuse` level."""
        figures = self.meter.figures()
        if figures is not None and figures["level"] == link.REFUSE:
            raise FrameError(
                "link_refused",
                _(
                    "Your link to the cockpit is too slow or unsteady to start a sequence "
                    "(%(rtt)s ms round trip, %(jitter)s ms jitter): local staff can run it at "
                    "the scanner."
                )
                % {"rtt": f"{figures['rtt_ms']:g}", "jitter": f"{figures['jitter_ms']:g}"},
            )

    async def checklist_confirm(self, payload: Checklist) -> None:
        """Local staff confirm the pre-scan checklist, with the link check made now from the
        remote participants' figures."""
        links = await self.checklist_links() if link.link_probe_s() > 0 else None
        session, room = await database_sync_to_async(_session_after)(
            services.prescan_confirm,
            actor=self.scope["user"],
            role=self.role,
            cockpit=self.cockpit,
            beside_patient_id=payload.beside_patient,
            patient_informed=payload.patient_informed,
            links=links,
        )
        await self.publish("session", session, room=room)

    async def checklist_links(self) -> list[dict[str, Any]]:
        """Every remote person connected now (heard within the control timeout), with their
        figures (None before a first round trip)."""
        entries = await self.store.link_entries(self.prefix)
        now = self.store.clock()
        timeout = link.control_link_timeout_s()
        latest: dict[Any, dict[str, Any]] = {}
        for entry in sorted(entries.values(), key=lambda entry: entry["heard"]):
            person = entry["person"]
            if person.get("role") not in selectors.REMOTE_ROLES or now - entry["heard"] > timeout:
                continue
            figures = entry["figures"] or {"rtt_ms": None, "jitter_ms": None, "level": None}
            latest[(person.get("id"), person.get("role"))] = {"person": person, **figures}
        return list(latest.values())

    def control_seen(self, control: dict[str, Any]) -> None:
        self.control_known = control
        self.controller_absent_since = None

    async def link_watchdog(self) -> None:
        """Every probe interval: has the remote controller gone silent?"""
        while self.joined_group:
            await asyncio.sleep(link.watchdog_tick_s())
            try:
                await self.control_watch()
            except SocketClosed:
                raise
            except Exception:  # the store or database is back on the next round
                logger.exception("cockpit %s: the control watchdog failed", self.cockpit.pk)

    async def control_watch(self) -> None:
        """Control falls back to local staff when the remote person holding it was not heard
        from for the timeout on any socket (or has had none for as long)."""
        controller = self.control_known.get("controller")
        if (
            controller is None
            or controller.get("role") not in selectors.REMOTE_ROLES
            or self.control_known.get("local_override")
        ):
            return
        entries = await self.store.link_entries(self.prefix)
        now = self.store.clock()
        # Silent for the timeout by the next look at the latest: falls back within the timeout.
        timeout = link.control_link_timeout_s() - link.watchdog_tick_s()
        theirs = [entry for entry in entries.values() if entry["user"] == controller["id"]]
        if any(now - entry["heard"] <= timeout for entry in theirs):
            self.controller_absent_since = None
            return
        if theirs:
            silent_for = round(
                now - max(entry["heard"] for entry in theirs) + link.watchdog_tick_s()
            )
            reason, seconds = "silent", silent_for
            why = f"nothing heard from them for {silent_for} s"
        else:
            if self.controller_absent_since is None:
                self.controller_absent_since = now
            if now - self.controller_absent_since <= timeout:
                return
            reason, seconds = "absent", link.control_link_timeout_s()
            why = f"not connected for {seconds:g} s"
        await self.control_lost(controller, why, reason=reason, seconds=seconds)
        for channel, entry in entries.items():  # sockets of crashed processes, long silent
            if now - entry["heard"] > PRESENCE_TTL_S:
                await self.store.link_remove(self.prefix, channel)

    async def link_leave(self) -> None:
        """This socket is gone: out of the link entries; if its person held control from afar
        and has no other socket here, control falls back to local staff now."""
        if self.is_scanner or not hasattr(self, "meter"):
            return
        try:
            await self.store.link_remove(self.prefix, self.channel_name)
            if self.role not in selectors.REMOTE_ROLES:
                return
            entries = await self.store.link_entries(self.prefix)
            now = self.store.clock()
            timeout = link.control_link_timeout_s()
            checked = link.link_probe_s() > 0
            if any(
                entry["user"] == self.person["id"]
                and (not checked or now - entry["heard"] <= timeout)
                for entry in entries.values()
            ):
                return
            await self.control_lost(self.person, "their connection closed", reason="closed")
        except Exception:  # the watchdog notices the silence instead
            logger.exception("cockpit %s: control fall-back on close failed", self.cockpit.pk)

    async def control_lost(
        self, lost: dict[str, Any], why: str, *, reason: str, seconds: float | None = None
    ) -> None:
        """`lost`, holding control from afar, lost their link: local staff hold the scanner
        (once, whoever notices first); everyone is told. The event says why twice: in words
        (`why`, `message`: English, for the API's readers) and as `reason` (`closed`: their last
        socket closed; `silent`: nothing heard for `seconds`; `absent`: not connected for
        `seconds`), from which each page writes it in its reader's language."""
        after = await database_sync_to_async(_fallback)(self.cockpit.pk, lost["id"], why)
        if after is None:  # someone else did it, or control had moved meanwhile
            if self.watching:
                self.control_seen(await database_sync_to_async(_control_now)(self.cockpit.pk))
            return
        control, room = after
        holder = control.get("controller")
        message = (
            f"{lost.get('name') or 'The person holding control'} lost their link to the cockpit "
            f"({why}): control fell back to local staff"
            + (f" ({holder['name']})" if holder else "")
            + ". Nobody remote can command the scanner until local staff grant control again."
        )
        await self.publish(
            "control",
            {
                "action": "fallback",
                "by": None,
                "lost": lost,
                "why": why,
                "reason": reason,
                "seconds": seconds,
                "message": message,
                **control,
            },
            room=room,
        )

    # --- The exam's outcome -----------------------------------------------------------------------

    async def outcome_frame(self, frame_type: str, payload: Any) -> None:
        """A STOP's reason given after the fact, or the exam ended early. Who may is the
        services' business (`cockpit.services.outcome`)."""
        user = self.scope["user"]
        if frame_type == "stop_reason":
            assert isinstance(payload, StopReason)
            stop, stops = await database_sync_to_async(_stop_reason)(
                actor=user,
                role=self.role,
                cockpit=self.cockpit,
                stop_id=payload.stop,
                reason=payload.reason,
            )
            await self.publish(
                "stops", {"action": "reason", "by": self.person, "stop": stop, "stops": stops}
            )
            return
        snapshot = await self.store.snapshot(self.prefix)
        session, room = await database_sync_to_async(_session_after)(
            services.cockpit_end_early,
            actor=user,
            role=self.role,
            cockpit=self.cockpit,
            console=snapshot.state,
        )
        await self.publish("session", {**session, "ended_by": self.person}, ended=True, room=room)
        await self.store.forget(self.prefix)

"""The notification socket, through the real ASGI stack: origin check, session authentication,
frames, and notices pushed by services after they commit."""

from collections.abc import Iterator
from typing import Any

import pytest
from allauth.usersessions.models import UserSession
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.utils import timezone

from accounts.sessions import sessions_end_others
from core import consumers
from core.consumers import FRAMES
from core.groups import user_group
from core.models import Notification
from core.notify import notification_send
from marketplace import services
from marketplace.models import Role, SessionPosting
from scheduling.models import Booking
from scheduling.services import bookings as booking_services
from tests.clock import ManualClock
from tests.conftest import World
from tests.scheduling.support import available, freeze, licensed, local, post
from tests.sessions import session_cookie
from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _full_buckets() -> Iterator[None]:
    """Every test starts with full rate-limit buckets (kept per user id, which tests reuse)."""
    consumers.frame_buckets.reset()
    yield
    consumers.frame_buckets.reset()


def _socket(cookie: str | None = None, origin: str = "http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


async def test_anonymous_sockets_are_closed_with_a_clear_code(world: World) -> None:
    connected, code = await _socket().connect()
    assert not connected
    assert code == 4401


async def test_a_foreign_origin_is_refused(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.manager)
    connected, _ = await _socket(cookie, origin="https://evil.example").connect()
    assert not connected


async def test_hello_ping_and_error_frames(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.manager)
    socket = _socket(cookie)
    connected, _ = await socket.connect()
    assert connected
    hello = await socket.receive_json_from()
    assert hello == {"type": "hello", "seq": 1, "payload": {"user": world.manager.email}}
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from())["type"] == "pong"
    await socket.send_to(text_data="{oops")
    error = await socket.receive_json_from()
    assert (error["type"], error["payload"]["code"]) == ("error", "malformed")
    await socket.send_json_to({"type": "launch"})
    error = await socket.receive_json_from()
    assert (error["type"], error["payload"]["code"]) == ("error", "unknown_type")
    # Still open after bad frames.
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from())["seq"] == 5
    await socket.disconnect()


async def test_a_manager_hears_when_someone_joins(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.manager)
    socket = _socket(cookie)
    await socket.connect()
    await socket.receive_json_from()

    def invite_and_accept() -> None:
        invitation, _ = services.invitation_create(
            actor=world.manager,
            hospital=world.hospital,
            email=world.outsider.email,
            role=Role.TECHNOLOGIST,
        )
        services.invitation_accept(user=world.outsider, invitation=invitation)

    await database_sync_to_async(invite_and_accept)()
    notice = await socket.receive_json_from(timeout=5)
    assert notice["type"] == "notification"
    assert notice["payload"]["kind"] == "member_joined"
    assert "joined Hôpital Sainte-Claire as technologist" in notice["payload"]["message"]
    await socket.disconnect()


async def test_a_stored_notification_arrives_whole_with_the_unread_count(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze(monkeypatch)

    def prepare() -> SessionPosting:
        licensed(world.technologist)
        available(world.technologist)
        notification_send(user_ids=[world.technologist.pk], kind="test", message="Older.")
        return post(world.manager, world.scanner, local(11, 30, 8))

    posting = await database_sync_to_async(prepare)()
    cookie = await database_sync_to_async(session_cookie)(world.technologist)
    socket = _socket(cookie)
    await socket.connect()
    await socket.receive_json_from()

    def invite() -> Booking:
        return booking_services.booking_invite(
            actor=world.manager, posting=posting, technologist=world.technologist
        )

    booking = await database_sync_to_async(invite)()
    frame = await socket.receive_json_from(timeout=5)
    stored = await database_sync_to_async(
        lambda: Notification.objects.get(recipient=world.technologist, kind="booking.invited")
    )()
    assert frame == {
        "type": "notification",
        "seq": 2,
        "payload": {
            "id": stored.pk,
            "kind": "booking.invited",
            "message": "Hôpital Sainte-Claire invites you to a session on Mon 30 Nov 08:00–12:00 "
            "(Europe/Brussels).",
            "url": f"/bookings/{booking.pk}/",
            "open_url": f"/notifications/{stored.pk}/open/",
            "created_at": stored.created_at.isoformat(),
            "data": {"booking": booking.pk},
            "unread": 2,
        },
    }
    assert await socket.receive_nothing()
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        (
            '{"type":"ping","seq":1e999}',
            "malformed",
            "Frames are JSON envelopes: 1e999 is too large a number.",
        ),
        (
            '{"type":"ping","seq":-1e999}',
            "malformed",
            "Frames are JSON envelopes: -1e999 is too large a number.",
        ),
        ("[" * 32_000 + "]" * 32_000, "too_large", "Frames are at most 1024 bytes."),
        ("[" * 500 + "]" * 500, "too_deep", "Frames nest at most 32 levels deep."),
        (
            '{"type":"ping","payload":{"pad":"' + "x" * 1024 * 1024 + '"}}',
            "too_large",
            "Frames are at most 1024 bytes.",
        ),
    ],
    ids=["1e999", "-1e999", "nested-32000", "nested-500", "1MB"],
)
async def test_hostile_frames_get_an_error_and_other_sockets_carry_on(
    world: World, frame: str, code: str, message: str
) -> None:
    """Before the cap, a megabyte ping was read and answered, 32,000 brackets ran the JSON
    parser out of stack (1011), and infinities were taken as numbers."""
    attacker = _socket(await database_sync_to_async(session_cookie)(world.technologist))
    other = _socket(await database_sync_to_async(session_cookie)(world.manager))
    for socket in (attacker, other):
        assert (await socket.connect())[0]
        await socket.receive_json_from()

    await attacker.send_to(text_data=frame)
    assert await attacker.receive_json_from() == {
        "type": "error",
        "seq": 2,
        "payload": {"code": code, "message": message, "ref": None},
    }
    await attacker.send_json_to({"type": "ping"})
    assert await attacker.receive_json_from() == {"type": "pong", "seq": 3, "payload": {}}

    await database_sync_to_async(notification_send)(
        user_ids=[world.manager.pk], kind="test", message="Still here.", mail=False
    )
    notice = await other.receive_json_from(timeout=5)
    assert (notice["type"], notice["payload"]["message"]) == ("notification", "Still here.")
    for socket in (attacker, other):
        await socket.disconnect()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    frozen = ManualClock(500.0)
    monkeypatch.setattr(consumers.frame_buckets, "clock", frozen)
    return frozen


@pytest.mark.parametrize(
    "frame",
    ['{"type":"ping"}', "x" * 1024 * 60, "[" * 1000],
    ids=["ping", "60KB", "nested"],
)
async def test_a_flood_is_bounded_whatever_its_frames_and_told_once(
    world: World, clock: ManualClock, frame: str
) -> None:
    socket = _socket(await database_sync_to_async(session_cookie)(world.technologist))
    assert (await socket.connect())[0]
    await socket.receive_json_from()
    for _ in range(500):
        await socket.send_to(text_data=frame)
    answers = [await socket.receive_json_from() for _ in range(FRAMES.burst + 1)]
    assert {answer["type"] for answer in answers[: FRAMES.burst]} == (
        {"pong"} if frame.startswith("{") else {"error"}
    )
    assert answers[-1] == {
        "type": "error",
        "seq": FRAMES.burst + 2,
        "payload": {
            "code": "rate_limited",
            "message": "Too many frames: at most 2 a second, in bursts of 10. Try again in 0.5 s.",
            "ref": None,
            "retry_after": 0.5,
        },
    }
    assert await socket.receive_nothing(timeout=0.2)
    clock.now += 0.5
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {
        "type": "pong",
        "seq": FRAMES.burst + 3,
        "payload": {},
    }
    await socket.disconnect()


async def test_a_socket_gone_while_hello_is_sent_leaves_its_group(world: World) -> None:
    """Daphne refuses to send on a socket whose client already closed: the consumer ends
    quietly and leaves the person's group rather than dying with the error."""

    async def gone_at_once(scope: Any, receive: Any, send: Any) -> None:
        async def daphne_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                raise Disconnected("Attempt to send on a closed protocol")
            await send(message)

        await application(scope, receive, daphne_send)

    cookie = await database_sync_to_async(session_cookie)(world.manager)
    socket = WebsocketCommunicator(
        gone_at_once,
        "/ws/notifications/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    assert (await socket.connect())[0]
    await socket.wait(5)  # ended without an error
    layer = get_channel_layer()
    assert layer is not None
    assert user_group(world.manager.pk) not in getattr(layer, "groups", {})


async def test_a_session_signed_out_elsewhere_stops_hearing_notices(world: World) -> None:
    """Signing out every other session (the sessions page) closes the notification sockets those
    sessions still have open; this session's socket stays and goes on hearing notices."""

    def tracked(user: Any) -> str:
        cookie = session_cookie(user)
        UserSession.objects.create(
            user=user,
            session_key=cookie.split("=", 1)[1],
            ip="192.0.2.1",
            user_agent="Firefox",
            last_seen_at=timezone.now(),
        )
        return cookie

    here = await database_sync_to_async(tracked)(world.manager)
    elsewhere = await database_sync_to_async(tracked)(world.manager)
    kept, ended = _socket(here), _socket(elsewhere)
    for socket in (kept, ended):
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "hello"

    def sign_out_the_others() -> int:
        request = RequestFactory().post("/account/sessions/")
        request.user = world.manager
        request.session = SessionStore(session_key=here.split("=", 1)[1])
        return sessions_end_others(request)

    assert await database_sync_to_async(sign_out_the_others)() == 1

    frame = await ended.receive_json_from()
    assert frame["type"] == "error"
    assert frame["payload"]["code"] == "signed_out"
    assert (await ended.receive_output())["code"] == 4401
    await database_sync_to_async(notification_send)(
        user_ids=[world.manager.pk], kind="test", message="Still here."
    )
    assert (await kept.receive_json_from())["type"] == "notification"
    await kept.disconnect()

"""The notification socket, through the real ASGI stack: origin check, session authentication,
frames, and notices pushed by services after they commit."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from marketplace import services
from marketplace.models import Role
from tests.conftest import World
from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _session_cookie(user: Any) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


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
    cookie = await database_sync_to_async(_session_cookie)(world.manager)
    connected, _ = await _socket(cookie, origin="https://evil.example").connect()
    assert not connected


async def test_hello_ping_and_error_frames(world: World) -> None:
    cookie = await database_sync_to_async(_session_cookie)(world.manager)
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
    cookie = await database_sync_to_async(_session_cookie)(world.manager)
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

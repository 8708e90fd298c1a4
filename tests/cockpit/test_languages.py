"""The cockpit speaks each person's language: a refused frame's `error` is in the socket's
language (the browser's Accept-Language, or the person's profile, which wins), and an incident
notice (a STOP) reaches each manager in their own language, whoever pressed it in which."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import translation

from cockpit import services
from cockpit.models import CockpitSession, Role
from core.models import Notification
from tests.cockpit.conftest import Relay, Socket
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.sessions import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _socket(
    relay: Relay, user: Any, cockpit: CockpitSession, headers: list[tuple[bytes, bytes]]
) -> Socket:
    """`user`'s socket on the cockpit, with the browser's own headers, past its greetings."""
    cookie = await database_sync_to_async(session_cookie)(user, second_factor=True)
    socket: Socket = await relay._open(
        f"/ws/cockpit/{cockpit.pk}/", [(b"cookie", cookie.encode()), *headers]
    )
    welcome = await socket.recv()
    assert welcome["type"] == "welcome"
    while (await socket.recv())["type"] != "snapshot":
        pass
    return socket


async def _refusal(socket: Socket, frame_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    ref = await socket.send(frame_type, payload)
    while True:
        frame = await socket.recv()
        if frame["type"] == "error":
            assert frame["payload"]["ref"] == ref
            return frame


@pytest.mark.asyncio
async def test_a_french_browser_is_refused_in_french(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    # The manager (an observer here, no language on the profile) in a Belgian French browser.
    observer = await _socket(relay, world.manager, cockpit, [(b"accept-language", b"fr-BE")])

    frame = await _refusal(observer, "command", {"name": "start", "args": {}})

    assert frame == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "forbidden",
            "message": "Seule la personne qui a la main envoie des commandes ; "
            "les observateurs regardent.",
            "ref": 1,
        },
    }


@pytest.mark.asyncio
async def test_a_dutch_speaker_is_refused_in_dutch_whatever_the_browser(
    world: World, relay: Relay
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    world.technologist.language = "nl"
    await database_sync_to_async(world.technologist.save)(update_fields=["language"])
    # The profile's language wins over an English browser.
    operator = await _socket(relay, world.technologist, cockpit, [(b"accept-language", b"en")])

    frame = await _refusal(operator, "command", {"name": "start", "args": {}})

    assert frame["payload"]["message"] == "U hebt de bediening niet: vraag ze eerst."


@pytest.mark.asyncio
async def test_an_english_browser_still_reads_english(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator = await _socket(relay, world.technologist, cockpit, [(b"accept-language", b"en")])

    frame = await _refusal(operator, "command", {"name": "start", "args": {}})

    assert frame["payload"]["message"] == "You do not hold control: ask for it first."


def test_a_stop_reaches_a_french_speaking_manager_in_french(world: World) -> None:
    world.manager.language = "fr"
    world.manager.save(update_fields=["language"])
    cockpit = open_cockpit(world)
    prescan_confirmed(world, cockpit)

    # Local staff press STOP on an English page.
    with translation.override("en"):
        services.cockpit_stop(actor=world.local_staff, role=Role.LOCAL, cockpit=cockpit)

    notice = Notification.objects.get(recipient=world.manager, kind="cockpit.stopped")
    name = world.local_staff.display_name
    assert notice.message.startswith(f"STOP actionné par {name} (personnel local) sur MR 1 à ")
    assert notice.message.endswith(" La raison, une fois donnée, figure sur la page du cockpit.")
    # The moment in the site's zone, 24-hour, named the French way ("3 déc. 14:05").
    assert "(Europe/Brussels)" in notice.message


# Words of pydantic's and of Python's JSON parser that must never reach a French socket.
ENGLISH = ("Field required", "String should", "Input should", "Expecting value", "expected one of")


async def _error_for_text(socket: Socket, text: str) -> str:
    await socket.send_text(text)
    while True:
        frame = await socket.recv()
        if frame["type"] == "error":
            message: str = frame["payload"]["message"]
            assert not any(english in message for english in ENGLISH), message
            return message


@pytest.mark.asyncio
async def test_a_frame_that_is_not_json_is_refused_in_french(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await _socket(relay, world.manager, cockpit, [(b"accept-language", b"fr-BE")])

    message = await _error_for_text(socket, "not json")

    assert message == (
        "Les trames sont des enveloppes JSON : ce texte n'est pas du JSON (ligne 1, colonne 1)."
    )


@pytest.mark.asyncio
async def test_an_envelope_without_a_type_is_refused_in_french(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await _socket(relay, world.manager, cockpit, [(b"accept-language", b"fr-BE")])

    message = await _error_for_text(socket, "{}")

    assert message == "Les trames sont des enveloppes JSON : « type » est obligatoire."


@pytest.mark.asyncio
async def test_an_unknown_frame_type_is_refused_in_french(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await _socket(relay, world.manager, cockpit, [(b"accept-language", b"fr-BE")])

    message = await _error_for_text(socket, '{"type":"nope"}')

    assert message.startswith(
        "« nope » n'est pas une trame que ce socket peut envoyer ; types attendus : approve, "
    )


@pytest.mark.asyncio
async def test_an_empty_or_too_long_chat_is_refused_in_french(world: World, relay: Relay) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await _socket(relay, world.technologist, cockpit, [(b"accept-language", b"fr-BE")])

    empty = await _error_for_text(socket, '{"type":"chat","seq":1,"payload":{"text":""}}')
    long = await _error_for_text(
        socket, '{"type":"chat","seq":2,"payload":{"text":"' + "x" * 1001 + '"}}'
    )

    assert empty == "chat : « text » doit compter au moins 1 caractère."
    assert long == "chat : « text » doit compter au plus 1000 caractères."

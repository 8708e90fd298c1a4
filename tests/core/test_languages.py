"""What core says reaches each person in their own language: a notice's mail in the
recipient's, the API's `message` in the browser's or the token owner's, a socket's `error`
frames in the browser's."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.test import Client
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import User
from core import consumers
from core.notify import notification_send
from tests.conftest import World
from tests.sessions import session_cookie
from wescan.asgi import application

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture(autouse=True)
def _site_language_after() -> Iterator[None]:
    """A request leaves its language active in the thread: the next test starts in English."""
    yield
    translation.deactivate()


def _notice() -> Any:
    """A notice as the services send it: lazy, so that each recipient reads it in their own
    language. (Its text is one of the catalogue's with a `{}` placeholder: tests are not
    extracted, so a sentence of their own would have no translation.)"""
    return format_lazy(
        gettext_lazy("You were signed out after {duration} without activity. Sign in again."),
        duration="30 min",
    )


def _mail_to(user: User) -> Any:
    [message] = [m for m in mail.outbox if user.email in m.to]
    return message


@pytest.mark.django_db
def test_a_notice_mails_a_french_speaking_technologist_in_french_and_others_in_english(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    french, english = world.technologist, world.local_staff
    french.first_name, french.language = "Claire", "fr"
    french.save()
    english.first_name, english.language = "Ann", ""
    english.save()
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            user_ids=[french.pk, english.pk],
            kind="booking.confirmed",
            message=_notice(),
            url="/bookings/1/",
        )
    to_french = _mail_to(french)
    assert to_french.subject == "[WeScan] Séance confirmée"
    assert "Bonjour Claire," in to_french.body
    assert "Vous avez été déconnecté après 30 min sans activité. Reconnectez-vous." in (
        to_french.body
    )
    assert "Ouvrez-la dans WeScan :" in to_french.body
    [(html, _type)] = to_french.alternatives
    assert '<html lang="fr">' in html
    assert "Ouvrir dans WeScan" in html
    assert "Hello" not in to_french.body
    to_english = _mail_to(english)
    assert to_english.subject == "[WeScan] Session confirmed"
    assert "Hello Ann," in to_english.body
    assert "You were signed out after 30 min without activity. Sign in again." in (to_english.body)


@pytest.mark.django_db
def test_the_api_answers_in_the_browsers_language() -> None:
    response = Client().get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="nl-BE,nl;q=0.9")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Dit adres bestaat niet in de API."
    english = Client().get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en-GB")
    assert english.json()["error"]["message"] == "No such address in the API."


@pytest.mark.django_db
def test_a_domain_refusal_comes_in_dutch_for_a_dutch_browser(world: World) -> None:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="nl-BE")
    client.force_login(world.technologist)
    response = client.post("/api/v1/me/tokens/999999/revoke/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Geen dergelijk token bij de uwe."


def _token(user: User) -> str:
    return tokens.access_token_create(
        user=user, name="Script", scope="write", expires_in_days=30, with_second_factor=True
    ).secret


@pytest.mark.django_db
def test_a_token_speaks_its_persons_language_whatever_the_client_asks(world: World) -> None:
    world.technologist.language = "nl"
    world.technologist.save()
    client = APIClient(
        HTTP_AUTHORIZATION=f"Token {_token(world.technologist)}", HTTP_ACCEPT_LANGUAGE="en"
    )
    response = client.post("/api/v1/me/tokens/999999/revoke/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Geen dergelijk token bij de uwe."
    assert response["Content-Language"] == "nl"


@pytest.mark.django_db
def test_a_token_without_a_chosen_language_follows_accept_language(world: World) -> None:
    assert world.technologist.language == ""
    client = APIClient(
        HTTP_AUTHORIZATION=f"Token {_token(world.technologist)}", HTTP_ACCEPT_LANGUAGE="fr-BE"
    )
    response = client.post("/api/v1/me/tokens/999999/revoke/")
    assert response.json()["error"]["message"] == "Aucun jeton de ce type parmi les vôtres."
    again = APIClient(
        HTTP_AUTHORIZATION=f"Token {_token(world.technologist)}", HTTP_ACCEPT_LANGUAGE="en"
    ).post("/api/v1/me/tokens/999999/revoke/")
    assert again.json()["error"]["message"] == "No such token among yours."


@pytest.fixture
def _full_buckets() -> Iterator[None]:
    consumers.frame_buckets.reset()
    yield
    consumers.frame_buckets.reset()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("_full_buckets")
async def test_a_sockets_error_frames_come_in_french_for_a_french_browser(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.technologist)
    socket = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", cookie.encode()),
            (b"accept-language", b"fr-BE,fr;q=0.9,en;q=0.5"),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.send_json_to({"type": "launch"})
    error = await socket.receive_json_from()
    assert error["payload"] == {
        "code": "unknown_type",
        "message": "Ce socket n'accepte que 'ping'.",
    }
    await socket.send_to(text_data="{oops")
    error = await socket.receive_json_from()
    assert error["payload"]["code"] == "malformed"
    assert error["payload"]["message"].startswith("Les trames sont des enveloppes JSON : ")
    await socket.disconnect()


@pytest.mark.django_db
def test_notices_already_received_read_in_the_language_a_person_switches_to(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    person = world.technologist
    person.language = ""
    person.save()
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            user_ids=[person.pk], kind="booking.confirmed", message=_notice(), url="/bookings/1/"
        )
    english = "You were signed out after 30 min without activity. Sign in again."
    dutch = "U werd afgemeld na 30 min zonder activiteit. Meld u opnieuw aan."
    client = Client()
    client.force_login(person)
    assert english in client.get("/notifications/").content.decode()

    person.language = "nl"
    person.save()

    page = client.get("/notifications/").content.decode()
    assert page.count(dutch) == 2  # the list and the header's menu
    assert english not in page
    api = APIClient()
    api.force_login(person)
    [notice] = api.get("/api/v1/notifications/").json()["results"]
    assert notice["message"] == dutch
    # The mail went out in English, when the notice was made and English was theirs.
    assert english in _mail_to(person).body


@pytest.mark.django_db
def test_a_notice_that_is_the_same_in_every_language_reads_as_it_was_written(
    world: World,
) -> None:
    person = world.technologist
    person.language = "fr"
    person.save()
    notification_send(user_ids=[person.pk], kind="note", message="MR 1: 14:00", mail=False)
    client = Client()
    client.force_login(person)
    assert "MR 1: 14:00" in client.get("/notifications/").content.decode()

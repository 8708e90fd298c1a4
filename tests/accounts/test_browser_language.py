"""A person who chose no language gets their mails and notices in the language their browser
last asked for: a mail has no browser to ask."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from accounts.language import language_of
from accounts.models import User
from core.models import Notification
from core.notify import notification_send
from tests.conftest import World

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _browse(user: User, accept_language: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=accept_language)
    client.force_login(user)
    assert client.get("/profile/").status_code == 200


def _notice() -> Any:
    return format_lazy(
        gettext_lazy("You were signed out after {duration} without activity. Sign in again."),
        duration="30 min",
    )


@pytest.mark.django_db
def test_the_browsers_language_is_remembered_and_followed_by_notices_and_mails(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    person = world.technologist
    person.first_name = "Claire"
    person.save()
    assert language_of(person) == "en"
    _browse(person, "fr-BE,fr;q=0.9,en;q=0.5")
    person.refresh_from_db()
    assert person.browser_language == "fr"
    assert language_of(person) == "fr"
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(user_ids=[person.pk], kind="booking.confirmed", message=_notice())
    stored = Notification.objects.get(recipient=person)
    assert stored.message.startswith("Vous avez été déconnecté")
    [sent] = [m for m in mail.outbox if person.email in m.to]
    assert sent.subject == "[WeScan] Séance confirmée"
    assert "Bonjour Claire," in sent.body
    # The browser changes its mind: the next notice follows.
    _browse(person, "nl-BE")
    person.refresh_from_db()
    assert language_of(person) == "nl"


@pytest.mark.django_db
def test_a_chosen_language_wins_over_the_browsers(world: World) -> None:
    person = world.technologist
    person.language = "nl"
    person.save()
    _browse(person, "fr-BE")
    person.refresh_from_db()
    assert person.browser_language == ""
    assert language_of(person) == "nl"


@pytest.mark.django_db
def test_a_browser_asking_for_another_language_changes_nothing(world: World) -> None:
    person = world.technologist
    _browse(person, "de-DE,de;q=0.9")
    person.refresh_from_db()
    assert person.browser_language == "en"  # German is not spoken here (yet): English pages
    assert language_of(person) == "en"

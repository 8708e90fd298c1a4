"""What a new person's trial tripped over: the profile's language kept in the switch's cookie,
times in the viewer's own zone (named), token scopes by name, languages named in themselves, and
an unknown language answered with the site's error page."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.utils import translation

from accounts import tokens
from accounts.models import TokenScope
from accounts.views import unknown_language
from core.notify import notification_send
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language_after() -> Iterator[None]:
    yield
    translation.deactivate()


def _client(user: object, accept_language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=accept_language)
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_the_profile_sets_the_same_cookie_as_the_switch(world: World) -> None:
    response = _client(world.technologist).post(
        "/profile/", {"first_name": "", "last_name": "", "language": "fr"}
    )
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr"
    assert cookie["max-age"] == settings.LANGUAGE_COOKIE_AGE
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]


def test_following_the_browser_on_the_profile_forgets_the_cookie(world: World) -> None:
    client = _client(world.technologist)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    response = client.post("/profile/", {"first_name": "", "last_name": "", "language": ""})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME]["max-age"] == 0


def test_the_header_menu_shows_notices_in_the_viewers_zone(world: World) -> None:
    notice = notification_send(
        user_ids=[world.manager.pk], kind="test", message="Hello", url="/", mail=False
    )[0]
    notice.created_at = datetime(2026, 12, 3, 22, 43, tzinfo=UTC)
    notice.save()
    html = _client(world.manager).get("/profile/").content.decode()
    assert "3 Dec 2026, 23:43 Europe/Brussels</time>" in html
    assert 'data-notif-zone="Europe/Brussels"' in html


def test_sessions_and_tokens_are_in_the_viewers_zone_and_scopes_by_name(world: World) -> None:
    tokens.access_token_create(
        user=world.manager,
        name="Script",
        scope="read",
        expires_in_days=30,
        with_second_factor=True,
    )
    client = _client(world.manager, "nl-BE")
    sessions = client.get("/account/sessions/").content.decode()
    assert "Tijden staan in de tijdzone Europe/Brussels." in sessions
    assert "UTC" not in sessions.split("<main", 1)[1]
    page = client.get("/account/tokens/").content.decode()
    main = page.split("<main", 1)[1]
    assert "Tijden staan in de tijdzone Europe/Brussels." in main
    assert ">read<" not in main
    with translation.override("nl"):
        label = str(TokenScope.READ.label)
    assert label != "Read: look, change nothing"
    assert f">{label}<" in main


def test_languages_are_named_in_themselves_in_the_switch(world: World) -> None:
    html = _client(world.technologist, "nl-BE").get("/profile/").content.decode()
    switch = html.split('id="language-choice"', 1)[1].split("</select>", 1)[0]
    assert 'lang="en">English<' in switch
    assert 'lang="nl" selected>Nederlands<' in switch
    assert 'lang="fr">Français<' in switch
    assert "Engels" not in switch


def test_an_unknown_language_gets_the_sites_error_page_in_the_current_language() -> None:
    """`accounts.views.unknown_language`, which `accounts.language.set_language` answers with."""
    request = RequestFactory().post("/language/", {"language": "xx"})
    request.user = AnonymousUser()
    with translation.override("fr"):
        response = unknown_language(request, ["nl", "en", "fr"])
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "Langue inconnue" in html
    assert "en, fr, nl" in html

"""The person chooses the language WeScan speaks to them: on the profile page, on sign-up (set
to the page's language at first) and with the header's switch; blank follows the browser."""

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import translation

from accounts.models import User
from tests.conftest import World

pytestmark = pytest.mark.django_db

SIGNUP_FORMS = {"login": "accounts.forms.LoginForm", "signup": "accounts.forms.SignupForm"}


@pytest.fixture(autouse=True)
def _site_language_after() -> Iterator[None]:
    """A request leaves its language active in the thread: the next test starts in English."""
    yield
    translation.deactivate()


def _signed_in(user: User, accept_language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=accept_language)
    client.force_login(user)
    return client


def test_the_profile_offers_each_language_and_following_the_browser(world: World) -> None:
    page = _signed_in(world.technologist, "nl-BE").get("/profile/")
    html = page.content.decode()
    assert '<label for="id_language">Taal:</label>' in html
    assert '<option value="" selected>Mijn browser volgen</option>' in html
    assert '<option value="fr" lang="fr">Français</option>' in html
    assert '<html lang="nl"' in html


def test_choosing_french_on_the_profile_speaks_french_whatever_the_browser(world: World) -> None:
    client = _signed_in(world.technologist, "nl-BE")
    response = client.post(
        "/profile/", {"first_name": "Ann", "last_name": "Peeters", "language": "fr"}, follow=True
    )
    world.technologist.refresh_from_db()
    assert world.technologist.language == "fr"
    assert world.technologist.first_name == "Ann"
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "Votre profil est enregistré." in html
    assert '<option value="fr" selected lang="fr">Français</option>' in html


def test_blank_follows_the_browser_again(world: World) -> None:
    world.technologist.language = "fr"
    world.technologist.save()
    client = _signed_in(world.technologist, "nl-BE")
    response = client.post(
        "/profile/", {"first_name": "", "last_name": "", "language": ""}, follow=True
    )
    world.technologist.refresh_from_db()
    assert world.technologist.language == ""
    html = response.content.decode()
    assert '<html lang="nl"' in html
    assert "Uw profiel is bewaard." in html


def test_an_unknown_language_is_refused_on_the_profile(world: World) -> None:
    client = _signed_in(world.technologist)
    response = client.post("/profile/", {"first_name": "", "last_name": "", "language": "xx"})
    assert response.status_code == 200
    assert 'id="id_language_error"' in response.content.decode() or "errorlist" in (
        response.content.decode()
    )
    world.technologist.refresh_from_db()
    assert world.technologist.language == ""


def test_the_header_switch_saves_to_the_profile_and_sets_the_cookie(world: World) -> None:
    client = _signed_in(world.technologist)
    response = client.post("/language/", {"language": "nl", "next": "/profile/"})
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    world.technologist.refresh_from_db()
    assert world.technologist.language == "nl"
    assert '<html lang="nl"' in client.get("/profile/").content.decode()


def test_the_header_switch_works_for_visitors_by_cookie_alone() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/language/", {"language": "fr", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    page = client.get("/accounts/login/").content.decode()
    assert '<html lang="fr"' in page
    assert "Se connecter" in page


def test_the_header_switch_refuses_an_unknown_language(world: World) -> None:
    client = _signed_in(world.technologist)
    response = client.post("/language/", {"language": "xx", "next": "/profile/"})
    assert response.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    world.technologist.refresh_from_db()
    assert world.technologist.language == ""


def test_the_header_switch_ignores_an_off_site_next(world: World) -> None:
    client = _signed_in(world.technologist)
    for next_url in ("https://evil.example/", "//evil.example/profile/"):
        response = client.post("/language/", {"language": "fr", "next": next_url})
        assert response.status_code == 302
        assert response["Location"] == "/"


@override_settings(ACCOUNT_FORMS=SIGNUP_FORMS)
def test_sign_up_starts_on_the_pages_language() -> None:
    page = Client(HTTP_ACCEPT_LANGUAGE="fr-BE,fr;q=0.9").get("/accounts/signup/")
    html = page.content.decode()
    assert '<html lang="fr"' in html
    assert '<option value="fr" selected lang="fr">Français</option>' in html


@override_settings(ACCOUNT_FORMS=SIGNUP_FORMS)
def test_the_language_chosen_on_sign_up_is_kept() -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="fr-BE").post(
        "/accounts/signup/",
        {
            "email": "lotte@example.org",
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
            "language": "nl",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(email="lotte@example.org").language == "nl"


@override_settings(ACCOUNT_FORMS=SIGNUP_FORMS)
def test_following_the_browser_can_be_chosen_on_sign_up() -> None:
    Client().post(
        "/accounts/signup/",
        {
            "email": "noor@example.org",
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
            "language": "",
        },
    )
    assert User.objects.get(email="noor@example.org").language == ""

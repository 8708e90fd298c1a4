"""Sessions: signed out after SESSION_IDLE_TIMEOUT_S without a request, the list of one's
sessions, and signing out the others or every one. On a frozen clock (`timezone.now`)."""

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.sessions import check_idle_timeout, session_idle_timeout_words, session_touch_every
from tests.conftest import World, client_for
from tests.scheduling.support import NOW, Clock, freeze

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: object) -> Clock:
    settings.SESSION_IDLE_TIMEOUT_S = 30 * 60  # type: ignore[attr-defined]
    return freeze(monkeypatch)


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def test_a_page_after_31_idle_minutes_sends_to_sign_in_with_a_message(
    world: World, clock: Clock
) -> None:
    client = client_for(world.technologist)
    assert client.get("/profile/").status_code == 200

    clock.now += timedelta(minutes=31)
    response = client.get("/profile/?tab=x")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/profile/%3Ftab%3Dx"
    page = client.get(response["Location"])
    assert "signed out after 30 minutes without activity" in page.content.decode()
    assert not signed_in(client)
    assert client.get("/profile/").status_code == 302  # still anonymous
    assert not UserSession.objects.filter(user=world.technologist).exists()


def test_a_form_sent_after_the_idle_time_is_not_saved(world: World, clock: Clock) -> None:
    client = client_for(world.technologist)
    client.get("/profile/")
    clock.now += timedelta(minutes=31)

    response = client.post("/profile/", {"first_name": "Changed", "last_name": "Late"})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/profile/"
    world.technologist.refresh_from_db()
    assert world.technologist.first_name != "Changed"


def test_requests_29_minutes_apart_keep_the_session(world: World, clock: Clock) -> None:
    client = client_for(world.technologist)
    for _ in range(4):  # almost two hours, never 30 minutes idle
        assert client.get("/profile/").status_code == 200
        clock.now += timedelta(minutes=29)
    assert client.get("/profile/").status_code == 200
    assert signed_in(client)


def test_the_api_answers_401_to_an_idle_session(world: World, clock: Clock) -> None:
    client = client_for(world.manager)
    assert client.get("/api/v1/me/").status_code == 200

    clock.now += timedelta(minutes=31)
    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"
    assert "30 minutes" in response.json()["error"]["message"]
    assert client.get("/api/v1/me/").status_code == 401


def test_activity_is_written_at_most_once_a_minute(world: World, clock: Clock) -> None:
    client = client_for(world.technologist)
    client.get("/profile/")
    row = UserSession.objects.get(user=world.technologist)
    assert row.last_seen_at == NOW

    clock.now = NOW + timedelta(seconds=40)
    client.get("/profile/")
    row.refresh_from_db()
    assert row.last_seen_at == NOW  # to the minute: no write

    clock.now = NOW + timedelta(seconds=70)
    client.get("/profile/")
    row.refresh_from_db()
    assert row.last_seen_at == NOW + timedelta(seconds=70)


def test_no_timeout_when_the_setting_is_0(world: World, clock: Clock, settings: object) -> None:
    settings.SESSION_IDLE_TIMEOUT_S = 0  # type: ignore[attr-defined]
    client = client_for(world.technologist)
    client.get("/profile/")
    clock.now += timedelta(days=3)
    assert client.get("/profile/").status_code == 200


def test_the_list_shows_each_browser_and_marks_this_one(world: World, clock: Clock) -> None:
    here = client_for(world.technologist)
    here.defaults["HTTP_USER_AGENT"] = FIREFOX
    phone = client_for(world.technologist)
    phone.defaults["HTTP_USER_AGENT"] = SAFARI
    phone.defaults["REMOTE_ADDR"] = "192.0.2.7"
    phone.get("/profile/")
    client_for(world.manager).get("/profile/")  # someone else's session: not listed

    page = here.get(reverse("account_sessions")).content.decode()

    assert "Firefox on Windows" in page
    assert "Safari on iPhone" in page
    assert "192.0.2.7" in page
    assert page.count('data-current="true"') == 1
    assert page.count("<tr") == 3  # the head and two sessions
    current_row = page.split('data-current="true"')[1].split("</tr>")[0]
    assert "Firefox on Windows" in current_row
    assert "this one" in current_row


def test_signing_out_the_others_ends_the_other_session_only(world: World, clock: Clock) -> None:
    here = client_for(world.technologist)
    there = client_for(world.technologist)
    colleague = client_for(world.manager)
    for client in (here, there, colleague):
        client.get("/profile/")

    response = here.post(reverse("account_sessions_sign_out"), {"which": "others"}, follow=True)

    assert "Signed out 1 other session." in response.content.decode()
    assert there.get("/profile/").status_code == 302
    assert not signed_in(there)
    assert here.get("/profile/").status_code == 200
    assert colleague.get("/profile/").status_code == 200


def test_signing_out_everywhere_ends_this_session_too(world: World, clock: Clock) -> None:
    here = client_for(world.technologist)
    there = client_for(world.technologist)
    here.get("/profile/")
    there.get("/profile/")

    response = here.post(reverse("account_sessions_sign_out"), {"which": "all"})

    assert response["Location"] == reverse("account_login")
    assert here.get("/profile/").status_code == 302
    assert there.get("/profile/").status_code == 302
    assert not UserSession.objects.filter(user=world.technologist).exists()


def test_signing_out_needs_a_choice_and_a_post(world: World, clock: Clock) -> None:
    here = client_for(world.technologist)
    there = client_for(world.technologist)
    there.get("/profile/")
    assert here.get(reverse("account_sessions_sign_out")).status_code == 405
    response = here.post(reverse("account_sessions_sign_out"), {"which": "nobody"}, follow=True)
    assert "Choose which sessions to sign out." in response.content.decode()
    assert there.get("/profile/").status_code == 200


def test_the_pages_are_for_signed_in_people(db: None) -> None:
    client = Client()
    assert client.get(reverse("account_sessions")).status_code == 302
    assert client.post(reverse("account_sessions_sign_out"), {"which": "all"}).status_code == 302


def test_allauth_s_address_for_the_list_leads_to_wescan_s(world: World, clock: Clock) -> None:
    response = client_for(world.technologist).get("/accounts/sessions/")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_sessions")
    assert reverse("usersessions_list") == "/accounts/sessions/"


@pytest.mark.parametrize(
    ("seconds", "refused"), [(0, False), (60, True), (299, True), (300, False)]
)
def test_an_idle_timeout_under_five_minutes_is_refused_at_start(
    settings: object, seconds: int, refused: bool
) -> None:
    settings.SESSION_IDLE_TIMEOUT_S = seconds  # type: ignore[attr-defined]
    errors = [e.id for e in check_idle_timeout()]
    assert errors == (["accounts.E001"] if refused else [])


def test_a_short_idle_timeout_keeps_an_active_person_signed_in(
    world: World, clock: Clock, settings: object
) -> None:
    """ "Last seen" is written at least four times per timeout, so a request every 70 s (longer
    than a quarter of it) keeps a 2-minute timeout from being reached."""
    settings.SESSION_IDLE_TIMEOUT_S = 4 * 60  # type: ignore[attr-defined]  (below the minimum)
    assert session_touch_every() == timedelta(minutes=1)
    settings.SESSION_IDLE_TIMEOUT_S = 2 * 60  # type: ignore[attr-defined]
    assert session_touch_every() == timedelta(seconds=30)
    client = client_for(world.technologist)
    for _ in range(10):
        assert client.get("/profile/").status_code == 200
        clock.now += timedelta(seconds=50)
    assert signed_in(client)


def test_the_sign_out_message_counts_in_words(settings: object) -> None:
    for seconds, words in [(60, "1 minute"), (30 * 60, "30 minutes"), (90, "90 seconds")]:
        settings.SESSION_IDLE_TIMEOUT_S = seconds  # type: ignore[attr-defined]
        assert session_idle_timeout_words() == words

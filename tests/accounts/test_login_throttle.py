"""Password guessing: one failed-sign-in count per account, shared by the sign-in page and the
API token endpoint, keyed by the client address the trusted proxies vouch for; a stranger cannot
lock the owner out of the addresses they usually sign in from."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import AccessToken, User
from tests.factories import PASSWORD, UserFactory

OWNER_HOME = "198.51.100.1"
ATTACKER = "203.0.113.66"
PROXY = "10.0.0.1"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _limits(settings: Settings) -> None:
    # The tests speak in these numbers, whatever production is tuned to.
    settings.TRUSTED_PROXY_COUNT = 0
    settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = (5, 300)
    settings.LOGIN_FAILURES_PER_ACCOUNT = (20, 3600)
    settings.LOGIN_FAILURES_PER_ADDRESS = (50, 900)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The sign-in windows are fixed slices of time: the tests must not straddle one by chance."""
    now = [NOW]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


@pytest.fixture
def owner(db: None, clock: list[datetime]) -> User:
    return UserFactory(email="owner@example.org")


def api(email: str, password: str, *, remote: str = ATTACKER, forwarded: str | None = None) -> Any:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(
        "/api/v1/auth/token/", {"email": email, "password": password}, format="json", **extra
    )


def web(email: str, password: str, *, remote: str = ATTACKER) -> Any:
    return Client(REMOTE_ADDR=remote).post(
        "/accounts/login/", {"login": email, "password": password}
    )


def assert_throttled_json(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert "Try again in" in error["message"]


def assert_throttled_page(response: Any) -> None:
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) > 0
    assert "Try again in" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


# --- Client address: only the trusted hop is believed ----------------------------------------


def test_a_varied_forwarded_header_does_not_reset_the_count(owner: User) -> None:
    for n in range(5):
        assert api(owner.email, "guess", forwarded=f"10.9.8.{n}").status_code == 400
    assert_throttled_json(api(owner.email, PASSWORD, forwarded="10.9.8.200"))


def test_behind_one_proxy_only_the_hop_it_wrote_is_believed(
    owner: User, settings: Settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        response = api(owner.email, "guess", remote=PROXY, forwarded=f"10.9.8.{n}, {ATTACKER}")
        assert response.status_code == 400
    assert_throttled_json(
        api(owner.email, PASSWORD, remote=PROXY, forwarded=f"1.1.1.1, {ATTACKER}")
    )
    # Another client behind the same proxy has its own count.
    response = api(owner.email, PASSWORD, remote=PROXY, forwarded=OWNER_HOME)
    assert response.status_code == 200, response.content


# --- One count for the page and the API --------------------------------------------------------


def test_failures_on_the_sign_in_page_count_against_the_api(owner: User) -> None:
    for _ in range(5):
        assert web(owner.email, "guess").status_code == 200
    assert_throttled_json(api(owner.email, PASSWORD))
    assert not AccessToken.objects.filter(user=owner).exists()


def test_failures_on_the_api_count_against_the_sign_in_page(owner: User) -> None:
    for _ in range(3):
        assert api(owner.email, "guess").status_code == 400
    for _ in range(2):
        assert web(owner.email, "guess").status_code == 200
    assert_throttled_page(web(owner.email, PASSWORD))


def test_the_sign_in_page_says_why_and_when_to_come_back(owner: User) -> None:
    for _ in range(5):
        web(owner.email, "guess")
    response = web(owner.email, PASSWORD)
    assert_throttled_page(response)
    assert "Too many failed sign-ins" in response.content.decode()
    assert 'name="password"' in response.content.decode()  # the form, ready for later


def test_the_api_refuses_a_locked_address_until_the_lock_runs_out(
    owner: User, clock: list[datetime]
) -> None:
    for _ in range(5):
        api(owner.email, "guess")
    refused = api(owner.email, PASSWORD)
    assert_throttled_json(refused)
    wait = int(refused["Retry-After"])
    assert wait <= 300
    clock[0] += timedelta(seconds=wait - 1)
    assert_throttled_json(api(owner.email, PASSWORD))  # refusals do not count as failures
    clock[0] += timedelta(seconds=1)
    assert api(owner.email, PASSWORD).status_code == 200


def test_an_unknown_address_is_counted_like_a_real_one(db: None, clock: list[datetime]) -> None:
    # Otherwise a 429 would tell an attacker which e-mail addresses have accounts.
    for _ in range(5):
        assert api("nobody@example.org", "guess").status_code == 400
    assert_throttled_json(api("nobody@example.org", "guess"))


def test_signing_in_forgives_that_addresss_earlier_failures(owner: User) -> None:
    for _ in range(4):
        web(owner.email, "typo", remote=OWNER_HOME)
    assert web(owner.email, PASSWORD, remote=OWNER_HOME).status_code == 302
    for _ in range(4):
        web(owner.email, "typo", remote=OWNER_HOME)
    assert web(owner.email, PASSWORD, remote=OWNER_HOME).status_code == 302


# --- An attack from many addresses does not lock the owner out -------------------------------


def test_the_owner_signs_in_from_their_usual_address_during_an_attack(owner: User) -> None:
    assert web(owner.email, PASSWORD, remote=OWNER_HOME).status_code == 302
    for n in range(25):
        web(owner.email, "guess", remote=f"203.0.113.{n}")
    assert web(owner.email, PASSWORD, remote=OWNER_HOME).status_code == 302
    assert api(owner.email, PASSWORD, remote=OWNER_HOME).status_code == 200


def test_a_strangers_address_is_refused_even_with_the_right_password_during_an_attack(
    owner: User,
) -> None:
    web(owner.email, PASSWORD, remote=OWNER_HOME)
    for n in range(25):
        api(owner.email, "guess", remote=f"203.0.113.{n}")
    assert_throttled_json(api(owner.email, PASSWORD, remote="203.0.113.3"))
    assert_throttled_json(api(owner.email, PASSWORD, remote="192.0.2.77"))
    assert_throttled_page(web(owner.email, PASSWORD, remote="192.0.2.77"))


def test_usual_addresses_are_kept_hashed(owner: User) -> None:
    from accounts.models import UsualAddress

    web(owner.email, PASSWORD, remote=OWNER_HOME)
    (usual,) = UsualAddress.objects.filter(user=owner)
    assert OWNER_HOME not in usual.address_hash
    assert usual.last_signed_in_at == NOW


# --- Tokens only for verified e-mail addresses when production asks for it -----------------


def test_an_unverified_address_gets_no_token_under_mandatory_verification(
    owner: User, settings: Settings
) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    address = EmailAddress.objects.create(
        user=owner, email=owner.email, primary=True, verified=False
    )
    response = api(owner.email, PASSWORD)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "email_unverified"
    assert "verify" in error["message"].lower()
    assert not AccessToken.objects.filter(user=owner).exists()
    # A wrong password is told only that: the state of the address is for its owner.
    assert api(owner.email, "guess").json()["error"]["code"] == "bad_credentials"

    address.verified = True
    address.save()
    assert api(owner.email, PASSWORD).status_code == 200


def test_the_token_endpoint_documents_its_refusals(db: None) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert {"200", "400", "403", "429"} <= set(responses)

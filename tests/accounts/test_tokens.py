"""Personal access tokens: made from a session (with the second factor the person must have),
shown once, kept hashed, refused once expired or revoked, read tokens only look; a password alone
gives no token to anyone a second factor protects."""

import hashlib
import types
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as allauth_totp
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import AccessToken, User
from core.models import AuditEvent
from tests.conftest import World, client_for
from tests.factories import PASSWORD, UserFactory
from tests.sessions import password_only_client

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [NOW]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


def make(user: User, **overrides: Any) -> tokens.NewToken:
    kwargs: dict[str, Any] = {
        "name": "Reporting script",
        "scope": "write",
        "expires_in_days": 30,
        "with_second_factor": False,
        "now": NOW,
    }
    kwargs.update(overrides)
    return tokens.access_token_create(user=user, **kwargs)


def api_with(secret: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {secret}")


def refusal(response: Any, status: int) -> str:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    message: str = error["message"]
    return message


@pytest.fixture(autouse=True)
def _no_second_factor_yet(request: pytest.FixtureRequest) -> None:
    """These tests start before anyone set up a second factor (the `world` fixture enrols
    everyone); each test enrols whom it needs with a known secret."""
    if "world" in request.fixturenames:
        request.getfixturevalue("world")
        Authenticator.objects.all().delete()


def enrol_totp(user: User) -> None:
    allauth_totp.TOTP.activate(user, TOTP_SECRET)


def pass_second_factor(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Go through allauth's own "confirm it is you" page with a code from the authenticator app,
    at a fixed moment (allauth reads the wall clock for TOTP: it is pinned here)."""
    moment = NOW.timestamp()
    monkeypatch.setattr(allauth_totp, "time", types.SimpleNamespace(time=lambda: moment))
    code = pyotp.TOTP(TOTP_SECRET).at(moment)
    return client.post("/accounts/2fa/reauthenticate/?next=/account/tokens/", {"code": code})


# --- Using a token ------------------------------------------------------------------------------


def test_a_token_made_without_a_second_factor_is_refused_for_a_manager(
    world: World, clock: list[datetime]
) -> None:
    secret = make(world.manager).secret
    response = api_with(secret).get("/api/v1/me/")
    message = refusal(response, 401)
    assert "second factor" in message
    assert "/account/tokens/" in message
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("person", ["local_staff", "admin"])
def test_every_role_that_must_have_a_second_factor_refuses_such_a_token(
    world: World, clock: list[datetime], person: str
) -> None:
    secret = make(getattr(world, person)).secret
    assert "second factor" in refusal(api_with(secret).get("/api/v1/me/"), 401)


def test_a_token_made_with_a_second_factor_works_for_a_manager(
    world: World, clock: list[datetime]
) -> None:
    secret = make(world.manager, with_second_factor=True).secret
    response = api_with(secret).get("/api/v1/me/")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == world.manager.email


def test_a_technologists_token_made_without_a_second_factor_works(
    world: World, clock: list[datetime]
) -> None:
    secret = make(world.technologist).secret
    assert api_with(secret).get("/api/v1/me/").json()["email"] == world.technologist.email


def test_a_technologist_made_manager_can_no_longer_use_a_password_only_token(
    world: World, clock: list[datetime]
) -> None:
    from marketplace.models import Membership, Role

    secret = make(world.technologist).secret
    Membership.objects.filter(user=world.technologist).update(role=Role.MANAGER)
    assert "second factor" in refusal(api_with(secret).get("/api/v1/me/"), 401)


def test_an_expired_token_is_refused(world: World, clock: list[datetime]) -> None:
    secret = make(world.technologist, expires_in_days=7).secret
    clock[0] = NOW + timedelta(days=7) - timedelta(seconds=1)
    assert api_with(secret).get("/api/v1/me/").status_code == 200
    clock[0] = NOW + timedelta(days=7)
    message = refusal(api_with(secret).get("/api/v1/me/"), 401)
    assert "expired on 2026-11-30 09:00 UTC" in message


def test_a_revoked_token_is_refused(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    assert api_with(made.secret).get("/api/v1/me/").status_code == 200
    tokens.access_token_revoke(user=world.technologist, token_id=made.token.pk)
    message = refusal(api_with(made.secret).get("/api/v1/me/"), 401)
    assert "revoked" in message


def test_a_disabled_persons_token_is_refused(world: World, clock: list[datetime]) -> None:
    secret = make(world.technologist).secret
    User.objects.filter(pk=world.technologist.pk).update(is_active=False)
    assert "disabled" in refusal(api_with(secret).get("/api/v1/me/"), 401)


@pytest.mark.parametrize("secret", ["wst_unknown", "0123456789abcdef", "wst_" + "x" * 500])
def test_an_unknown_token_is_refused(db: None, secret: str) -> None:
    response = api_with(secret).get("/api/v1/me/")
    assert refusal(response, 401) == "Invalid token."
    assert response["WWW-Authenticate"] == "Token"


def test_a_client_still_sending_an_old_drf_token_is_told_what_to_do(db: None) -> None:
    response = api_with("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b").get("/api/v1/me/")
    message = refusal(response, 401)
    assert "no longer accepts" in message
    assert "/account/tokens/" in message


def test_a_read_token_looks_but_does_not_change(world: World, clock: list[datetime]) -> None:
    from marketplace.models import Site

    secret = make(world.manager, scope="read", with_second_factor=True).secret
    client = api_with(secret)
    assert client.get("/api/v1/sites/").status_code == 200
    response = client.post(
        "/api/v1/sites/",
        {"hospital": world.hospital.pk, "name": "Campus Sud", "time_zone": "Europe/Brussels"},
        format="json",
    )
    message = refusal(response, 403)
    assert "read scope" in message
    assert not Site.objects.filter(name="Campus Sud").exists()


def test_a_write_token_changes(world: World, clock: list[datetime]) -> None:
    secret = make(world.manager, with_second_factor=True).secret
    response = api_with(secret).post(
        "/api/v1/sites/",
        {"hospital": world.hospital.pk, "name": "Campus Sud", "time_zone": "Europe/Brussels"},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_last_use_is_written_at_most_once_a_minute(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    client = api_with(made.secret)
    client.get("/api/v1/me/")
    assert AccessToken.objects.get(pk=made.token.pk).last_used_at == NOW
    clock[0] = NOW + timedelta(seconds=59)
    client.get("/api/v1/me/")
    assert AccessToken.objects.get(pk=made.token.pk).last_used_at == NOW
    clock[0] = NOW + timedelta(seconds=60)
    client.get("/api/v1/me/")
    assert AccessToken.objects.get(pk=made.token.pk).last_used_at == NOW + timedelta(seconds=60)


# --- Making and keeping --------------------------------------------------------------------------


def test_the_secret_is_never_stored_in_clear(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    assert made.secret.startswith("wst_")
    assert len(made.secret) == 4 + 43
    token = AccessToken.objects.get(pk=made.token.pk)
    assert token.secret_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert token.prefix == made.secret[:12]
    stored = [str(value) for value in AccessToken.objects.values().get(pk=token.pk).values()]
    stored += [str(event.data) for event in AuditEvent.objects.all()]
    assert not any(made.secret in value for value in stored)
    assert not any(made.secret[12:24] in value for value in stored)


def test_making_and_revoking_are_audited(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist, name="Laptop")
    tokens.access_token_revoke(user=world.technologist, token_id=made.token.pk)
    events = AuditEvent.objects.filter(target_type="accounts.accesstoken").order_by("id")
    assert [(e.action, e.actor_id) for e in events] == [
        ("access_token.created", world.technologist.pk),
        ("access_token.revoked", world.technologist.pk),
    ]
    assert events[0].data["name"] == "Laptop"
    assert events[0].data["created_with_second_factor"] is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scope": "admin"}, "scope"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": 0}, "expires_in_days"),
    ],
)
def test_bad_choices_are_refused(
    world: World, clock: list[datetime], overrides: dict[str, Any], field: str
) -> None:
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        make(world.technologist, **overrides)
    assert set(refused.value.fields) == {field}
    assert not AccessToken.objects.exists()


def test_no_one_holds_more_than_fifty_active_tokens(world: World, clock: list[datetime]) -> None:
    from core.errors import Conflict

    for n in range(tokens.MAX_ACTIVE_TOKENS):
        make(world.technologist, name=f"Script {n}")
    with pytest.raises(Conflict):
        make(world.technologist)
    tokens.access_token_revoke(
        user=world.technologist, token_id=AccessToken.objects.filter(user=world.technologist)[0].pk
    )
    make(world.technologist)


# --- The password endpoint ------------------------------------------------------------------------


def password_token(email: str) -> Any:
    return APIClient().post(
        "/api/v1/auth/token/", {"email": email, "password": PASSWORD}, format="json"
    )


@pytest.mark.parametrize("person", ["manager", "local_staff", "admin"])
def test_a_password_alone_gives_no_token_to_those_who_must_have_a_second_factor(
    world: World, clock: list[datetime], person: str
) -> None:
    response = password_token(getattr(world, person).email)
    assert "/account/tokens/" in refusal(response, 403)
    assert response.json()["error"]["code"] == "second_factor_required"
    assert not AccessToken.objects.exists()


def test_a_password_alone_gives_no_token_to_a_technologist_with_a_second_factor(
    world: World, clock: list[datetime]
) -> None:
    enrol_totp(world.technologist)
    assert "/account/tokens/" in refusal(password_token(world.technologist.email), 403)
    assert not AccessToken.objects.exists()


def test_a_technologist_without_a_second_factor_gets_a_30_day_token(
    world: World, clock: list[datetime]
) -> None:
    response = password_token(world.technologist.email)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["name"] == "API sign-in"
    assert body["scope"] == "write"
    assert body["expires_at"] == "2026-12-23T09:00:00Z"
    token = AccessToken.objects.get()
    assert body["prefix"] == token.prefix
    assert not token.created_with_second_factor
    assert api_with(body["token"]).get("/api/v1/me/").status_code == 200


def test_signing_in_again_and_again_keeps_only_the_newest_five_tokens(
    world: World, clock: list[datetime]
) -> None:
    secrets = []
    for n in range(7):
        clock[0] = NOW + timedelta(minutes=n)
        secrets.append(password_token(world.technologist.email).json()["token"])
    working = [api_with(s).get("/api/v1/me/").status_code == 200 for s in secrets]
    assert working == [False, False, True, True, True, True, True]
    # Tokens made on the page are not among those replaced.
    assert AccessToken.objects.filter(revoked_at__isnull=True).count() == 5


# --- The page ------------------------------------------------------------------------------------


def test_the_page_needs_a_signed_in_person(db: None) -> None:
    response = Client().get("/account/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_manager_who_signed_in_with_a_password_only_is_sent_to_their_second_factor(
    world: World, clock: list[datetime]
) -> None:
    # A session that has not passed the second factor reaches nothing but passing it
    # (accounts.mfa_required), the tokens page included.
    enrol_totp(world.manager)
    client = password_only_client(world.manager)
    page = client.get("/account/tokens/")
    assert page.status_code == 302
    assert page["Location"] == "/accounts/2fa/reauthenticate/?next=%2Faccount%2Ftokens%2F"

    response = client.post(
        "/account/tokens/", {"name": "Script", "scope": "read", "expires_in_days": "30"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")
    assert not AccessToken.objects.exists()


def test_a_manager_without_any_second_factor_is_asked_to_set_one_up(
    world: World, clock: list[datetime]
) -> None:
    # Nothing but setting one up (accounts.mfa_required), the tokens page included.
    response = client_for(world.manager).get("/account/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/second-factor/")


def test_a_manager_makes_a_token_after_confirming_with_their_second_factor(
    world: World, clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol_totp(world.manager)
    client = client_for(world.manager)
    back = pass_second_factor(client, monkeypatch)
    assert back.status_code == 302
    assert back["Location"] == "/account/tokens/"

    response = client.post(
        "/account/tokens/", {"name": "Weekly export", "scope": "read", "expires_in_days": "90"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    token = AccessToken.objects.get(user=world.manager)
    assert token.created_with_second_factor
    assert token.scope == "read"
    assert token.expires_at == NOW + timedelta(days=90)
    secret = page.split('<pre class="token" id="token-secret">')[1].split("</pre>")[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == token.secret_hash
    assert "shown only this once" in page
    # It works for the manager, and the page never shows the secret again.
    assert api_with(secret).get("/api/v1/me/").status_code == 200
    again = client.get("/account/tokens/").content.decode()
    assert secret not in again
    assert f"{token.prefix}…" in again
    assert "Weekly export" in again


def test_a_technologist_without_a_second_factor_makes_a_token_from_their_session(
    world: World, clock: list[datetime]
) -> None:
    client = client_for(world.technologist)
    page = client.get("/account/tokens/").content.decode()
    assert "Make the token" in page
    response = client.post(
        "/account/tokens/", {"name": "My laptop", "scope": "write", "expires_in_days": "7"}
    )
    assert response.status_code == 200
    token = AccessToken.objects.get(user=world.technologist)
    assert not token.created_with_second_factor
    assert token.name == "My laptop"


def test_a_technologist_with_a_second_factor_must_confirm_it_first(
    world: World, clock: list[datetime]
) -> None:
    enrol_totp(world.technologist)
    response = password_only_client(world.technologist).post(
        "/account/tokens/", {"name": "My laptop", "scope": "write", "expires_in_days": "7"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"name": "", "scope": "read", "expires_in_days": "30"},
        {"name": "x" * 101, "scope": "read", "expires_in_days": "30"},
        {"name": "Script", "scope": "all", "expires_in_days": "30"},
        {"name": "Script", "scope": "read", "expires_in_days": "3650"},
    ],
)
def test_the_page_refuses_bad_input_and_says_so(
    world: World, clock: list[datetime], form: dict[str, str]
) -> None:
    response = client_for(world.technologist).post("/account/tokens/", form)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not AccessToken.objects.exists()


def test_the_list_says_what_each_token_is(world: World, clock: list[datetime]) -> None:
    active = make(world.technologist, name="Active one").token
    expired = make(
        world.technologist, name="Old one", expires_in_days=7, now=NOW - timedelta(days=8)
    ).token
    revoked = make(world.technologist, name="Lost one").token
    tokens.access_token_revoke(user=world.technologist, token_id=revoked.pk)
    page = client_for(world.technologist).get("/account/tokens/").content.decode()
    assert f'data-token="{active.pk}" data-status="active"' in page
    assert f'data-token="{expired.pk}" data-status="expired"' in page
    assert f'data-token="{revoked.pk}" data-status="revoked"' in page
    assert page.count(">Revoke</button>") == 1


def test_revoking_from_the_page(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    client = client_for(world.technologist)
    response = client.post(f"/account/tokens/{made.token.pk}/revoke/", follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    assert AccessToken.objects.get(pk=made.token.pk).revoked_at == NOW
    assert api_with(made.secret).get("/api/v1/me/").status_code == 401


def test_another_persons_token_cannot_be_revoked(world: World, clock: list[datetime]) -> None:
    made = make(world.manager, with_second_factor=True)
    response = client_for(world.technologist).post(f"/account/tokens/{made.token.pk}/revoke/")
    assert response.status_code == 404
    assert AccessToken.objects.get(pk=made.token.pk).revoked_at is None
    assert api_with(made.secret).get("/api/v1/me/").status_code == 200


def test_revoking_needs_a_post(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    assert (
        client_for(world.technologist).get(f"/account/tokens/{made.token.pk}/revoke/").status_code
        == 405
    )
    assert AccessToken.objects.get(pk=made.token.pk).revoked_at is None


def test_the_profile_links_to_the_page(world: World) -> None:
    page = client_for(world.technologist).get("/profile/").content.decode()
    assert 'href="/account/tokens/"' in page


def test_only_the_owner_lists_their_tokens(world: World, clock: list[datetime]) -> None:
    make(world.manager, name="Managers secret script", with_second_factor=True)
    other = UserFactory()
    page = client_for(other).get("/account/tokens/").content.decode()
    assert "Managers secret script" not in page
    assert "No tokens yet." in page


def test_a_password_only_token_stops_working_once_its_owner_sets_up_a_second_factor(
    world: World, clock: list[datetime]
) -> None:
    response = password_token(world.technologist.email)
    secret = response.json()["token"]
    assert api_with(secret).get("/api/v1/me/").status_code == 200
    enrol_totp(world.technologist)
    assert "second factor" in refusal(api_with(secret).get("/api/v1/me/"), 401)
    # One made with the second factor works.
    assert (
        api_with(make(world.technologist, with_second_factor=True).secret)
        .get("/api/v1/me/")
        .status_code
        == 200
    )


# --- The API: listing and revoking one's own ------------------------------------------------------


def test_the_api_lists_ones_own_tokens_without_secrets(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist, name="Laptop")
    make(world.manager, name="Not yours", with_second_factor=True)
    response = api_with(made.secret).get("/api/v1/me/tokens/")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["name"] == "Laptop"
    assert row["prefix"] == made.secret[:12]
    assert row["status"] == "active"
    assert row["last_used_at"] == "2026-11-23T09:00:00Z"
    assert made.secret not in response.content.decode()


def test_a_script_revokes_its_own_token(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist)
    response = api_with(made.secret).post(f"/api/v1/me/tokens/{made.token.pk}/revoke/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"
    assert api_with(made.secret).get("/api/v1/me/").status_code == 401


def test_the_api_cannot_revoke_another_persons_token(world: World, clock: list[datetime]) -> None:
    theirs = make(world.manager, with_second_factor=True)
    mine = make(world.technologist)
    response = api_with(mine.secret).post(f"/api/v1/me/tokens/{theirs.token.pk}/revoke/")
    assert refusal(response, 404)
    assert AccessToken.objects.get(pk=theirs.token.pk).revoked_at is None


def test_a_read_token_cannot_revoke(world: World, clock: list[datetime]) -> None:
    made = make(world.technologist, scope="read")
    response = api_with(made.secret).post(f"/api/v1/me/tokens/{made.token.pk}/revoke/")
    assert "read scope" in refusal(response, 403)
    assert AccessToken.objects.get(pk=made.token.pk).revoked_at is None


def test_the_token_endpoints_are_in_the_schema(db: None) -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "get" in schema["paths"]["/api/v1/me/tokens/"]
    assert "post" in schema["paths"]["/api/v1/me/tokens/{token_id}/revoke/"]
    assert "403" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["type"] == "apiKey"


def test_a_new_password_ends_the_tokens_given_for_the_old_one(
    world: World, clock: list[datetime]
) -> None:
    given = password_token(world.technologist.email).json()["token"]
    made_on_page = make(world.technologist).secret
    client = client_for(world.technologist)
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a-new-long-pass-phrase",
            "password2": "a-new-long-pass-phrase",
        },
    )
    assert response.status_code == 302, response.content
    assert "revoked" in refusal(api_with(given).get("/api/v1/me/"), 401)
    assert api_with(made_on_page).get("/api/v1/me/").status_code == 200


def test_revoking_all_of_a_persons_tokens(world: World, clock: list[datetime]) -> None:
    secrets = [make(world.technologist).secret for _ in range(3)]
    other = make(world.manager, with_second_factor=True).secret
    assert (
        tokens.access_tokens_revoke_all(user=world.technologist, actor=None, reason="erased") == 3
    )
    assert all(api_with(s).get("/api/v1/me/").status_code == 401 for s in secrets)
    assert api_with(other).get("/api/v1/me/").status_code == 200


def test_a_platform_admin_sees_and_revokes_tokens_in_the_admin(
    world: World, clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make(world.technologist, name="Leaked laptop")
    enrol_totp(world.admin)
    client = client_for(world.admin)
    pass_second_factor(client, monkeypatch)
    listing = client.get("/admin/accounts/accesstoken/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Leaked laptop" in page
    assert made.token.secret_hash not in page
    detail = client.get(f"/admin/accounts/accesstoken/{made.token.pk}/change/").content.decode()
    assert made.token.secret_hash not in detail

    response = client.post(
        "/admin/accounts/accesstoken/",
        {"action": "revoke", "_selected_action": [made.token.pk]},
    )
    assert response.status_code == 302
    assert api_with(made.secret).get("/api/v1/me/").status_code == 401
    event = AuditEvent.objects.filter(action="access_token.revoked").get()
    assert event.actor_id == world.admin.pk
    assert event.data["reason"] == "revoked by a platform admin"

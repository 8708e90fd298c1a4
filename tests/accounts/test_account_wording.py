"""What people read on the sign-in page, the second-factor step and the sessions and tokens
pages: the site's words, messages that are true for what the person has, and a refusal for too
many wrong codes that says when to come back."""

import json
import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client
from django.urls import reverse
from fido2.utils import websafe_encode
from fido2.webauthn import AuthenticatorData, CollectedClientData

from tests.conftest import World, client_for
from tests.factories import PASSWORD, UserFactory, totp_code

pytestmark = pytest.mark.django_db


def password_step(client: Client, email: str) -> None:
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")


def test_the_sign_in_page_speaks_as_the_rest_of_the_site(db: None) -> None:
    page = Client().get(reverse("account_login"))
    assert page.status_code == 200
    assert "E-mail address" in page.text
    assert "Remember me" in page.text
    assert '<button type="submit">Sign in</button>' in page.text
    assert "Sign In" not in page.text
    assert "Email:" not in page.text
    assert "Remember Me" not in page.text


def test_the_code_step_says_what_an_app_holder_can_type(world: World) -> None:
    client = Client()
    password_step(client, world.manager.email)
    page = client.get(reverse("mfa_authenticate"))
    assert (
        "Enter the code your authenticator app shows now, or one of your recovery codes."
        in page.text
    )
    assert "Use a passkey" not in page.text


def test_a_recovery_code_used_before_is_named_as_such(world: World) -> None:
    recovery = Authenticator.objects.get(user=world.manager, type=Authenticator.Type.RECOVERY_CODES)
    code = RecoveryCodes(recovery).get_unused_codes()[0]
    first = Client()
    password_step(first, world.manager.email)
    assert first.post(reverse("mfa_authenticate"), {"code": code})["Location"] == "/"

    second = Client()
    password_step(second, world.manager.email)
    again = second.post(reverse("mfa_authenticate"), {"code": code})
    assert again.status_code == 200
    assert "This recovery code was already used: each one works once." in again.text
    # A code that was never one of theirs is still just wrong.
    wrong = second.post(reverse("mfa_authenticate"), {"code": "00000000"})
    assert "Incorrect code." in wrong.text
    assert "already used" not in wrong.text


def test_too_many_wrong_codes_answer_429_saying_when_to_come_back(world: World) -> None:
    client = Client()
    password_step(client, world.manager.email)
    for _ in range(5):
        assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200
    held = client.post(reverse("mfa_authenticate"), {"code": totp_code(world.manager)})
    assert held.status_code == 429
    assert 1 <= int(held["Retry-After"]) <= 300
    assert re.search(r"Too many wrong codes\. Try again in \d minutes?\.", held.text)
    # Still not signed in.
    assert client.get("/profile/")["Location"].startswith(reverse("account_login"))


def test_the_sessions_page_says_tokens_outlive_signing_out(world: World) -> None:
    page = client_for(world.technologist).get(reverse("account_sessions"))
    assert page.status_code == 200
    assert "keep working after you sign out: they are for scripts, not browsers" in page.text
    assert f'href="{reverse("access_tokens")}"' in page.text


def test_reloading_the_app_set_up_page_keeps_its_secret(db: None) -> None:
    # Someone who scanned the code, then reloaded the page, keeps an entry that works.
    person = UserFactory()
    client = Client()
    client.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    asked = client.get(reverse("mfa_activate_totp"))
    client.post(asked["Location"], {"password": PASSWORD})
    first = client.get(reverse("mfa_activate_totp"))
    secret = first.context["form"].secret
    assert secret in first.text
    again = client.get(reverse("mfa_activate_totp"))
    assert again.context["form"].secret == secret
    assert secret in again.text
    done = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert done["Location"] == reverse("mfa_view_recovery_codes")
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()


def test_confirming_it_is_you_offers_a_passkey_holder_their_passkey(db: None) -> None:
    # Someone with a passkey and recovery codes, and no authenticator app: the page with the
    # code field does not speak of an app they do not have.
    person = UserFactory()
    Authenticator.objects.create(user=person, type=Authenticator.Type.WEBAUTHN, data={})
    RecoveryCodes.activate(person)
    page = client_for(person).get(reverse("mfa_reauthenticate"))
    assert page.status_code == 200
    assert "Use your passkey (the link below), or type one of your recovery codes." in page.text
    assert f'href="{reverse("mfa_reauthenticate_webauthn")}' in page.text
    assert "Use your passkey</a>" in page.text
    assert "authenticator app shows" not in page.text
    assert "security key</a>" not in page.text


def a_passkey_answer() -> str:
    """What a browser sends back from a passkey: well formed, signed by no passkey of theirs."""
    client_data = CollectedClientData.create(
        type="webauthn.get", challenge=b"0" * 16, origin="http://testserver"
    )
    signed = AuthenticatorData.create(rp_id_hash=bytes(32), flags=0x05, counter=1)
    return json.dumps(
        {
            "id": websafe_encode(b"not-theirs"),
            "rawId": websafe_encode(b"not-theirs"),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(signed),
                "signature": websafe_encode(b"signature"),
            },
            "clientExtensionResults": {},
        }
    )


def test_a_passkey_held_back_after_wrong_codes_answers_429_too(world: World) -> None:
    client = Client()
    password_step(client, world.manager.email)
    for _ in range(5):
        client.post(reverse("mfa_authenticate"), {"code": "000000"})
    held = client.post(reverse("mfa_authenticate"), {"credential": a_passkey_answer()})
    assert held.status_code == 429
    assert 1 <= int(held["Retry-After"]) <= 300
    assert re.search(r"Too many wrong codes\. Try again in \d minutes?\.", held.text)

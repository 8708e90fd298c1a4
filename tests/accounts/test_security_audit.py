"""Signing in, signing out and the second factor leave events in the audit trail (in no
hospital's name, on the person's account): what happened and the kind of factor, never a code,
a secret, or what a stranger typed. Codes are computed at the moment they are typed (allauth
reads the real clock)."""

import json

import pytest
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from core.models import AuditEvent
from tests.conftest import World, client_for
from tests.factories import PASSWORD, totp_code

pytestmark = pytest.mark.django_db


def trail() -> list[tuple[str, int | None, str, str]]:
    """(action, actor, target, data) of every event, oldest first."""
    return [
        (e.action, e.actor_id, f"{e.target_type}:{e.target_id}", json.dumps(e.data))
        for e in AuditEvent.objects.order_by("seq")
    ]


def actions() -> list[str]:
    return [action for action, *_ in trail()]


def sign_in(client: Client, email: str, password: str = PASSWORD) -> int:
    return client.post(reverse("account_login"), {"login": email, "password": password}).status_code


def test_a_sign_in_with_its_second_factor_and_a_sign_out_are_recorded(world: World) -> None:
    manager = world.manager
    client = Client()
    assert sign_in(client, manager.email) == 302
    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200
    assert client.post(reverse("mfa_authenticate"), {"code": totp_code(manager)}).status_code == 302
    client.post(reverse("account_logout"))

    me = f"accounts.user:{manager.pk}"
    assert trail() == [
        (
            "auth.second_factor_failed",
            manager.pk,
            me,
            '{"factor": "totp", "reauthentication": false}',
        ),
        ("auth.signed_in", manager.pk, me, "{}"),
        ("auth.signed_out", manager.pk, me, "{}"),
    ]
    assert all(e.hospital_id is None for e in AuditEvent.objects.all())


def test_a_wrong_password_is_recorded_for_an_account_and_not_for_a_stranger(world: World) -> None:
    client = Client()
    assert sign_in(client, world.manager.email, "wrong-password") == 200
    assert sign_in(client, "who-is-this@example.net", "wrong-password") == 200

    assert trail() == [("auth.sign_in_failed", None, f"accounts.user:{world.manager.pk}", "{}")]
    assert not AuditEvent.objects.filter(actor_label__icontains="who-is-this").exists()
    assert "who-is-this" not in str(list(AuditEvent.objects.values()))


def test_a_recovery_code_used_to_sign_in_is_recorded(world: World) -> None:
    manager = world.manager
    codes = Authenticator.objects.get(user=manager, type=Authenticator.Type.RECOVERY_CODES)
    code = codes.wrap().get_unused_codes()[0]
    client = Client()
    sign_in(client, manager.email)
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302

    assert actions() == ["auth.recovery_code_used", "auth.signed_in"]
    assert code not in str(trail())


@pytest.mark.parametrize(
    ("signal", "action", "data"),
    [
        (mfa_signals.authenticator_added, "auth.second_factor_added", '{"factor": "totp"}'),
        (mfa_signals.authenticator_removed, "auth.second_factor_removed", '{"factor": "totp"}'),
        (mfa_signals.authenticator_reset, "auth.recovery_codes_renewed", "{}"),
    ],
)
def test_second_factors_set_up_removed_and_renewed_are_recorded(
    world: World, signal: object, action: str, data: str
) -> None:
    manager = world.manager
    totp = Authenticator.objects.get(user=manager, type=Authenticator.Type.TOTP)
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request.user = manager  # as allauth's views send it: the person's own request
    signal.send(  # type: ignore[attr-defined]  (as allauth sends it)
        sender=Authenticator, request=request, user=manager, authenticator=totp
    )

    assert trail() == [(action, manager.pk, f"accounts.user:{manager.pk}", data)]
    assert totp.data["secret"] not in str(trail())


def test_signing_out_elsewhere_and_downloading_ones_data_are_recorded(world: World) -> None:
    tina: User = world.technologist
    client = client_for(tina)
    client_for(tina).get(reverse("profile"))  # another session, listed once it is seen
    client.get(reverse("account_sessions"))
    client.post(reverse("account_sessions_sign_out"), {"which": "others"})
    exported = client.get(reverse("account_privacy_export"))

    assert exported.status_code == 200
    assert [(a, actor) for a, actor, *_ in trail()] == [
        ("auth.other_sessions_ended", tina.pk),
        ("account.data_exported", tina.pk),
    ]
    # The next download holds them: the person's own trail.
    again = json.loads(client.get(reverse("account_privacy_export")).content)
    assert [e["action"] for e in again["sections"]["audit_events_as_actor"]] == [
        "auth.other_sessions_ended",
        "account.data_exported",
    ]

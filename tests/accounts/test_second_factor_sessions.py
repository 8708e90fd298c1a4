"""A second factor counts for the session that passed it, not for every session of its person.

The trial's case: a new manager (invited, not enrolled) is signed in twice with the password
(A and B, both held on the set-up page). A sets up an authenticator app: B, which typed no code,
is signed out (and A is told), and a session of an enrolled person that never passed the factor
reaches nothing but passing it: pages go to allauth's re-authentication (which records it), the
API answers 403, the notification socket is refused with an error frame and 4403, and the held
page's header shows nothing of the hospital."""

from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from accounts.second_factor import session_passed_second_factor
from core.notify import notification_send
from marketplace.models import Role
from tests.accounts.test_mfa import confirm_password, person, sign_in_with_password
from tests.conftest import World
from tests.factories import enrol_totp, totp_code
from tests.sessions import password_only_client, session_cookie
from wescan.asgi import application

PROVE = "/accounts/2fa/reauthenticate/"


def prove_for(path: str) -> str:
    return f"{PROVE}?{urlencode({'next': path})}"


def set_up_totp(client: Client) -> Any:
    """Set up an authenticator app on the page, as the person does; the page after it."""
    confirm_password(client, reverse("mfa_activate_totp"))
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    done = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    return client.get(done["Location"])


@pytest.mark.django_db(transaction=True)
def test_setting_one_up_signs_out_the_sessions_that_never_typed_a_code(world: World) -> None:
    manager = person(world, Role.MANAGER)
    hospital = f"/hospitals/{world.hospital.pk}/"
    a, b = Client(), Client()
    sign_in_with_password(a, manager.email)
    sign_in_with_password(b, manager.email)
    for client in (a, b):
        assert client.get(hospital)["Location"].startswith("/account/second-factor/")

    page = set_up_totp(a)
    assert "Your other sessions were signed out" in page.content.decode()

    # B typed no code: it is signed out, everywhere.
    refused = b.get(hospital)
    assert refused.status_code == 302
    assert refused["Location"].startswith(reverse("account_login"))
    assert b.get("/api/v1/me/").status_code in (401, 403)
    assert b.get("/account/privacy/export/").status_code == 302
    # A set it up here, and goes on.
    assert a.get(hospital).status_code == 200


@pytest.mark.django_db
def test_a_session_that_never_passed_it_is_sent_to_pass_it(world: World) -> None:
    client = password_only_client(world.manager)  # the world's people have one
    hospital = f"/hospitals/{world.hospital.pk}/"
    for path in [hospital, "/", "/account/tokens/", "/api/docs/", "/accounts/2fa/"]:
        assert client.get(path)["Location"] == prove_for(path), path
    invite = client.post(f"/hospitals/{world.hospital.pk}/invite/", {"email": "x@example.org"})
    assert invite["Location"] == prove_for("/")

    api = client.get("/api/v1/me/")
    assert api.status_code == 403
    assert api.json() == {
        "error": {
            "code": "second_factor_required",
            "message": (
                "This session has not passed your second factor (it was signed in before you "
                "set one up): sign in again, or confirm your code on the web, before it uses "
                "WeScan."
            ),
            "fields": {},
        }
    }

    # The page to pass it: its header has no hospital, no notices, no live feed.
    notification_send(user_ids=[world.manager.pk], kind="info", message="Sofia Rossi applied")
    page = client.get(prove_for(hospital))
    assert page.status_code == 200
    text = page.content.decode()
    assert world.hospital.name not in text
    assert "Sofia Rossi" not in text
    assert "notifications.js" not in text
    assert "Sign out" in text

    passed = client.post(prove_for(hospital), {"code": totp_code(world.manager)})
    assert passed["Location"] == hospital
    assert session_passed_second_factor(client.get(hospital).wsgi_request)
    assert client.get(hospital).status_code == 200
    assert client.get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
def test_one_who_must_set_one_up_sees_nothing_of_the_hospital_meanwhile(world: World) -> None:
    manager = person(world, Role.MANAGER)
    notification_send(user_ids=[manager.pk], kind="info", message="Sofia Rossi applied")
    client = Client()
    client.force_login(manager)
    docs = client.get("/api/docs/")
    assert docs["Location"].startswith("/account/second-factor/")
    text = client.get("/account/second-factor/").content.decode()
    assert world.hospital.name not in text
    assert "Sofia Rossi" not in text
    assert "notifications.js" not in text  # nor its poll of /api/v1/assist-requests/
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert world.hospital.name not in missing.content.decode()
    assert "Sofia Rossi" not in missing.content.decode()


def _socket(cookie: str) -> WebsocketCommunicator:
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", cookie.encode()),
    ]
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


async def _refused(cookie: str) -> dict[str, Any]:
    socket = _socket(cookie)
    connected, _ = await socket.connect()
    assert connected
    frame = await socket.receive_json_from()
    assert (await socket.receive_output())["code"] == 4403
    await socket.disconnect()
    return dict(frame)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_notification_socket_opens_only_past_the_second_factor(world: World) -> None:
    newcomer = await database_sync_to_async(person)(world, Role.MANAGER)
    cookie = await database_sync_to_async(session_cookie)(newcomer)
    assert await _refused(cookie) == {
        "type": "error",
        "seq": 1,
        "payload": {
            "code": "second_factor_required",
            "message": (
                "Your account must have a second factor (an authenticator app or a passkey) "
                "before it uses WeScan: set one up on the web, under My profile."
            ),
            "ref": None,
        },
    }

    await database_sync_to_async(enrol_totp)(newcomer)
    password_only = await database_sync_to_async(session_cookie)(newcomer, second_factor=False)
    frame = await _refused(password_only)
    assert frame["payload"]["message"].startswith("This session has not passed your second factor")

    passed = _socket(await database_sync_to_async(session_cookie)(newcomer))
    connected, _ = await passed.connect()
    assert connected
    assert (await passed.receive_json_from())["type"] == "hello"
    await passed.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_plans_socket_opens_only_past_the_second_factor_too(world: World) -> None:
    # Held before the plan is even looked up: the same answer for any plan.
    cookie = await database_sync_to_async(session_cookie)(world.manager, second_factor=False)
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", cookie.encode()),
    ]
    socket = WebsocketCommunicator(application, "/ws/plans/1/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["payload"]["code"] == "second_factor_required"
    assert (await socket.receive_output())["code"] == 4403
    await socket.disconnect()

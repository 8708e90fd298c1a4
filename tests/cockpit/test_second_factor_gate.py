"""A cockpit needs a second factor, passed in the session that joins: a technologist without one
is sent to set one up from the console and from opening the booking's cockpit (and comes back
there after), one whose session never passed it (signed in before it was set up elsewhere) is
sent to pass it, and the relay refuses either socket with an error frame that says why, then
4403."""

from typing import Any
from urllib.parse import urlencode

import pytest
from allauth.mfa.models import Authenticator
from channels.db import database_sync_to_async

from cockpit.models import CockpitSession
from tests.cockpit.support import open_cockpit
from tests.conftest import World, client_for
from tests.factories import enrol_totp
from tests.sessions import password_only_client

SETUP = "/account/second-factor/"
PROVE = "/accounts/2fa/reauthenticate/"


def setup_for(path: str) -> str:
    return f"{SETUP}?{urlencode({'next': path})}"


def without_second_factor(world: World) -> CockpitSession:
    cockpit = open_cockpit(world)
    Authenticator.objects.filter(user=world.technologist).delete()
    return cockpit


@pytest.mark.django_db
def test_the_console_sends_a_technologist_without_one_to_set_one_up_and_back(
    world: World,
) -> None:
    cockpit = without_second_factor(world)
    client = client_for(world.technologist)
    console = f"/cockpit/{cockpit.pk}/"
    response = client.get(console)
    assert response["Location"] == setup_for(console)
    page = client.get(response["Location"])
    assert "Set up a second factor before you join a cockpit." in page.content.decode()
    opening = client.post(f"/bookings/{cockpit.booking_id}/cockpit/")
    assert opening["Location"] == setup_for(f"/bookings/{cockpit.booking_id}/cockpit/")

    assert client.get(opening["Location"]).status_code == 200

    enrol_totp(world.technologist)
    # Set up in this session (the page records it as passed, accounts.mfa): signed in with it.
    client.force_login(world.technologist)
    # Once set up, the set-up page goes on to where they were going: the cockpit.
    opened = client.get(SETUP)
    assert opened["Location"] == f"/bookings/{cockpit.booking_id}/cockpit/"
    assert client.get(opened["Location"])["Location"] == console
    assert client.get(console).status_code == 200


@pytest.mark.django_db
def test_a_technologist_without_one_uses_the_rest_of_wescan(world: World) -> None:
    without_second_factor(world)
    client = client_for(world.technologist)
    for path in ["/", "/profile/", "/cockpits/", "/me/bookings/"]:
        assert client.get(path).status_code == 200, path


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_relay_refuses_a_technologist_without_one_saying_why(
    world: World, relay: Any
) -> None:
    cockpit = await database_sync_to_async(without_second_factor)(world)
    socket = await relay.person(world.technologist, cockpit.pk)
    assert await socket.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "second_factor_required",
            "message": (
                "A cockpit runs a scanner with a patient in it: set up a second factor (an "
                "authenticator app or a passkey) under My profile before you join one."
            ),
            "ref": None,
        },
    }
    assert await socket.closed() == 4403
    await database_sync_to_async(enrol_totp)(world.technologist)
    again = await relay.person(world.technologist, cockpit.pk)
    assert (await again.recv())["type"] == "welcome"


@pytest.mark.django_db
def test_a_session_that_never_passed_it_is_sent_to_pass_it_before_the_console(
    world: World,
) -> None:
    cockpit = open_cockpit(world)  # the world's technologist has an authenticator app
    client = password_only_client(world.technologist)
    console = f"/cockpit/{cockpit.pk}/"
    assert client.get(console)["Location"] == f"{PROVE}?{urlencode({'next': console})}"
    opening = client.post(f"/bookings/{cockpit.booking_id}/cockpit/")
    assert opening["Location"].startswith(PROVE)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_session_signed_in_before_one_was_set_up_elsewhere_joins_no_cockpit(
    world: World, relay: Any
) -> None:
    # The trial: the technologist signed in with the password (B), then set up an app in another
    # session. B never typed a code: the relay refuses it as operator.
    cockpit = await database_sync_to_async(without_second_factor)(world)
    await database_sync_to_async(enrol_totp)(world.technologist)
    socket = await relay.person(
        world.technologist, cockpit.pk, role="operator", second_factor=False
    )
    assert await socket.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "second_factor_required",
            "message": (
                "A cockpit runs a scanner with a patient in it: this session has not passed your "
                "second factor (it was signed in before you set one up). Sign in again before "
                "you join one."
            ),
            "ref": None,
        },
    }
    assert await socket.closed() == 4403
    assert await relay.store_presence(cockpit) == []
    passed = await relay.person(world.technologist, cockpit.pk, role="operator")
    assert (await passed.recv())["type"] == "welcome"

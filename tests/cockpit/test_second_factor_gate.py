"""A cockpit needs a second factor: a technologist without one is sent to set one up from the
console and from opening the booking's cockpit (and comes back there after), and the relay
refuses their socket with an error frame that says why, then 4403."""

from typing import Any
from urllib.parse import urlencode

import pytest
from allauth.mfa.models import Authenticator
from channels.db import database_sync_to_async

from cockpit.models import CockpitSession
from tests.cockpit.support import open_cockpit
from tests.conftest import World, client_for
from tests.factories import enrol_totp

SETUP = "/account/second-factor/"


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

"""A platform admin erases people from the Django admin, after a confirmation page, on the same
rules as a person's own request (a confirmed booking ahead holds it back)."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from core.models import AuditEvent
from tests.conftest import World, client_for
from tests.scheduling.support import Clock, available, confirmed, freeze, licensed, local, post

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_user_changelist"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


def test_an_admin_confirms_then_erases(world: World, clock: Clock) -> None:
    admin = client_for(world.admin)
    ids = [world.outsider.pk, world.technologist.pk]
    licensed(world.technologist)
    available(world.technologist)
    confirmed(
        world.manager, post(world.manager, world.scanner, local(12, 7, 8)), world.technologist
    )
    form = {"action": "erase_accounts", helpers.ACTION_CHECKBOX_NAME: ids}

    page = admin.post(reverse(CHANGELIST), form)

    text = page.content.decode()
    assert page.status_code == 200
    assert "independent@example.org — will be erased." in " ".join(text.split())
    assert "1 confirmed booking ahead" in text
    world.outsider.refresh_from_db()
    assert world.outsider.is_active  # nothing happens before the confirmation

    done = admin.post(reverse(CHANGELIST), {**form, "confirmed": "yes"}, follow=True)

    text = done.content.decode()
    assert "Erased 1 account." in text
    assert "confirmed booking ahead" in text
    world.outsider.refresh_from_db()
    world.technologist.refresh_from_db()
    assert world.outsider.email.startswith("erased-")
    assert world.technologist.is_active
    event = AuditEvent.objects.get(action="account.erased")
    assert event.actor_id == world.admin.pk
    assert event.data == {"by": "platform"}

"""The pages of senior assistance as people use them: the requests for help a person was asked
to answer (a senior sees Accept, a manager "alerted", a junior or someone without a profile an
empty list), accepting (the first joins the cockpit as assistant, the second is told "Taken"),
cancelling and ending the help from the cockpit, the history with the hours credited, and
another person's request, which does not exist for an outsider."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from cockpit import services
from cockpit.models import AssistRequest, AssistStage, AssistStatus, CockpitSession
from marketplace.models import Hospital, Role, Seniority
from scheduling.models import LedgerEntry
from scheduling.services import on_call_create
from tests.cockpit.support import open_cockpit
from tests.conftest import World, client_for
from tests.factories import MembershipFactory, UserFactory, enrol_totp
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = pytest.mark.django_db

NOTE = "Motion on DWI, need help with the cardiac planes"


# --- People and requests (also used by the API and on-call page tests) -------------------------


def technologist(
    name: str,
    *,
    hospital: Hospital | None = None,
    seniority: str = Seniority.SENIOR,
    families: tuple[str, ...] = ("neuro",),
) -> User:
    """A verified technologist who knows every vendor and speaks French and Dutch (as the
    operator does), working for `hospital` when given."""
    first, last = name.split()
    user = UserFactory(
        first_name=first, last_name=last, email=f"{first}.{last}@example.org".lower()
    )
    if hospital is not None:
        MembershipFactory(user=user, hospital=hospital, role=Role.TECHNOLOGIST)
    LicensedTechnologistFactory(user=user, seniority=seniority, exam_families=list(families))
    enrol_totp(user)  # a cockpit needs a second factor (they may join one to assist)
    return user


def on_call_senior(name: str, *, hospital: Hospital | None = None, **options: Any) -> User:
    """A senior with an on-call window under way now (for their exam families)."""
    user = technologist(name, hospital=hospital, **options)
    now = timezone.now()
    on_call_create(
        actor=user,
        technologist=user,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
    )
    return user


def junior(name: str = "Jules Junior") -> User:
    return technologist(name, seniority=Seniority.JUNIOR)


def ask(
    world: World,
    cockpit: CockpitSession,
    *,
    actor: User | None = None,
    role: str = "operator",
    family: str = "neuro",
    note: str = NOTE,
    **options: Any,
) -> AssistRequest:
    return services.assist_request(
        actor=actor or world.technologist,
        role=role,
        cockpit=cockpit,
        exam_family=family,
        note=note,
        **options,
    )


def text(response: Any) -> str:
    return str(response.content.decode())


def page_messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Requests for help waiting for you ----------------------------------------------------------


def test_a_senior_asked_sees_the_request_with_accept(world: World) -> None:
    senior = on_call_senior("Anna Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    response = client_for(senior).get("/assist/")

    assert response.status_code == 200
    page = text(response)
    assert f'id="assist-{assist.pk}"' in page
    assert "Neuro" in page
    assert world.scanner.get_vendor_display() in page
    assert "Hôpital Sainte-Claire · Campus Nord · MR 1" in page
    assert f'{world.technologist.display_name} <span class="muted">(operator)</span>' in page
    assert NOTE in page
    assert "just now" in page
    assert "1 technologist asked" in page
    assert f'action="/assist/{assist.pk}/accept/"' in page
    assert "alerted" not in page


def test_the_age_of_a_request_reads_in_minutes(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    ask(world, open_cockpit(world), now=timezone.now() - timedelta(minutes=2, seconds=5))

    page = text(client_for(senior).get("/assist/"))

    assert "2\xa0minutes ago" in page


def test_managers_alerted_see_alerted_and_the_cockpit_but_no_accept(world: World) -> None:
    # Nobody is on call: the request reaches the managers of the operator's hospital at once.
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    assert assist.stage == AssistStage.MANAGERS

    page = text(client_for(world.manager).get("/assist/"))

    assert f'id="assist-{assist.pk}"' in page
    assert "alerted" in page
    assert "Managers alerted" in page
    assert f'href="/cockpit/{cockpit.pk}/"' in page
    assert "/accept/" not in page


@pytest.mark.parametrize("person", ["junior", "outsider", "other_manager", "local_staff"])
def test_people_not_asked_see_that_nothing_waits(world: World, person: str) -> None:
    on_call_senior("Anna Senior")
    ask(world, open_cockpit(world))
    user = junior() if person == "junior" else getattr(world, person)

    response = client_for(user).get("/assist/")

    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "No request for help is waiting for you." in text(response)


def test_the_pages_ask_an_anonymous_visitor_to_sign_in(world: World) -> None:
    for path in ("/assist/", "/assist/history/", "/me/on-call/"):
        response = client_for(None).get(path)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_the_navigation_offers_on_call_to_technologists_and_requests_to_everyone(
    world: World,
) -> None:
    senior_page = text(client_for(on_call_senior("Anna Senior")).get("/assist/"))
    manager_page = text(client_for(world.manager).get("/assist/"))

    assert 'href="/me/on-call/">On call</a>' in senior_page
    assert 'href="/assist/">Requests for help</a>' in senior_page
    assert 'href="/me/on-call/">On call</a>' not in manager_page
    assert 'href="/assist/">Requests for help</a>' in manager_page
    assert '<meta name="csrf-token" content="' in manager_page


# --- Accepting ----------------------------------------------------------------------------------


def test_the_first_to_accept_joins_the_cockpit_as_assistant(world: World) -> None:
    senior = on_call_senior("Anna Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    client = client_for(senior)

    response = client.post(f"/assist/{assist.pk}/accept/")

    assert response.status_code == 302
    assert response["Location"] == f"/cockpit/{cockpit.pk}/?role=assistant"
    assist.refresh_from_db()
    assert assist.status == AssistStatus.ACCEPTED
    assert assist.accepted_by == senior
    assert cockpit.assistants.filter(pk=senior.pk).exists()
    console = client.get(response["Location"])
    assert console.status_code == 200
    assert any("you joined the cockpit as assistant" in m for m in page_messages(console))


def test_a_second_senior_is_told_who_took_it(world: World) -> None:
    anna = on_call_senior("Anna Senior", hospital=world.other_hospital)
    bert = on_call_senior("Bert Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    assert client_for(anna).post(f"/assist/{assist.pk}/accept/").status_code == 302

    response = client_for(bert).post(f"/assist/{assist.pk}/accept/", follow=True)

    assert response.redirect_chain == [("/assist/", 302)]
    assert page_messages(response) == [f"Taken: {anna.display_name} is already helping."]
    assert 'class="message warning"' in text(response)
    assert not cockpit.assistants.filter(pk=bert.pk).exists()
    # Taken, it no longer waits for Bert.
    assert response.context["rows"] == []


def test_a_manager_alerted_cannot_accept(world: World) -> None:
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    response = client_for(world.manager).post(f"/assist/{assist.pk}/accept/", follow=True)

    assert response.redirect_chain == [("/assist/", 302)]
    assert page_messages(response) == [
        "Managers are alerted to find someone; a technologist who was asked accepts."
    ]
    assist.refresh_from_db()
    assert assist.status == AssistStatus.OPEN


def test_accept_is_a_button_not_a_page(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))

    response = client_for(senior).get(f"/assist/{assist.pk}/accept/")

    assert response.status_code == 405
    assert AssistRequest.objects.get(pk=assist.pk).status == AssistStatus.OPEN


@pytest.mark.parametrize("move", ["accept", "cancel", "finish"])
def test_another_persons_request_does_not_exist_for_an_outsider(world: World, move: str) -> None:
    on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))
    stranger = on_call_senior("Carl Stranger", families=("msk",))

    for user in (world.outsider, world.other_manager, stranger):
        response = client_for(user).post(f"/assist/{assist.pk}/{move}/")
        assert response.status_code == 404, user
    assist.refresh_from_db()
    assert assist.status == AssistStatus.OPEN
    assert client_for(world.outsider).post("/assist/999999/accept/").status_code == 404


# --- Cancelling and ending the help -------------------------------------------------------------


def test_the_operator_cancels_from_the_cockpit_and_goes_back_to_it(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    response = client_for(world.technologist).post(f"/assist/{assist.pk}/cancel/", follow=True)

    assert response.redirect_chain == [(f"/cockpit/{cockpit.pk}/", 302)]
    assert page_messages(response) == ["Request for help cancelled: everyone asked has been told."]
    assist.refresh_from_db()
    assert assist.status == AssistStatus.CANCELLED
    assert assist.ended_by == world.technologist


def test_a_senior_asked_cannot_cancel(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))

    response = client_for(senior).post(f"/assist/{assist.pk}/cancel/", follow=True)

    # Not in the cockpit: back to the history, told why.
    assert response.redirect_chain == [("/assist/history/", 302)]
    assert page_messages(response) == [
        "Only the operator or local staff cancel a request for help."
    ]
    assist.refresh_from_db()
    assert assist.status == AssistStatus.OPEN


def test_cancelling_twice_says_there_is_nothing_to_cancel(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    client = client_for(world.local_staff)
    client.post(f"/assist/{assist.pk}/cancel/", follow=True)

    response = client.post(f"/assist/{assist.pk}/cancel/", follow=True)

    assert page_messages(response) == [
        "This request is already closed: there is nothing to cancel."
    ]


def test_the_senior_ends_the_help_and_leaves_the_cockpit_for_the_history(world: World) -> None:
    senior = on_call_senior("Anna Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    client = client_for(senior)
    client.post(f"/assist/{assist.pk}/accept/", follow=True)

    response = client.post(f"/assist/{assist.pk}/finish/", follow=True)

    assert response.redirect_chain == [("/assist/history/", 302)]
    assert page_messages(response) == ["Help done: the request for help is closed."]
    assist.refresh_from_db()
    assert assist.status == AssistStatus.RESOLVED
    assert assist.ended_by == senior
    # Their help is over: the cockpit is no longer theirs to open.
    assert not cockpit.assistants.filter(pk=senior.pk).exists()
    assert client.get(f"/cockpit/{cockpit.pk}/").status_code == 404


def test_ending_help_that_never_started_is_refused_with_a_message(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    response = client_for(world.technologist).post(f"/assist/{assist.pk}/finish/", follow=True)

    assert response.redirect_chain == [(f"/cockpit/{cockpit.pk}/", 302)]
    assert page_messages(response) == [
        "No senior has accepted yet: no help is under way. Cancel it if solved."
    ]
    assert AssistRequest.objects.get(pk=assist.pk).status == AssistStatus.OPEN


# --- The history --------------------------------------------------------------------------------


def test_history_shows_who_helped_for_how_long_and_the_hours_credited(world: World) -> None:
    senior = on_call_senior("Anna Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    asked_at = timezone.now()
    assist = ask(world, cockpit, now=asked_at)
    services.assist_accept(actor=senior, assist_id=assist.pk, now=asked_at)
    services.assist_finish(
        actor=world.technologist, assist_id=assist.pk, now=asked_at + timedelta(minutes=30)
    )
    entry = LedgerEntry.objects.get(assist=assist)
    assert entry.creditor_hospital == world.other_hospital

    for user, part in ((senior, "You helped"), (world.technologist, "You asked")):
        response = client_for(user).get("/assist/history/")
        assert response.status_code == 200
        page = text(response)
        assert f'id="assist-{assist.pk}"' in page
        assert part in page
        assert "Resolved" in page
        assert senior.display_name in page
        assert "30 min" in page
        assert "0.50 h" in page


def test_history_of_a_request_under_way_and_one_nobody_answered(world: World) -> None:
    anna = on_call_senior("Anna Senior")
    bert = on_call_senior("Bert Senior")
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    services.assist_accept(actor=anna, assist_id=assist.pk)

    page = text(client_for(bert).get("/assist/history/"))

    assert "You were asked" in page
    assert "A senior is assisting" in page
    assert anna.display_name in page
    # Bert has no role in the cockpit: no link to it.
    assert f'href="/cockpit/{cockpit.pk}/"' not in page


def test_history_shows_managers_what_they_were_alerted_about(world: World) -> None:
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    page = text(client_for(world.manager).get("/assist/history/"))

    assert f'id="assist-{assist.pk}"' in page
    assert "You were alerted" in page
    assert "Waiting for a senior" in page


@pytest.mark.parametrize("person", ["junior", "outsider", "other_manager"])
def test_history_is_empty_for_people_with_no_part(world: World, person: str) -> None:
    on_call_senior("Anna Senior")
    ask(world, open_cockpit(world))
    user = junior() if person == "junior" else getattr(world, person)

    response = client_for(user).get("/assist/history/")

    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "No request for help yet." in text(response)

"""The booking pages as people use them: a manager invites a ranked candidate from the posting's
page, the technologist accepts from their bookings, both see it, and either cancels with a
reason; a technologist applies from their ranked postings and a manager accepts. On the frozen
clock of support.py."""

from datetime import timedelta
from typing import Any

import pytest

from marketplace.models import PostingStatus, SessionPosting
from scheduling.models import Booking, BookingStatus
from tests.conftest import PEOPLE, World, client_for, who
from tests.scheduling.support import Clock, confirmed

pytestmark = pytest.mark.django_db


def _text(response: Any) -> str:
    return str(response.content.decode())


def test_invite_the_top_candidate_accept_and_cancel_late(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    manager = client_for(world.manager)
    page = manager.get(f"/postings/{posting.pk}/")
    candidates = page.context["candidates"]
    assert [c.technologist for c in candidates] == [tech]
    text = _text(page)
    assert f'id="candidate-{tech.pk}"' in text
    assert "available 06:00–22:00 ✓" in text  # their window, in the site's wall clock

    invited = manager.post(
        f"/postings/{posting.pk}/invite/", {"technologist": tech.pk}, follow=True
    )
    assert f"{tech.display_name} is invited" in _text(invited)
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.PENDING
    # Invited: on the posting's bookings, no longer among the candidates.
    assert invited.context["candidates"] == []
    assert f'id="booking-{booking.pk}"' in _text(invited)

    technologist = client_for(tech)
    mine = technologist.get("/me/bookings/")
    assert [b.pk for b in mine.context["invitations"]] == [booking.pk]
    accepted = technologist.post(
        f"/bookings/{booking.pk}/accept/", {"next": "/me/bookings/"}, follow=True
    )
    assert "Booking confirmed." in _text(accepted)
    assert [b.pk for b in accepted.context["upcoming"]] == [booking.pk]
    assert SessionPosting.objects.get(pk=posting.pk).status == PostingStatus.FILLED

    hospital = manager.get(f"/hospitals/{world.hospital.pk}/bookings/")
    assert [b.pk for b in hospital.context["upcoming"]] == [booking.pk]
    assert tech.display_name in _text(hospital)

    clock.now = posting.starts_at - timedelta(hours=3)
    no_reason = manager.post(f"/bookings/{booking.pk}/cancel/", {"reason": " "}, follow=True)
    assert "Say why you cancel." in _text(no_reason)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    cancelled = manager.post(
        f"/bookings/{booking.pk}/cancel/", {"reason": "Scanner down"}, follow=True
    )
    text = _text(cancelled)
    assert "This was a late cancellation" in text
    assert "your hospital owes the booked hours" in text
    assert "Scanner down" in text
    assert cancelled.context["record"] is not None
    # Open again: the next candidates are suggested on its page (tech is free again).
    again = manager.get(f"/postings/{posting.pk}/")
    assert [c.technologist for c in again.context["candidates"]] == [tech]
    record = manager.get(f"/hospitals/{world.hospital.pk}/bookings/").context["record"]
    assert record.late_cancelled == 1


def test_apply_from_the_ranked_postings_and_a_manager_accepts(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    technologist = client_for(tech)
    listed = technologist.get("/me/postings/")
    assert [m.posting for m in listed.context["matches"]] == [posting]
    assert f'data-apply="{posting.pk}"' in _text(listed)
    applied = technologist.post(
        f"/postings/{posting.pk}/apply/", {"next": "/me/postings/"}, follow=True
    )
    assert "You applied" in _text(applied)
    assert applied.context["matches"] == []  # applied: no longer offered
    booking = Booking.objects.get()

    manager = client_for(world.manager)
    waiting = manager.get(f"/hospitals/{world.hospital.pk}/bookings/")
    assert [b.pk for b in waiting.context["applications"]] == [booking.pk]
    assert "Accept application" in _text(waiting)
    manager.post(f"/bookings/{booking.pk}/accept/")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_refused_move_is_a_message_not_an_error_page(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    booking = confirmed(world.manager, posting, tech)
    response = client_for(tech).post(f"/bookings/{booking.pk}/accept/", follow=True)
    assert response.status_code == 200
    assert "This booking is confirmed; it can be accepted only when pending." in _text(response)


@pytest.mark.parametrize("person", PEOPLE)
def test_who_sees_a_hospitals_bookings(world: World, person: str) -> None:
    expected = {
        "anonymous": 302,
        "outsider": 404,
        "other_manager": 404,
        "technologist": 404,  # a hospital's technologists see their own bookings only
        "local_staff": 200,
        "manager": 200,
        "admin": 200,
    }[person]
    response = client_for(who(world, person)).get(f"/hospitals/{world.hospital.pk}/bookings/")
    assert response.status_code == expected


@pytest.mark.parametrize("person", PEOPLE)
def test_who_sees_a_booking(world: World, tech: Any, posting: SessionPosting, person: str) -> None:
    booking = confirmed(world.manager, posting, tech)
    expected = {
        "anonymous": 302,
        "outsider": 404,
        "other_manager": 404,
        "technologist": 200,
        "local_staff": 200,
        "manager": 200,
        "admin": 200,
    }[person]
    client = client_for(who(world, person))
    assert client.get(f"/bookings/{booking.pk}/").status_code == expected
    if expected == 404:
        client.post(f"/bookings/{booking.pk}/cancel/", {"reason": "Not mine"})
        assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_local_staff_see_the_booking_without_buttons(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    booking = confirmed(world.manager, posting, tech)
    page = client_for(world.local_staff).get(f"/bookings/{booking.pk}/")
    assert page.context["booking"].actions == []
    assert "Cancel booking" not in _text(page)


def test_unknown_moves_and_gets(world: World, tech: Any, posting: SessionPosting) -> None:
    booking = confirmed(world.manager, posting, tech)
    client = client_for(world.manager)
    assert client.post(f"/bookings/{booking.pk}/approve/").status_code == 404
    assert client.get(f"/bookings/{booking.pk}/cancel/").status_code == 405
    assert client.post(f"/postings/{posting.pk}/invite/", {"technologist": "x"}).status_code == 302
    assert client.post(f"/postings/{posting.pk}/invite/", {"technologist": 99999}).status_code == (
        404
    )


def test_candidates_are_for_the_postings_managers_only(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    assert client_for(tech).get(f"/postings/{posting.pk}/").context["candidates"] is None
    assert (
        client_for(world.other_manager)
        .post(f"/postings/{posting.pk}/invite/", {"technologist": tech.pk})
        .status_code
        == 404
    )
    assert not Booking.objects.exists()


def test_the_technologists_page_shows_their_own_booking_and_record(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    page = client_for(tech).get(f"/postings/{posting.pk}/")
    assert [b.pk for b in page.context["bookings"]] == [booking.pk]
    assert page.context["can_apply"] is False
    clock.now = posting.starts_at
    client_for(tech).post(f"/bookings/{booking.pk}/start/")
    clock.now = posting.ends_at
    client_for(tech).post(f"/bookings/{booking.pk}/complete/")
    mine = client_for(tech).get("/me/bookings/")
    assert [b.pk for b in mine.context["past"]] == [booking.pk]
    assert mine.context["record"].completed == 1

"""Every free-text input is bounded before anything reads it: the longest text each one allows
is taken, one character more is refused with a 4xx saying so and changes nothing, on the page and
through the API alike."""

from typing import Any

import pytest

from cockpit.services import NOTE_MAX
from core import text as text_module
from core.errors import ValidationFailed
from core.text import free_text_clean
from marketplace.models import PostingStatus, SessionPosting
from marketplace.services import CANCEL_REASON_MAX, NOTES_MAX
from scheduling.models import Booking, BookingStatus
from tests.cockpit.support import open_cockpit
from tests.conftest import World, api_as, client_for
from tests.factories_supply import PostingFactory
from tests.scheduling.support import confirmed, licensed, local, post

pytestmark = pytest.mark.django_db

REASON_MAX = Booking._meta.get_field("cancel_reason").max_length


def test_the_bound_is_checked_before_the_text_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    real = text_module.patient_identifier_problems
    monkeypatch.setattr(
        text_module, "patient_identifier_problems", lambda t: read.append(len(t)) or real(t)
    )
    assert free_text_clean("x" * 100, field="reason", max_length=100) == "x" * 100
    with pytest.raises(ValidationFailed) as refused:
        free_text_clean("x" * 101, field="reason", max_length=100, what="reason")
    assert refused.value.fields == {
        "reason": ["Keep the reason to 100 characters; this one has 101."]
    }
    with pytest.raises(ValidationFailed):
        free_text_clean("x" * 1_000_000, field="reason", max_length=100)
    assert read == [100]  # the two refused texts were never read


def test_spaces_around_a_text_that_fits_are_forgiven() -> None:
    assert free_text_clean("  " + "x" * 100 + "\n", field="f", max_length=100) == "x" * 100
    assert free_text_clean(" a \n  b ", field="f", max_length=100, one_line=True) == "a b"
    with pytest.raises(ValidationFailed, match="cannot be empty"):
        free_text_clean("   ", field="text", max_length=10, required=True)


# --- Booking cancellation reason ----------------------------------------------------------------


@pytest.fixture
def booking(world: World, monkeypatch: pytest.MonkeyPatch) -> Booking:
    from tests.scheduling.support import available, freeze

    freeze(monkeypatch)
    licensed(world.technologist)
    available(world.technologist)
    return confirmed(
        world.manager, post(world.manager, world.scanner, local(11, 30, 8)), world.technologist
    )


def test_a_cancellation_reason_through_the_api_is_bounded(world: World, booking: Booking) -> None:
    client = api_as(world.manager)
    too_long = client.post(
        f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "x" * (REASON_MAX + 1)}, format="json"
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["reason"]
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    longest = client.post(
        f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "x" * REASON_MAX}, format="json"
    )
    assert longest.status_code == 200
    assert longest.json()["cancel_reason"] == "x" * REASON_MAX


def test_a_cancellation_reason_on_the_page_is_bounded(world: World, booking: Booking) -> None:
    client = client_for(world.manager)
    too_long = client.post(
        f"/bookings/{booking.pk}/cancel/", {"reason": "x" * (REASON_MAX + 1)}, follow=True
    )
    page = too_long.content.decode()
    assert f"Keep the reason to {REASON_MAX} characters; this one has {REASON_MAX + 1}." in page
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    # What froze the server: a reason of 200,000 characters is refused unread, at once.
    client.post(f"/bookings/{booking.pk}/cancel/", {"reason": "a" * 200_000})
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    client.post(f"/bookings/{booking.pk}/cancel/", {"reason": "x" * REASON_MAX})
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED


# --- Posting notes and the reason a posting is cancelled -------------------------------------


def _posting_body(world: World, notes: str) -> dict[str, Any]:
    posting = PostingFactory.build(hospital=world.hospital, scanner=world.scanner)
    return {
        "hospital": world.hospital.pk,
        "scanner": world.scanner.pk,
        "starts_at": posting.starts_at.isoformat(),
        "ends_at": posting.ends_at.isoformat(),
        "required_exam_families": ["neuro"],
        "notes": notes,
    }


def test_posting_notes_through_the_api_are_bounded(world: World) -> None:
    client = api_as(world.manager)
    too_long = client.post(
        "/api/v1/postings/", _posting_body(world, "x" * (NOTES_MAX + 1)), format="json"
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["notes"]
    assert not SessionPosting.objects.exists()

    longest = client.post("/api/v1/postings/", _posting_body(world, "x" * NOTES_MAX), format="json")
    assert longest.status_code == 201, longest.json()
    assert SessionPosting.objects.get().notes == "x" * NOTES_MAX


def test_a_posting_cancellation_reason_is_bounded(world: World) -> None:
    posting = PostingFactory(hospital=world.hospital, scanner=world.scanner, status="open")
    api = api_as(world.manager)
    too_long = api.post(
        f"/api/v1/postings/{posting.pk}/cancel/",
        {"reason": "x" * (CANCEL_REASON_MAX + 1)},
        format="json",
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["reason"]
    page = client_for(world.manager).post(
        f"/postings/{posting.pk}/cancel/", {"reason": "x" * (CANCEL_REASON_MAX + 1)}
    )
    assert page.status_code == 400
    assert "reason" in page.context["cancel_form"].errors
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN

    longest = api.post(
        f"/api/v1/postings/{posting.pk}/cancel/",
        {"reason": "x" * CANCEL_REASON_MAX},
        format="json",
    )
    assert longest.status_code == 200
    posting.refresh_from_db()
    assert posting.status == PostingStatus.CANCELLED


# --- A request for help ---------------------------------------------------------------------


def test_a_note_asking_for_help_is_bounded(world: World) -> None:
    cockpit = open_cockpit(world)
    client = api_as(world.technologist)
    url = f"/api/v1/cockpits/{cockpit.pk}/assist-requests/"
    too_long = client.post(url, {"exam_family": "neuro", "note": "x" * 100_000}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["note"]
    longest = client.post(url, {"exam_family": "neuro", "note": "x" * NOTE_MAX}, format="json")
    assert longest.status_code == 201, longest.json()
    assert longest.json()["note"] == "x" * NOTE_MAX

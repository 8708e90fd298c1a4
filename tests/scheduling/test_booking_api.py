"""The bookings API: who sees which booking, each move through HTTP, and every refusal as a 4xx
in the one error shape (never a 500), on the frozen clock of test_bookings."""

from datetime import timedelta
from typing import Any

import pytest

from marketplace import services as marketplace_services
from marketplace.models import PostingStatus, SessionPosting
from scheduling.models import Booking, BookingStatus
from tests.conftest import PEOPLE, World, api_as, who
from tests.scheduling.support import Clock, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


def _invite(world: World, posting: SessionPosting, technologist: Any) -> dict[str, Any]:
    response = api_as(world.manager).post(
        "/api/v1/bookings/",
        {"posting": posting.pk, "technologist": technologist.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_a_manager_invites_and_the_technologist_accepts(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    invited = _invite(world, posting, tech)
    assert invited["status"] == "pending"
    assert invited["initiated_by"] == "hospital"
    assert invited["technologist"] == {"id": tech.pk, "name": tech.display_name}
    assert invited["posting"]["hospital"]["name"] == "Hôpital Sainte-Claire"
    assert invited["starts_at"] == "2026-11-30T07:00:00Z"  # 08:00 Brussels
    assert invited["actions"] == ["cancel"]  # the manager waits; only withdrawing is open
    assert invited["cancelled_side"] is None  # nobody cancelled: no side, not ""

    mine = api_as(tech).get("/api/v1/bookings/?status=pending").json()
    assert [b["id"] for b in mine["results"]] == [invited["id"]]
    assert mine["results"][0]["actions"] == ["accept", "decline", "cancel"]

    accepted = api_as(tech).post(f"/api/v1/bookings/{invited['id']}/accept/")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "confirmed"
    assert accepted.json()["posting"]["status"] == "filled"

    again = api_as(tech).post(f"/api/v1/bookings/{invited['id']}/accept/")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "This booking is confirmed; it can be accepted only when pending."
    )


def test_a_technologist_applies_and_a_manager_accepts(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    applied = api_as(tech).post("/api/v1/bookings/", {"posting": posting.pk}, format="json")
    assert applied.status_code == 201
    booking_id = applied.json()["id"]
    assert applied.json()["initiated_by"] == "technologist"

    refused = api_as(tech).post(f"/api/v1/bookings/{booking_id}/accept/")
    assert refused.status_code == 403
    assert "manager of Hôpital Sainte-Claire" in refused.json()["error"]["message"]

    listed = api_as(world.manager).get(f"/api/v1/bookings/?posting={posting.pk}").json()
    assert listed["results"][0]["actions"] == ["accept", "decline", "cancel"]
    assert api_as(world.manager).post(f"/api/v1/bookings/{booking_id}/accept/").status_code == 200
    assert Booking.objects.get(pk=booking_id).status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("person", PEOPLE)
def test_who_sees_a_booking(world: World, tech: Any, posting: SessionPosting, person: str) -> None:
    booking = confirmed(world.manager, posting, tech)
    # The booked technologist is `technologist`; local staff receive them on the day.
    expected = {
        "anonymous": 401,
        "outsider": 404,
        "other_manager": 404,
        "technologist": 200,
        "local_staff": 200,
        "manager": 200,
        "admin": 200,
    }[person]
    client = api_as(who(world, person))
    assert client.get(f"/api/v1/bookings/{booking.pk}/").status_code == expected
    listed = client.get("/api/v1/bookings/")
    if expected == 401:
        assert listed.status_code == 401
    else:
        ids = [b["id"] for b in listed.json()["results"]]
        assert ids == ([booking.pk] if expected == 200 else [])


def test_local_staff_see_but_cannot_move(world: World, tech: Any, posting: SessionPosting) -> None:
    booking = confirmed(world.manager, posting, tech)
    client = api_as(world.local_staff)
    assert client.get(f"/api/v1/bookings/{booking.pk}/").json()["actions"] == []
    refused = client.post(f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "No"}, format="json")
    assert refused.status_code == 403
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_only_the_postings_managers_invite(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    # Another hospital's manager does not see the posting at all; its local staff see it but
    # may not invite.
    other = api_as(world.other_manager).post(
        "/api/v1/bookings/", {"posting": posting.pk, "technologist": tech.pk}, format="json"
    )
    assert other.status_code == 404
    staff = api_as(world.local_staff).post(
        "/api/v1/bookings/", {"posting": posting.pk, "technologist": tech.pk}, format="json"
    )
    assert staff.status_code == 403
    message = staff.json()["error"]["message"]
    assert message == "Only a manager of Hôpital Sainte-Claire may do this."
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "posting"),
        ({"posting": "soon"}, 400, "posting"),
        ({"posting": 1, "when": "now"}, 400, "when"),
        ({"posting": 999999}, 404, None),
        ({"posting": "__posting__", "technologist": 999999}, 404, None),
    ],
)
def test_bad_requests_to_book(
    world: World,
    tech: Any,
    posting: SessionPosting,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    body = {k: posting.pk if v == "__posting__" else v for k, v in body.items()}
    response = api_as(world.manager).post("/api/v1/bookings/", body, format="json")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    if field:
        assert field in error["fields"]
    assert not Booking.objects.exists()


def test_a_refused_booking_names_the_reason(world: World, clock: Clock) -> None:
    """Nobody available: a 409 that says so, and nothing saved."""
    licensed(world.technologist)
    posting = post(world.manager, world.scanner, local(11, 30, 8))
    response = api_as(world.manager).post(
        "/api/v1/bookings/",
        {"posting": posting.pk, "technologist": world.technologist.pk},
        format="json",
    )
    assert response.status_code == 409
    assert "not available for the whole session" in response.json()["error"]["message"]
    assert not Booking.objects.exists()


def test_cancelling_needs_a_reason_and_late_is_recorded(
    world: World, tech: Any, clock: Clock
) -> None:
    posting = post(world.manager, world.scanner, local(11, 30, 8))
    booking = confirmed(world.manager, posting, tech)
    client = api_as(world.manager)

    missing = client.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["fields"]["reason"]
    unknown = client.post(
        f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "x", "late": False}, format="json"
    )
    assert unknown.status_code == 400
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    clock.now = posting.starts_at - timedelta(hours=5)
    cancelled = client.post(
        f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "Scanner down"}, format="json"
    )
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert (body["status"], body["late"], body["cancelled_side"]) == ("cancelled", True, "hospital")
    assert body["cancelled_hours_before"] == 5.0
    assert body["cancel_reason"] == "Scanner down"
    assert SessionPosting.objects.get(pk=posting.pk).status == PostingStatus.OPEN


def test_the_day_of_the_session_through_the_api(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    early = api_as(tech).post(f"/api/v1/bookings/{booking.pk}/start/")
    assert early.status_code == 409
    clock.now = posting.starts_at - timedelta(minutes=10)
    # Ten minutes before: it can be started, and still cancelled (late).
    actions = api_as(tech).get(f"/api/v1/bookings/{booking.pk}/").json()["actions"]
    assert actions == ["cancel", "start"]
    assert api_as(tech).post(f"/api/v1/bookings/{booking.pk}/start/").json()["status"] == (
        "in_progress"
    )
    clock.now = posting.ends_at
    done = api_as(world.manager).post(f"/api/v1/bookings/{booking.pk}/complete/")
    assert done.json()["status"] == "completed"
    assert done.json()["actions"] == []


def test_a_no_show_through_the_api(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at + timedelta(minutes=20)
    assert (
        "no_show" in api_as(world.manager).get(f"/api/v1/bookings/{booking.pk}/").json()["actions"]
    )
    assert "no_show" not in api_as(tech).get(f"/api/v1/bookings/{booking.pk}/").json()["actions"]
    response = api_as(world.manager).post(f"/api/v1/bookings/{booking.pk}/no-show/")
    assert response.json()["status"] == "no_show"


def test_filters(world: World, tech: Any, posting: SessionPosting, clock: Clock) -> None:
    booking = confirmed(world.manager, posting, tech)
    client = api_as(world.manager)
    assert [b["id"] for b in client.get("/api/v1/bookings/?when=upcoming").json()["results"]] == [
        booking.pk
    ]
    assert client.get("/api/v1/bookings/?when=past").json()["results"] == []
    assert (
        client.get(f"/api/v1/bookings/?hospital={world.other_hospital.pk}").json()["results"] == []
    )
    bad = client.get("/api/v1/bookings/?status=maybe")
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]


def test_cancelling_a_posting_closes_its_pending_bookings(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    booking = _invite(world, posting, tech)
    marketplace_services.posting_cancel(actor=world.manager, posting=posting, reason="Repairs")
    closed = Booking.objects.get(pk=booking["id"])
    assert (closed.status, closed.cancelled_side, closed.late) == ("cancelled", "hospital", False)
    assert api_as(tech).get(f"/api/v1/bookings/{closed.pk}/").json()["actions"] == []


def test_a_filled_posting_is_not_cancelled_before_its_booking(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    confirmed(world.manager, posting, tech)
    response = api_as(world.manager).post(
        f"/api/v1/postings/{posting.pk}/cancel/", {"reason": "Repairs"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        "This posting is filled; it cannot be cancelled. Cancel its booking first."
    )

"""iCalendar feeds, parsed back with `icalendar`: a person's bookings and a hospital's sessions
at a private address (no sign-in), with time zones, UIDs that survive every change, cancelled
events as STATUS:CANCELLED, and rotation that kills the old address. On a frozen clock: today is
Monday 23 November 2026, 09:00 UTC; sessions from Monday 30 November, Brussels time."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from accounts.models import User
from core.errors import PermissionDenied
from core.models import AuditEvent
from marketplace import services as marketplace_services
from marketplace.models import ExamFamily, SessionPosting
from scheduling import services
from scheduling.models import CalendarFeed
from tests.conftest import MANAGER_PAGE, PEOPLE, World, api_as, client_for, who
from tests.factories import ScannerFactory, SiteFactory, UserFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


def fetch(url: str) -> icalendar.Calendar:
    response = client_for(None).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def person_feed_url(user: User) -> str:
    return f"/calendar/{services.calendar_feed_for(user=user).token}.ics"


def hospital_feed_url(world: World) -> str:
    feed = services.calendar_feed_for_hospital(actor=world.manager, hospital=world.hospital)
    return f"/calendar/{feed.token}.ics"


def events(calendar: icalendar.Calendar) -> dict[str, Any]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def other_tech(world: World, clock: Clock) -> User:
    person = UserFactory(email="someone-else@example.org")
    licensed(person)
    available(person)
    return person


# --- A person's feed ------------------------------------------------------------------------------


def test_a_persons_feed_has_their_bookings_only(
    world: World, tech: User, other_tech: User, posting: SessionPosting
) -> None:
    family = ExamFamily.objects.get(code="neuro")
    neuro = post(world.manager, world.scanner, local(12, 1, 13), required_exam_families=[family])
    mine = confirmed(world.manager, posting, tech)
    invited = services.booking_invite(actor=world.manager, posting=neuro, technologist=tech)
    elsewhere = post(world.other_manager, world.other_scanner, local(12, 2, 9))
    theirs = confirmed(world.other_manager, elsewhere, other_tech)

    calendar = fetch(person_feed_url(tech))
    found = events(calendar)
    assert set(found) == {f"booking-{mine.pk}@wescan", f"booking-{invited.pk}@wescan"}
    assert f"booking-{theirs.pk}@wescan" not in found

    event = found[f"booking-{mine.pk}@wescan"]
    assert event["STATUS"] == "CONFIRMED"
    assert event["DTSTART"].params["TZID"] == "Europe/Brussels"
    assert event.decoded("DTSTART") == local(11, 30, 8)
    assert event.decoded("DTEND") == local(11, 30, 12)
    assert event.decoded("DTSTART").tzinfo == ZoneInfo("Europe/Brussels")
    assert "Hôpital Sainte-Claire" in event["SUMMARY"]
    assert "MR 1" in event["SUMMARY"]
    assert "Campus Nord" in event["LOCATION"]
    assert event["URL"] == f"http://testserver/bookings/{mine.pk}/"
    assert found[f"booking-{invited.pk}@wescan"]["STATUS"] == "TENTATIVE"
    assert "Exam families: Neuro" in str(found[f"booking-{invited.pk}@wescan"]["DESCRIPTION"])

    zones = [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Brussels"]
    assert calendar.get_missing_tzids() == set()
    assert calendar["VERSION"] == "2.0"
    assert "PRODID" in calendar
    assert calendar["REFRESH-INTERVAL"] == "PT1H"  # RFC 7986: fetch again hourly


def test_a_cancelled_booking_keeps_its_uid_and_says_so(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    url = person_feed_url(tech)
    before = events(fetch(url))[f"booking-{booking.pk}@wescan"]
    clock.now += timedelta(hours=2)
    services.booking_cancel(actor=world.manager, booking=booking, reason="Scanner down")

    after = events(fetch(url))
    assert list(after) == [f"booking-{booking.pk}@wescan"]
    event = after[f"booking-{booking.pk}@wescan"]
    assert event["STATUS"] == "CANCELLED"
    assert event["SUMMARY"].startswith("Cancelled: ")
    assert "Cancelled by the hospital." in str(event["DESCRIPTION"])
    assert event["SEQUENCE"] > before["SEQUENCE"]
    assert event.decoded("DTSTAMP") == clock.now
    assert event.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")
    # Same session times, same zone: a calendar app updates the event it already has.
    assert event.decoded("DTSTART") == before.decoded("DTSTART")


def test_the_sequence_grows_with_every_move(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    url = person_feed_url(tech)
    booking = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    sequences = [events(fetch(url))[f"booking-{booking.pk}@wescan"]["SEQUENCE"]]
    booking = services.booking_accept(actor=tech, booking=booking)
    sequences.append(events(fetch(url))[f"booking-{booking.pk}@wescan"]["SEQUENCE"])
    clock.now = posting.starts_at
    booking = services.booking_start(actor=tech, booking=booking)
    sequences.append(events(fetch(url))[f"booking-{booking.pk}@wescan"]["SEQUENCE"])
    clock.now = posting.ends_at
    services.booking_complete(actor=tech, booking=booking)
    event = events(fetch(url))[f"booking-{booking.pk}@wescan"]
    sequences.append(event["SEQUENCE"])
    assert sequences == [0, 1, 2, 3]
    assert event["STATUS"] == "CONFIRMED"


def test_the_feed_reaches_60_days_back(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    url = person_feed_url(tech)
    clock.now = posting.ends_at + timedelta(days=59)
    assert f"booking-{booking.pk}@wescan" in events(fetch(url))
    clock.now = posting.ends_at + timedelta(days=61)
    assert events(fetch(url)) == {}


def test_declined_bookings_and_patient_notes_stay_out(
    world: World, tech: User, clock: Clock
) -> None:
    noted = post(world.manager, world.scanner, local(12, 1, 8), notes="Use the 64-channel coil")
    booking = services.booking_invite(actor=world.manager, posting=noted, technologist=tech)
    url = person_feed_url(tech)
    assert "64-channel" not in client_for(None).get(url).content.decode()
    services.booking_decline(actor=tech, booking=booking, reason="")
    assert events(fetch(url)) == {}


# --- A hospital's feed ----------------------------------------------------------------------------


def test_a_hospitals_feed_has_its_sessions_in_each_sites_zone(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    lisbon = SiteFactory(hospital=world.hospital, name="Lisboa", time_zone="Europe/Lisbon")
    scanner = ScannerFactory(site=lisbon, name="MR Lisboa")
    open_one = post(
        world.manager, scanner, datetime(2026, 12, 3, 9, tzinfo=ZoneInfo("Europe/Lisbon"))
    )
    dropped = post(world.manager, world.scanner, local(12, 4, 8))
    marketplace_services.posting_cancel(actor=world.manager, posting=dropped, reason="Holiday")
    filled = confirmed(world.manager, posting, tech)
    not_ours = post(world.other_manager, world.other_scanner, local(12, 1, 8))

    calendar = fetch(hospital_feed_url(world))
    found = events(calendar)
    assert set(found) == {
        f"posting-{posting.pk}@wescan",
        f"posting-{open_one.pk}@wescan",
        f"posting-{dropped.pk}@wescan",
    }
    assert f"posting-{not_ours.pk}@wescan" not in found
    booked = found[f"posting-{posting.pk}@wescan"]
    assert booked["STATUS"] == "CONFIRMED"
    assert booked["SUMMARY"] == f"MR 1 · {tech.display_name}"
    assert f"Technologist: {tech.display_name} (confirmed)." in str(booked["DESCRIPTION"])
    assert booked["URL"] == f"http://testserver/postings/{filled.posting_id}/"
    waiting = found[f"posting-{open_one.pk}@wescan"]
    assert waiting["STATUS"] == "TENTATIVE"
    assert waiting["SUMMARY"] == "MR Lisboa · needs a technologist"
    assert waiting["DTSTART"].params["TZID"] == "Europe/Lisbon"
    assert waiting.decoded("DTSTART").hour == 9
    assert found[f"posting-{dropped.pk}@wescan"]["STATUS"] == "CANCELLED"
    assert sorted(str(z["TZID"]) for z in calendar.walk("VTIMEZONE")) == [
        "Europe/Brussels",
        "Europe/Lisbon",
    ]


def test_a_session_keeps_its_uid_as_it_fills_and_opens_again(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    url = hospital_feed_url(world)
    uid = f"posting-{posting.pk}@wescan"
    open_event = events(fetch(url))[uid]
    booking = confirmed(world.manager, posting, tech)
    filled_event = events(fetch(url))[uid]
    clock.now += timedelta(hours=1)
    services.booking_cancel(actor=tech, booking=booking, reason="Ill")
    reopened = events(fetch(url))[uid]
    assert [e["STATUS"] for e in (open_event, filled_event, reopened)] == [
        "TENTATIVE",
        "CONFIRMED",
        "TENTATIVE",
    ]
    assert open_event["SEQUENCE"] < filled_event["SEQUENCE"] < reopened["SEQUENCE"]
    assert reopened.decoded("DTSTAMP") == clock.now


# --- Addresses: unknown, rotated ------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["/calendar/not-a-token-at-all-but-long.ics", "/calendar/short.ics", "/calendar/.ics"],
)
def test_an_unknown_address_is_not_found(world: World, address: str) -> None:
    services.calendar_feed_for(user=world.technologist)
    assert client_for(None).get(address).status_code == 404


def test_rotating_kills_the_old_address(world: World, tech: User, posting: SessionPosting) -> None:
    booking = confirmed(world.manager, posting, tech)
    old = person_feed_url(tech)
    client = client_for(tech)
    response = client.post("/me/calendar/rotate/")
    assert response.status_code == 302
    assert client_for(None).get(old).status_code == 404
    new = person_feed_url(tech)
    assert new != old
    assert f"booking-{booking.pk}@wescan" in events(fetch(new))
    assert AuditEvent.objects.filter(action="calendar_feed.rotated", actor=tech).count() == 1
    page = client.get("/me/calendar/").content.decode()
    assert f"http://testserver{new}" in page
    assert "The calendar has a new address" in page


def test_only_the_owner_rotates(world: World) -> None:
    feed = services.calendar_feed_for(user=world.technologist)
    hospital_feed = services.calendar_feed_for_hospital(
        actor=world.manager, hospital=world.hospital
    )
    with pytest.raises(PermissionDenied):
        services.calendar_feed_rotate(actor=world.manager, feed=feed)
    for person in (world.technologist, world.other_manager):
        with pytest.raises(PermissionDenied):
            services.calendar_feed_rotate(actor=person, feed=hospital_feed)
    assert CalendarFeed.objects.get(pk=feed.pk).token == feed.token
    assert CalendarFeed.objects.get(pk=hospital_feed.pk).token == hospital_feed.token


# --- Pages and API --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", PEOPLE)
def test_the_hospital_calendar_page_is_for_its_managers(world: World, role: str) -> None:
    client = client_for(who(world, role))
    response = client.get(f"/hospitals/{world.hospital.pk}/calendar/")
    assert response.status_code == MANAGER_PAGE[role]
    rotate = client.post(f"/hospitals/{world.hospital.pk}/calendar/rotate/")
    assert rotate.status_code == (302 if MANAGER_PAGE[role] in (200, 302) else MANAGER_PAGE[role])
    if MANAGER_PAGE[role] == 200:
        feed = CalendarFeed.objects.get(hospital=world.hospital)
        assert feed.rotated_at is not None
        page = client.get(f"/hospitals/{world.hospital.pk}/calendar/").content.decode()
        assert f"http://testserver/calendar/{feed.token}.ics" in page
        assert f"webcal://testserver/calendar/{feed.token}.ics" in page
        assert "subscribe" in page.lower()


@pytest.mark.parametrize("role", PEOPLE)
def test_everyone_signed_in_has_their_own_calendar(world: World, role: str) -> None:
    user = who(world, role)
    response = client_for(user).get("/me/calendar/")
    if user is None:
        assert response.status_code == 302
        return
    assert response.status_code == 200
    token = CalendarFeed.objects.get(user=user).token
    assert f"/calendar/{token}.ics" in response.content.decode()
    assert CalendarFeed.objects.filter(kind="person").count() == 1


def test_the_calendar_addresses_over_the_api(world: World) -> None:
    mine = api_as(world.technologist).get("/api/v1/me/calendar/")
    assert mine.status_code == 200
    token = CalendarFeed.objects.get(user=world.technologist).token
    assert mine.json()["url"] == f"http://testserver/calendar/{token}.ics"
    assert mine.json()["webcal_url"] == f"webcal://testserver/calendar/{token}.ics"
    rotated = api_as(world.technologist).post("/api/v1/me/calendar/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["url"] != mine.json()["url"]
    assert rotated.json()["rotated_at"] is not None

    path = f"/api/v1/hospitals/{world.hospital.pk}/calendar/"
    assert api_as(world.manager).get(path).json()["kind"] == "hospital"
    assert api_as(world.other_manager).get(path).status_code == 404
    assert api_as(world.technologist).get(path).status_code == 403
    assert api_as(world.technologist).post(f"{path}rotate/").status_code == 403
    assert api_as(None).get("/api/v1/me/calendar/").status_code == 401


def test_a_session_after_the_clock_change_keeps_its_wall_clock_time(
    world: World, clock: Clock
) -> None:
    # Sunday 28 March 2027 Brussels moves to summer time: 08:00 is then 06:00 UTC, not 07:00.
    winter = post(world.manager, world.scanner, local(12, 7, 8))
    summer = post(
        world.manager,
        world.scanner,
        datetime(2027, 3, 29, 8, tzinfo=ZoneInfo("Europe/Brussels")),
    )
    calendar = fetch(hospital_feed_url(world))
    found = events(calendar)
    assert found[f"posting-{winter.pk}@wescan"].decoded("DTSTART").utcoffset() == timedelta(hours=1)
    start = found[f"posting-{summer.pk}@wescan"].decoded("DTSTART")
    assert (start.hour, start.utcoffset()) == (8, timedelta(hours=2))
    assert start.astimezone(ZoneInfo("UTC")).hour == 6
    (brussels,) = calendar.walk("VTIMEZONE")
    assert {c.name for c in brussels.subcomponents} == {"STANDARD", "DAYLIGHT"}
    raw = client_for(None).get(hospital_feed_url(world)).content.decode()
    assert "DTSTART;TZID=Europe/Brussels:20270329T080000" in raw


def test_a_feed_costs_the_same_queries_however_long(
    world: World, tech: User, clock: Clock, django_assert_num_queries: Any
) -> None:
    def sessions(count: int, first_day: int) -> None:
        for day in range(first_day, first_day + count):
            booking = services.booking_invite(
                actor=world.manager,
                posting=post(world.manager, world.scanner, local(12, day, 8)),
                technologist=tech,
            )
            services.booking_accept(actor=tech, booking=booking)

    sessions(1, 1)
    person, hospital = person_feed_url(tech), hospital_feed_url(world)
    with django_assert_num_queries(4):
        fetch(person)
    with django_assert_num_queries(6):
        fetch(hospital)
    sessions(4, 2)
    with django_assert_num_queries(4):
        fetch(person)
    with django_assert_num_queries(6):
        fetch(hospital)

"""The hospital's no-show: the booked technologist records that the site was not there to scan
(no local staff, the scanner not ready). Evidence decides (scheduling.no_shows): only they may,
only if they joined the booking's cockpit as operator, 15 minutes after the start at the earliest
and 30 minutes after its end at the latest, while the booking is confirmed or in progress and no
exam has started in its cockpit; once they joined, the hospital may no longer record their
no-show. The hospital owes the booked hours in the ledger, its managers are told, and each side's
record counts its own no-shows. On the frozen clock of support.py (sessions from Monday 30
November, Brussels)."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from cockpit import services as cockpit_services
from cockpit.models import CockpitSession
from core.errors import Conflict, PermissionDenied
from core.models import AuditEvent, Notification
from marketplace.models import Role, SessionPosting
from scheduling import ledger, services
from scheduling.models import Booking, BookingStatus, LedgerEntry, LedgerKind, Side
from tests.conftest import PEOPLE, World, api_as, client_for, who
from tests.factories import MembershipFactory, UserFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def lent(world: World, clock: Clock) -> User:
    """Sainte-Claire's technologist, lent by its manager: their hours are Sainte-Claire's."""
    licensed(world.technologist)
    available(world.technologist, actor=world.manager)
    return world.technologist


@pytest.fixture
def at_scheldeland(world: World, lent: User, clock: Clock) -> Booking:
    """Sainte-Claire lends its technologist to Scheldeland, Monday 30 November 08:00–12:00."""
    posting = post(world.other_manager, world.other_scanner, _monday_8())
    return confirmed(world.other_manager, posting, lent)


def _monday_8() -> datetime:
    return local(11, 30, 8)


def _site_no_show(actor: User, booking: Booking) -> Booking:
    return services.booking_mark_site_no_show(actor=actor, booking=booking)


def _joins(booking: Booking, clock: Clock, *, after: timedelta = timedelta(minutes=2)) -> None:
    """The booked technologist connects to the booking's cockpit as operator `after` its start,
    as the relay records it (and waits there: nobody lets them in)."""
    clock.now = booking.starts_at + after
    cockpit = cockpit_services.cockpit_open(booking=booking)
    cockpit_services.cockpit_operator_joined(actor=booking.technologist, cockpit=cockpit)


def _actions(booking: Booking, user: User) -> list[str]:
    (row,) = services.bookings_with_actions([Booking.objects.get(pk=booking.pk)], user=user)
    return list(row.actions)  # type: ignore[attr-defined]


# --- The service ----------------------------------------------------------------------------------


def test_the_technologist_records_the_sites_no_show_and_the_hospital_owes_the_hours(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    _joins(at_scheldeland, clock)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=15)
    booking = _site_no_show(lent, at_scheldeland)

    stored = Booking.objects.get(pk=booking.pk)
    assert (stored.status, stored.no_show_side, stored.closed_at) == (
        BookingStatus.NO_SHOW,
        Side.HOSPITAL,
        clock.now,
    )
    entry = LedgerEntry.objects.get(booking=booking)
    assert (entry.kind, entry.hours, entry.occurred_at) == (
        LedgerKind.HOSPITAL_NO_SHOW,
        Decimal("4.00"),
        clock.now,
    )
    assert (entry.creditor_hospital, entry.debtor_hospital) == (
        world.hospital,
        world.other_hospital,
    )
    assert entry.get_kind_display() == "No-show by the hospital"
    assert ledger.ledger_pair_balance(
        hospital=world.hospital, counterpart=world.other_hospital
    ) == (Decimal("4.00"))
    audit = AuditEvent.objects.filter(action="booking.no_show").get()
    assert (audit.actor, audit.data) == (lent, {"side": "hospital"})
    told = Notification.objects.filter(kind="booking.no_show")
    assert [n.recipient for n in told] == [world.other_manager]
    assert "the site was not there to scan" in told[0].message
    assert "4 h are owed in the ledger" in told[0].message
    # Nothing more happens to it: neither no-show again, nor a start.
    for move in (services.booking_mark_no_show, services.booking_mark_site_no_show):
        actor = world.other_manager if move is services.booking_mark_no_show else lent
        with pytest.raises(Conflict, match="only when confirmed"):
            move(actor=actor, booking=booking)
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    "person", ["other_technologist", "manager", "other_manager", "local_staff", "admin"]
)
def test_only_the_booked_technologist_records_the_sites_no_show(
    world: World, at_scheldeland: Booking, clock: Clock, person: str
) -> None:
    other_technologist = UserFactory(email="other-tech@example.org")
    MembershipFactory(
        user=other_technologist, hospital=world.other_hospital, role=Role.TECHNOLOGIST
    )
    MembershipFactory(user=world.local_staff, hospital=world.other_hospital, role=Role.LOCAL_STAFF)
    actor = {"other_technologist": other_technologist}.get(person) or getattr(world, person)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=30)
    with pytest.raises(PermissionDenied, match=r"Only .* the booked technologist"):
        _site_no_show(actor, at_scheldeland)
    assert Booking.objects.get(pk=at_scheldeland.pk).status == BookingStatus.CONFIRMED
    assert not LedgerEntry.objects.exists()


def test_not_before_15_minutes_after_the_start(
    lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    for moment in (
        at_scheldeland.starts_at - timedelta(hours=2),
        at_scheldeland.starts_at + timedelta(minutes=14, seconds=59),
    ):
        clock.now = moment
        with pytest.raises(Conflict, match="15 minutes after the start at the earliest"):
            _site_no_show(lent, at_scheldeland)
    assert Booking.objects.get(pk=at_scheldeland.pk).status == BookingStatus.CONFIRMED


def test_only_a_confirmed_booking(world: World, lent: User, clock: Clock) -> None:
    posting = post(world.other_manager, world.other_scanner, _monday_8())
    pending = services.booking_apply(actor=lent, posting=posting)
    clock.now = posting.starts_at + timedelta(minutes=20)
    with pytest.raises(Conflict, match="pending; it can be marked as the site's no-show only"):
        _site_no_show(lent, pending)


def test_a_technologist_who_never_joined_the_cockpit_cannot_bill_the_site(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """The tester's case: the cockpit stayed waiting with nobody in it, and the technologist
    clicked "Site not there" at start + 15 minutes. Nothing shows they came: refused, nothing
    owed, not offered; the hospital may record the technologist's no-show instead."""
    CockpitSession.objects.create(booking=at_scheldeland, protocol="brain")  # opened, unvisited
    clock.now = at_scheldeland.starts_at + timedelta(minutes=15)
    assert "site_no_show" not in _actions(at_scheldeland, lent)
    with pytest.raises(Conflict, match="You never joined this session's cockpit"):
        _site_no_show(lent, at_scheldeland)
    assert Booking.objects.get(pk=at_scheldeland.pk).status == BookingStatus.CONFIRMED
    assert not LedgerEntry.objects.exists()
    assert "no_show" in _actions(at_scheldeland, world.other_manager)
    booking = services.booking_mark_no_show(actor=world.other_manager, booking=at_scheldeland)
    assert (booking.status, booking.no_show_side) == (BookingStatus.NO_SHOW, Side.TECHNOLOGIST)


def test_once_the_technologist_joined_the_hospital_cannot_record_their_no_show(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """Whoever clicks first no longer wins: the technologist joined the cockpit (waiting for
    local staff who never came), so they came; the manager is neither offered nor allowed the
    technologist's no-show, and the technologist records the site's."""
    _joins(at_scheldeland, clock, after=timedelta(minutes=-5))
    clock.now = at_scheldeland.starts_at + timedelta(minutes=20)
    assert "no_show" not in _actions(at_scheldeland, world.other_manager)
    assert "site_no_show" in _actions(at_scheldeland, lent)
    with pytest.raises(Conflict, match=r"joined this session's cockpit at 07:55: they came"):
        services.booking_mark_no_show(actor=world.other_manager, booking=at_scheldeland)
    assert Booking.objects.get(pk=at_scheldeland.pk).status == BookingStatus.CONFIRMED
    booking = _site_no_show(lent, at_scheldeland)
    assert booking.no_show_side == Side.HOSPITAL


def test_only_the_first_join_is_kept_and_only_the_operators(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    _joins(at_scheldeland, clock, after=timedelta(minutes=1))
    _joins(at_scheldeland, clock, after=timedelta(minutes=40))
    cockpit = CockpitSession.objects.get(booking=at_scheldeland)
    assert cockpit.operator_joined_at == at_scheldeland.starts_at + timedelta(minutes=1)
    with pytest.raises(PermissionDenied, match="Only the booked technologist"):
        cockpit_services.cockpit_operator_joined(actor=world.other_manager, cockpit=cockpit)


def test_not_later_than_30_minutes_after_the_end(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """A confirmed booking is never moved on after its end: the claim is not made days later."""
    _joins(at_scheldeland, clock)
    for moment, offered in (
        (at_scheldeland.ends_at + timedelta(minutes=30), True),
        (at_scheldeland.ends_at + timedelta(minutes=30, seconds=1), False),
        (at_scheldeland.ends_at + timedelta(days=3), False),
    ):
        clock.now = moment
        assert ("site_no_show" in _actions(at_scheldeland, lent)) is offered, moment
    with pytest.raises(Conflict, match="at the latest 30 minutes after the session's end"):
        _site_no_show(lent, at_scheldeland)
    assert not LedgerEntry.objects.exists()
    clock.now = at_scheldeland.ends_at + timedelta(minutes=29)
    assert _site_no_show(lent, at_scheldeland).status == BookingStatus.NO_SHOW


def test_started_by_hand_but_nobody_there_the_site_no_show_stands(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """The technologist pressed "Start" and joined, but no sequence ever ran: the booking is in
    progress and the site's no-show is still theirs to record, by the same rule."""
    clock.now = at_scheldeland.starts_at
    services.booking_start(actor=lent, booking=at_scheldeland)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=20)
    with pytest.raises(Conflict, match="You never joined"):
        _site_no_show(lent, at_scheldeland)
    _joins(at_scheldeland, clock, after=timedelta(minutes=20))
    assert "site_no_show" in _actions(at_scheldeland, lent)
    booking = _site_no_show(lent, at_scheldeland)
    assert (booking.status, booking.no_show_side) == (BookingStatus.NO_SHOW, Side.HOSPITAL)
    assert LedgerEntry.objects.get(booking=booking).kind == LedgerKind.HOSPITAL_NO_SHOW


def test_started_by_hand_with_an_exam_run_is_no_sites_no_show(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    _joins(at_scheldeland, clock)
    services.booking_start(actor=lent, booking=at_scheldeland)
    cockpit = CockpitSession.objects.get(booking=at_scheldeland)
    cockpit_services.cockpit_mark_started(cockpit=cockpit)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=20)
    assert "site_no_show" not in _actions(at_scheldeland, lent)
    with pytest.raises(Conflict, match="An exam has started in this session's cockpit"):
        _site_no_show(lent, at_scheldeland)


def test_an_exam_started_in_the_cockpit_means_the_site_was_there(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """The cockpit recorded an exam's first sequence while the booking still reads confirmed:
    the site was there, whatever the button says."""
    CockpitSession.objects.create(
        booking=at_scheldeland, protocol="brain", started_at=at_scheldeland.starts_at
    )
    clock.now = at_scheldeland.starts_at + timedelta(minutes=20)
    (shown,) = services.bookings_with_actions([at_scheldeland], user=lent)
    assert "site_no_show" not in shown.actions  # type: ignore[attr-defined]
    with pytest.raises(Conflict, match="An exam has started in this session's cockpit"):
        _site_no_show(lent, at_scheldeland)
    assert not LedgerEntry.objects.exists()


def test_own_staff_owe_nothing(world: World, clock: Clock) -> None:
    """Sainte-Claire's technologist on their own time at Sainte-Claire: nothing passes between
    hospitals, so the site's no-show is on its record but not in the ledger."""
    licensed(world.technologist)
    available(world.technologist)
    booking = confirmed(
        world.manager, post(world.manager, world.scanner, _monday_8()), world.technologist
    )
    _joins(booking, clock)
    clock.now = booking.starts_at + timedelta(minutes=20)
    _site_no_show(world.technologist, booking)
    assert not LedgerEntry.objects.exists()
    told = Notification.objects.get(kind="booking.no_show")
    assert "owed" not in told.message
    assert ledger.record_of_facts(hospital=world.hospital).no_show == 1


# --- What each side is offered --------------------------------------------------------------------


def test_the_technologist_is_offered_it_and_the_manager_the_technologists_no_show(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """Never both: before the technologist joined, only the manager's no-show; once they
    joined, only the technologist's record of the site's."""
    clock.now = at_scheldeland.starts_at + timedelta(minutes=15)
    assert "site_no_show" not in _actions(at_scheldeland, lent)
    assert "no_show" in _actions(at_scheldeland, world.other_manager)
    _joins(at_scheldeland, clock, after=timedelta(minutes=10))
    clock.now = at_scheldeland.starts_at + timedelta(minutes=14)
    assert "site_no_show" not in _actions(at_scheldeland, lent)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=15)
    assert "site_no_show" in _actions(at_scheldeland, lent)
    assert "no_show" not in _actions(at_scheldeland, lent)
    assert "no_show" not in _actions(at_scheldeland, world.other_manager)
    assert "site_no_show" not in _actions(at_scheldeland, world.other_manager)


# --- The record of facts --------------------------------------------------------------------------


def test_each_side_counts_its_own_no_shows(world: World, lent: User, clock: Clock) -> None:
    site_absent = confirmed(
        world.other_manager, post(world.other_manager, world.other_scanner, _monday_8()), lent
    )
    tech_absent = confirmed(
        world.other_manager,
        post(world.other_manager, world.other_scanner, _monday_8() + timedelta(days=1)),
        lent,
    )
    _joins(site_absent, clock)
    clock.now = site_absent.starts_at + timedelta(minutes=20)
    _site_no_show(lent, site_absent)
    clock.now = tech_absent.starts_at + timedelta(minutes=20)
    services.booking_mark_no_show(actor=world.other_manager, booking=tech_absent)

    assert ledger.record_of_facts(technologist=lent).no_show == 1
    assert ledger.record_of_facts(hospital=world.other_hospital).no_show == 1
    assert ledger.record_of_facts(hospital=world.hospital).no_show == 0
    # The technologist's record at Scheldeland: their own no-show only.
    assert ledger.record_of_facts(technologist=lent, hospital=world.other_hospital).no_show == 1
    # Only the site's no-show is owed.
    assert list(LedgerEntry.objects.values_list("booking_id", "kind")) == [
        (site_absent.pk, LedgerKind.HOSPITAL_NO_SHOW)
    ]
    page = client_for(world.other_manager).get(f"/hospitals/{world.other_hospital.pk}/ledger/")
    assert "late cancellations and no-shows are the hospital" in page.content.decode()
    statement = client_for(world.other_manager).get(
        f"/hospitals/{world.other_hospital.pk}/ledger/2026-11/"
    )
    assert "No-show by the hospital" in statement.content.decode()
    csv_text = client_for(world.other_manager).get(
        f"/hospitals/{world.other_hospital.pk}/ledger/2026-11/?format=csv"
    )
    assert "No-show by the hospital" in csv_text.content.decode()


# --- The API --------------------------------------------------------------------------------------

API_SITE_NO_SHOW = {
    "anonymous": 401,
    "outsider": 404,  # not their booking: it does not exist for them
    "other_manager": 404,  # Sainte-Claire's manager on a booking at Sainte-Claire: see below
    "technologist": 200,
    "local_staff": 403,
    "manager": 403,
    "admin": 403,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_the_api_action_per_role(
    world: World, tech: Any, posting: SessionPosting, clock: Clock, person: str
) -> None:
    """A booking at Sainte-Claire (world.hospital): its own managers and staff see it but may
    not record the site's no-show; another hospital's manager does not see it."""
    booking = confirmed(world.manager, posting, tech)
    _joins(booking, clock)
    clock.now = posting.starts_at + timedelta(minutes=20)
    response = api_as(who(world, person)).post(f"/api/v1/bookings/{booking.pk}/site-no-show/")
    assert response.status_code == API_SITE_NO_SHOW[person], response.content
    body = response.json()
    if response.status_code == 200:
        assert (body["status"], body["no_show_side"]) == ("no_show", "hospital")
        assert body["actions"] == []
    else:
        assert set(body["error"]) == {"code", "message", "fields"}
        assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_the_api_lists_it_and_refuses_it_early(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    client = api_as(tech)
    early = client.post(f"/api/v1/bookings/{booking.pk}/site-no-show/")
    assert early.status_code == 409
    assert "15 minutes after the start" in early.json()["error"]["message"]
    clock.now = posting.starts_at + timedelta(minutes=20)
    never_joined = client.post(f"/api/v1/bookings/{booking.pk}/site-no-show/")
    assert never_joined.status_code == 409
    assert "You never joined this session's cockpit" in never_joined.json()["error"]["message"]
    assert "site_no_show" not in client.get("/api/v1/bookings/").json()["results"][0]["actions"]
    _joins(booking, clock)
    clock.now = posting.starts_at + timedelta(minutes=20)
    listed = client.get("/api/v1/bookings/").json()["results"]
    assert "site_no_show" in listed[0]["actions"]
    shown = client.get(f"/api/v1/bookings/{booking.pk}/").json()
    assert "site_no_show" in shown["actions"]
    assert shown["no_show_side"] is None
    for bad in ("abc", "0", "99999999999999999999999"):
        assert client.post(f"/api/v1/bookings/{bad}/site-no-show/").status_code == 404
    schema = api_as(world.admin).get("/api/schema/")
    assert schema.status_code == 200
    assert "/api/v1/bookings/{id}/site-no-show/" in schema.content.decode()
    assert "the site was not there to scan" in schema.content.decode()


def test_an_attacker_cannot_reach_another_hospitals_booking(
    world: World, lent: User, at_scheldeland: Booking, clock: Clock
) -> None:
    """Sainte-Claire's manager tries a Scheldeland booking by id: it does not exist for them,
    on the page as on the API, and nothing changes."""
    intruder = UserFactory(email="intruder@example.org")
    licensed(intruder)
    clock.now = at_scheldeland.starts_at + timedelta(minutes=20)
    for person in (intruder, world.local_staff):
        assert (
            api_as(person).post(f"/api/v1/bookings/{at_scheldeland.pk}/site-no-show/").status_code
            == 404
        )
        assert (
            client_for(person).post(f"/bookings/{at_scheldeland.pk}/site-no-show/").status_code
            == 404
        )
    assert Booking.objects.get(pk=at_scheldeland.pk).status == BookingStatus.CONFIRMED


# --- The page -------------------------------------------------------------------------------------


def test_the_button_on_the_booking_page(
    world: World, tech: Any, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at + timedelta(minutes=20)
    manager_page = client_for(world.manager).get(f"/bookings/{booking.pk}/").content.decode()
    assert 'data-action="no-show"' in manager_page  # nobody has joined yet
    assert (
        'data-action="site-no-show"'
        not in client_for(tech).get(f"/bookings/{booking.pk}/").content.decode()
    )
    _joins(booking, clock)
    clock.now = posting.starts_at + timedelta(minutes=20)
    page = client_for(tech).get(f"/bookings/{booking.pk}/").content.decode()
    assert 'data-action="site-no-show"' in page
    assert 'data-confirm="Record that the site was not there to scan' in page
    manager_page = client_for(world.manager).get(f"/bookings/{booking.pk}/").content.decode()
    assert 'data-action="site-no-show"' not in manager_page
    assert 'data-action="no-show"' not in manager_page  # the technologist came

    # The manager posting to the technologist's action: a message, not an error page.
    refused = client_for(world.manager).post(f"/bookings/{booking.pk}/site-no-show/", follow=True)
    assert "the booked technologist" in refused.content.decode()
    done = client_for(tech).post(f"/bookings/{booking.pk}/site-no-show/", follow=True)
    text = done.content.decode()
    assert "Recorded: the site was not there to scan." in text
    assert "The site was not there to scan (recorded by" in text
    assert 'data-action="site-no-show"' not in text
    assert Booking.objects.get(pk=booking.pk).no_show_side == Side.HOSPITAL

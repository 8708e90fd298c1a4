import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from pytest_django import DjangoDbBlocker

from accounts.models import User
from cockpit.selectors import roles_for, scanner_open_booking
from cockpit.services import assist_request
from core.identifiers import patient_identifier_problems
from core.models import AuditEvent
from marketplace import selectors
from marketplace.models import (
    Hospital,
    Membership,
    PostingStatus,
    Scanner,
    SessionPosting,
    Site,
    TechnologistProfile,
    Urgency,
)
from scheduling.ledger import ledger_balances
from scheduling.models import (
    AvailabilityWindow,
    Booking,
    BookingStatus,
    LedgerEntry,
    OnCallWindow,
)
from tests.conftest import seed_vocabulary

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


# The demo is made relative to "now": each test runs at a working hour, in the small hours and
# late on a Sunday evening (Brussels), never at whatever hour the suite happens to run.
@pytest.fixture(
    scope="module",
    params=[
        datetime(2026, 12, 1, 10, 0, tzinfo=BRUSSELS),
        datetime(2026, 12, 3, 3, 30, tzinfo=BRUSSELS),
        datetime(2026, 12, 6, 23, 45, tzinfo=BRUSSELS),
    ],
    ids=["tuesday-10h00", "thursday-03h30", "sunday-23h45"],
)
def demo_clock(request: pytest.FixtureRequest) -> Iterator[datetime]:
    now: datetime = request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: now.astimezone(UTC))
        yield now


@pytest.fixture(scope="module")
def demo(
    demo_clock: datetime, django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[None]:
    """The demo, loaded once per moment for the tests of this module (2 s a load), in a
    transaction rolled back after them; each test runs in a savepoint of its own within it, so
    what one test writes the next does not see (as Django's TestCase does for a class)."""
    with django_db_blocker.unblock(), transaction.atomic():
        seed_vocabulary()
        call_command("load_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _demo_loaded(demo: None) -> None:
    """Every test here starts from the demo as `make run` loads it."""


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (
            User,
            Hospital,
            Site,
            Scanner,
            Membership,
            TechnologistProfile,
            TechnologistProfile.exam_families.through,
            TechnologistProfile.languages.through,
            SessionPosting,
            SessionPosting.required_exam_families.through,
            AvailabilityWindow,
            OnCallWindow,
            OnCallWindow.exam_families.through,
            Booking,
            LedgerEntry,
            AuditEvent,
        )
    )


def test_demo_data_loads_twice_without_duplicates() -> None:
    first = _counts()  # after the module's load
    verified = sorted(
        TechnologistProfile.objects.filter(licence_verified_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    call_command("load_demo")
    assert _counts() == first
    assert (
        sorted(
            TechnologistProfile.objects.filter(licence_verified_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        == verified
    )


def test_demo_data_is_what_the_readme_promises() -> None:
    assert Hospital.objects.count() == 3
    assert set(Site.objects.values_list("time_zone", flat=True)) >= {
        "Europe/Brussels",
        "Europe/Lisbon",
    }
    assert Scanner.objects.count() >= 6
    assert Scanner.objects.filter(cockpit_ready=True).count() >= 2
    assert Scanner.objects.values("vendor").distinct().count() >= 3
    assert TechnologistProfile.objects.count() >= 10
    assert TechnologistProfile.objects.values("seniority").distinct().count() == 3
    manager = User.objects.get(email="manager@sainte-claire.demo")
    assert manager.check_password("wescan-demo")
    assert Membership.objects.filter(role="manager").count() == 3
    assert User.objects.get(email="admin@wescan.demo").is_staff
    # Independent technologists belong to no hospital.
    assert User.objects.filter(email__endswith="@independent.demo", memberships=None).exists()


def test_demo_technologists_show_every_licence_state() -> None:
    profiles = list(TechnologistProfile.objects.prefetch_related("languages", "exam_families"))
    reasons = {p.user.email: p.ineligibility_reasons() for p in profiles}
    eligible = [email for email, why in reasons.items() if not why]
    assert len(eligible) >= len(profiles) - 3
    assert 2 <= sum("not been verified" in " ".join(why) for why in reasons.values()) <= 3
    assert any("expired" in " ".join(why) for why in reasons.values())
    assert all(p.licence_number and p.licence_authority for p in profiles)
    languages = {lang.code for p in profiles for lang in p.languages.all()}
    assert languages >= {"nl", "fr", "en", "pt", "de"}
    assert len({f.code for p in profiles for f in p.exam_families.all()}) >= 8
    # The admin who verified is on record.
    admin = User.objects.get(email="admin@wescan.demo")
    verified = [p for p in profiles if p.licence_verified_at]
    assert verified
    assert {p.licence_verified_by for p in verified} == {admin}


def test_demo_postings_fill_every_lane_on_cockpit_ready_scanners() -> None:
    now = timezone.now()
    # Open, or filled by the demo's bookings: upcoming work either way.
    open_postings = SessionPosting.objects.filter(
        status__in=[PostingStatus.OPEN, PostingStatus.FILLED], starts_at__gt=now
    ).select_related("site", "scanner")
    assert open_postings.count() >= 30
    assert open_postings.filter(status=PostingStatus.OPEN).count() >= 25
    assert set(open_postings.values_list("urgency", flat=True)) == set(Urgency.values)
    assert open_postings.values("hospital").distinct().count() == 3
    assert open_postings.filter(languages__isnull=False).distinct().exists()
    assert open_postings.filter(compensation="hourly_rate").exists()
    assert SessionPosting.objects.filter(status=PostingStatus.DRAFT).count() >= 2
    for posting in open_postings:
        assert posting.scanner.cockpit_ready
        assert now < posting.starts_at < now + timedelta(days=22)
        local = posting.starts_at.astimezone(ZoneInfo(posting.site.time_zone))
        if posting.starts_at > now + timedelta(minutes=15):
            # Sensible local hours, except the live sessions booked to start within minutes
            # whatever the hour (test_demo_cockpits_are_live_on_every_cockpit_ready_scanner).
            assert 7 <= local.hour <= 20, posting
        assert posting.required_exam_families.exists()
        assert patient_identifier_problems(posting.notes) == []


def test_demo_availability_is_weekly_and_partly_lent() -> None:
    # The one-off windows are those of the sessions happening now (test_demo_cockpits_are_live).
    windows = AvailabilityWindow.objects.select_related("technologist", "lending_hospital").exclude(
        rrule=""
    )
    technologists = TechnologistProfile.objects.count()
    assert windows.values("technologist").distinct().count() > technologists / 2
    assert all(w.rrule.startswith("FREQ=WEEKLY") for w in windows)
    now = timezone.now()
    for window in windows:
        assert window.last_ends_at is not None
        assert now + timedelta(days=21) < window.last_ends_at
        assert window.last_ends_at < now + timedelta(days=30)
        assert len(window.occurrences(now, now + timedelta(days=28))) >= 4
    lent = [w for w in windows if w.lending_hospital]
    assert lent
    for window in lent:
        assert window.created_by is not None
        assert window.created_by != window.technologist
        assert Membership.objects.filter(
            user=window.technologist, hospital=window.lending_hospital, role="technologist"
        ).exists()
        assert Membership.objects.filter(
            user=window.created_by, hospital=window.lending_hospital, role="manager"
        ).exists()


def test_every_eligible_demo_technologist_sees_open_postings() -> None:
    seen = 0
    for profile in TechnologistProfile.objects.select_related("user"):
        postings = list(selectors.open_postings_for(profile=profile))
        if profile.ineligibility_reasons():
            assert postings == [], profile.user.email
            continue
        booked = Booking.objects.filter(technologist=profile.user).exists()
        assert postings or booked, f"{profile.user.email} qualifies for no demo posting"
        seen += 1
    assert seen >= 8


def test_demo_has_bookings_to_answer_and_a_ledger_to_read() -> None:
    upcoming = Booking.objects.filter(starts_at__gt=timezone.now())
    for hospital in Hospital.objects.all():
        mine = upcoming.filter(posting__hospital=hospital)
        assert mine.filter(status=BookingStatus.CONFIRMED).exists(), hospital
        assert mine.filter(status=BookingStatus.PENDING, initiated_by="hospital").exists(), hospital
    # Every booked posting is filled, and only those.
    for booking in upcoming.filter(status=BookingStatus.CONFIRMED):
        assert booking.posting.status == PostingStatus.FILLED
    completed = Booking.objects.filter(status=BookingStatus.COMPLETED)
    # The past weeks' handful without a cockpit, and six months of history run through cockpits
    # (tests/operations/test_demo_history.py).
    assert completed.filter(cockpit__isnull=True).count() == 6
    assert completed.filter(cockpit__isnull=False).count() > 100
    scheldeland = Hospital.objects.get(name__contains="Scheldeland")
    balances = ledger_balances(hospital=scheldeland)
    assert any(balance.balance != 0 for balance in balances)


def test_demo_cockpits_are_live_on_every_cockpit_ready_scanner() -> None:
    """A new user signs in and finds a console at once: each cockpit-ready scanner has a session
    starting within minutes, booked with a technologist who is available for it, its cockpit open
    and the operator's join approved by the local staff."""
    call_command("load_demo")  # and again: the same sessions, no second one
    now = timezone.now()
    ready = Scanner.objects.filter(cockpit_ready=True)
    assert ready.count() == 4
    for scanner in ready:
        booking = scanner_open_booking(scanner=scanner)
        assert booking is not None, scanner.name
        assert booking.status == "confirmed"
        assert booking.starts_at - timedelta(minutes=15) <= now < booking.ends_at
        assert (
            Booking.objects.filter(
                posting__scanner=scanner,
                starts_at__lte=now + timedelta(minutes=15),
                status="confirmed",
            ).count()
            == 1
        )
        cockpit = booking.cockpit
        assert cockpit.join_approved_by.email == f"local@{_domain(scanner)}"
        assert roles_for(booking.technologist, cockpit) == ["operator"]
        assert AvailabilityWindow.objects.filter(
            technologist=booking.technologist,
            starts_at__lte=booking.starts_at,
            ends_at__gte=booking.ends_at,
        ).exists()


def test_todays_demo_bookings_carry_the_hospital_that_lends_the_technologist() -> None:
    """A technologist of a hospital operating a live demo cockpit is lent by that hospital, as
    any booking is (the lending hospital comes from the availability window: published by their
    manager): the reciprocity figures and the ledger credit the hospital, a no-show is the
    hospital's, never the person's as if they were independent."""
    live = [
        booking
        for scanner in Scanner.objects.filter(cockpit_ready=True)
        if (booking := scanner_open_booking(scanner=scanner)) is not None
    ]
    assert len(live) == 4
    for booking in live:
        home = Membership.objects.get(user=booking.technologist, role="technologist").hospital
        assert booking.lending_hospital == home, booking
    # Pieter (Scheldeland) at Sainte-Claire: Scheldeland lends him.
    (pieter,) = [b for b in live if b.technologist.email.startswith("pieter.")]
    assert pieter.lending_hospital is not None
    assert "Scheldeland" in pieter.lending_hospital.name
    # Every upcoming booking of a hospital's technologist whose window that hospital published
    # carries it; the others are on the technologist's own time (they published it themselves).
    for booking in Booking.objects.filter(
        starts_at__gt=timezone.now(), status__in=["pending", "confirmed"]
    ).select_related("lending_hospital"):
        if booking.lending_hospital is not None:
            assert Membership.objects.filter(
                user=booking.technologist, hospital=booking.lending_hospital, role="technologist"
            ).exists()


def _domain(scanner: Scanner) -> str:
    return User.objects.get(
        memberships__hospital=scanner.site.hospital, memberships__role="local_staff"
    ).email.split("@")[1]


def test_every_live_demo_cockpit_has_a_senior_on_call_to_help() -> None:
    """The operator of each live cockpit asks for help with the session's exam family: seniors
    of other hospitals are asked at once (stage 1), and `load_demo` named them."""
    out = io.StringIO()
    call_command("load_demo", stdout=out)  # again, for the guide it prints
    printed = out.getvalue().split("Seniors on call now")[1]
    for scanner in Scanner.objects.filter(cockpit_ready=True):
        booking = scanner_open_booking(scanner=scanner)
        assert booking is not None, scanner.name
        family = booking.posting.required_exam_families.get()
        assist = assist_request(
            actor=booking.technologist,
            role="operator",
            cockpit=booking.cockpit,
            exam_family=family.code,
        )
        assert assist.stage == 1, scanner.name
        asked = list(User.objects.filter(assist_notices__request=assist))
        assert asked, scanner.name
        for senior in asked:
            assert senior.technologist_profile.seniority == "senior"
            assert not Membership.objects.filter(
                user=senior, hospital=scanner.site.hospital
            ).exists()
            assert senior.email in printed


def test_the_demo_on_call_schedule_fills_the_week() -> None:
    windows = OnCallWindow.objects.select_related("technologist__technologist_profile")
    assert windows.values("technologist").distinct().count() >= 5
    assert all(w.technologist.technologist_profile.seniority != "junior" for w in windows)
    now = timezone.now()
    week = [w for w in windows if w.rrule.startswith("FREQ=WEEKLY")]
    assert len(week) >= 3
    assert all(w.occurrences(now, now + timedelta(days=7)) for w in week)
    assert all(
        now + timedelta(days=21) < w.last_ends_at < now + timedelta(days=30) for w in windows
    )
    lent = [w for w in windows if w.lending_hospital]
    assert lent
    for window in lent:
        assert Membership.objects.filter(
            user=window.created_by, hospital=window.lending_hospital, role="manager"
        ).exists()

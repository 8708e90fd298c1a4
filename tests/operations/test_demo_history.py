"""The demo's six months of history (operations/demo_history.py), as the dashboard will read it:
exam hours and the fill rate grow week by week, both sides cancel late and miss sessions, help is
asked for and answered (or escalated, or not), every cockpit of the past ended with its exam
record, the ledger holds what its services would have written, nothing is left open, and
loading twice adds nothing. On a frozen clock, as tests/marketplace/test_demo.py."""

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from cockpit.models import (
    AssistRequest,
    AssistStatus,
    CockpitSession,
    CockpitStop,
    ExamRecord,
)
from core.identifiers import patient_identifier_problems
from marketplace.models import Hospital, Membership, PostingStatus, SessionPosting, Urgency
from operations.demo_history import WEEKS
from scheduling import workload
from scheduling.ledger import ledger_balances, record_of_facts, worked_hours
from scheduling.models import Booking, BookingStatus, LedgerEntry, LedgerKind, Side

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=BRUSSELS)
SUNDAY_LATE = datetime(2026, 12, 6, 23, 45, tzinfo=BRUSSELS)
# Monday of the week TUESDAY is in: the history ends before it.
THIS_MONDAY = date(2026, 11, 30)
FIRST_MONDAY = THIS_MONDAY - timedelta(weeks=WEEKS)


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> object:
    def freeze(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment.astimezone(UTC))

    freeze(TUESDAY)
    return freeze


def _load() -> None:
    call_command("load_demo", stdout=io.StringIO(), stderr=io.StringIO())


def _history() -> "list[CockpitSession]":
    start = datetime.combine(FIRST_MONDAY, datetime.min.time(), tzinfo=BRUSSELS)
    end = datetime.combine(THIS_MONDAY, datetime.min.time(), tzinfo=BRUSSELS)
    return list(
        CockpitSession.objects.filter(
            booking__starts_at__gte=start, booking__starts_at__lt=end
        ).select_related("booking__posting")
    )


def _week(moment: datetime) -> int:
    return (moment.astimezone(BRUSSELS).date() - FIRST_MONDAY).days // 7


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def test_exam_hours_and_the_fill_rate_grow_week_by_week(at: object) -> None:
    _load()
    hours = [0.0] * WEEKS
    for cockpit in _history():
        assert cockpit.started_at is not None
        assert cockpit.ended_at is not None
        hours[_week(cockpit.started_at)] += _hours(cockpit.ended_at - cockpit.started_at)
    quarter = WEEKS // 4
    early, late = sum(hours[:quarter]) / quarter, sum(hours[-quarter:]) / quarter
    assert early < 10, hours
    assert late > 30, hours
    assert late > 3 * early
    # Every week has some, and no week falls back below the first quarter's best.
    assert all(h > 0 for h in hours), hours
    assert min(hours[-quarter:]) > max(hours[:quarter])

    published: dict[int, int] = defaultdict(int)
    staffed: dict[int, int] = defaultdict(int)
    start = datetime.combine(FIRST_MONDAY, datetime.min.time(), tzinfo=BRUSSELS)
    end = datetime.combine(THIS_MONDAY, datetime.min.time(), tzinfo=BRUSSELS)
    for posting in SessionPosting.objects.filter(
        starts_at__gte=start, starts_at__lt=end
    ).prefetch_related("bookings"):
        week = _week(posting.starts_at)
        published[week] += 1
        if any(
            b.status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
            for b in posting.bookings.all()
        ):
            staffed[week] += 1

    def rate(weeks: range) -> float:
        return sum(staffed[w] for w in weeks) / sum(published[w] for w in weeks)

    assert rate(range(quarter)) < 0.55
    assert rate(range(WEEKS - quarter, WEEKS)) > 0.75


def test_postings_in_every_lane_published_ahead_and_some_unfilled(at: object) -> None:
    _load()
    end = datetime.combine(THIS_MONDAY, datetime.min.time(), tzinfo=BRUSSELS)
    past = SessionPosting.objects.filter(starts_at__lt=end - timedelta(weeks=5))
    assert set(past.values_list("urgency", flat=True)) == set(Urgency.values)
    ahead = [p.starts_at - p.published_at for p in past if p.published_at is not None]
    assert len(ahead) == past.count()
    assert min(ahead) >= timedelta(hours=8)
    assert max(ahead) >= timedelta(days=14)
    unfilled = past.filter(status=PostingStatus.EXPIRED, bookings__isnull=True)
    assert unfilled.count() >= 20
    # Confirmed after publishing and before the start, urgent ones within hours.
    for booking in Booking.objects.filter(
        posting__in=past, confirmed_at__isnull=False
    ).select_related("posting"):
        assert booking.posting.published_at is not None
        assert booking.posting.published_at < booking.confirmed_at < booking.starts_at
        assert booking.technologist_id not in set(
            Membership.objects.filter(hospital_id=booking.posting.hospital_id).values_list(
                "user_id", flat=True
            )
        )


def test_both_sides_cancel_late_and_miss_sessions(at: object) -> None:
    _load()
    cancelled = Booking.objects.filter(status=BookingStatus.CANCELLED, late=True)
    assert cancelled.filter(cancelled_side="hospital").count() >= 2
    assert cancelled.filter(cancelled_side="technologist").count() >= 2
    for booking in cancelled:
        assert booking.cancel_reason
        assert Decimal(0) < booking.cancelled_hours_before < 24
        assert booking.posting.status == PostingStatus.EXPIRED
    no_shows = Booking.objects.filter(status=BookingStatus.NO_SHOW)
    assert no_shows.filter(no_show_side=Side.HOSPITAL).count() >= 2
    assert no_shows.filter(no_show_side=Side.TECHNOLOGIST).count() >= 2
    # Each side's record counts its own.
    for hospital in Hospital.objects.all():
        mine = no_shows.filter(posting__hospital=hospital, no_show_side=Side.HOSPITAL).count()
        assert record_of_facts(hospital=hospital).no_show == mine


def test_help_is_answered_escalated_or_left_unanswered_and_always_closed(at: object) -> None:
    _load()
    requests = AssistRequest.objects.select_related("cockpit__booking__posting", "accepted_by")
    assert not requests.filter(status__in=[AssistStatus.OPEN, AssistStatus.ACCEPTED]).exists()
    answered = requests.filter(status=AssistStatus.RESOLVED)
    assert answered.filter(stage=1).count() >= 5
    assert answered.filter(stage=2).exists()
    assert answered.filter(stage=3).exists()
    unanswered = requests.filter(status=AssistStatus.EXPIRED, accepted_by__isnull=True)
    assert unanswered.count() >= 2
    for request in answered:
        assert request.accepted_at is not None
        assert request.ended_at is not None
        wait = request.accepted_at - request.created_at
        assert timedelta(0) < wait < timedelta(minutes=25)
        if request.stage == 1:
            assert wait < timedelta(minutes=10)
        cockpit = request.cockpit
        assert cockpit.started_at is not None
        assert cockpit.ended_at is not None
        assert cockpit.started_at < request.created_at < request.ended_at <= cockpit.ended_at
        assert request.accepted_by_id != cockpit.booking.technologist_id
        assert not Membership.objects.filter(
            user=request.accepted_by, hospital_id=cockpit.booking.posting.hospital_id
        ).exists()
        assert not patient_identifier_problems(request.note), request.note


def test_every_past_cockpit_ended_with_its_exam_record(at: object) -> None:
    _load()
    history = _history()
    assert len(history) > 100
    outcomes = set()
    for cockpit in history:
        booking = cockpit.booking
        assert booking.status == BookingStatus.COMPLETED
        record = ExamRecord.objects.get(cockpit=cockpit)
        outcomes.add(record.outcome)
        assert record.ended_at == cockpit.ended_at == booking.completed_at
        assert cockpit.started_at == booking.started_at
        assert booking.starts_at < cockpit.started_at < cockpit.ended_at <= booking.ends_at
        assert record.sequences_done <= record.sequences_total == len(record.sequences)
    assert outcomes == {"completed", "partial", "aborted"}
    stops = CockpitStop.objects.all()
    assert stops.count() >= 5
    for stop in stops:
        assert stop.reason
        assert not patient_identifier_problems(stop.reason), stop.reason
    for note in SessionPosting.objects.values_list("notes", flat=True):
        assert not patient_identifier_problems(note), note
    # The only cockpits still open are the demo's live ones, starting about now.
    now = timezone.now()
    for cockpit in CockpitSession.objects.filter(ended_at__isnull=True).select_related("booking"):
        assert abs(cockpit.booking.starts_at - now) < timedelta(minutes=15)


def test_the_ledger_holds_what_its_services_write(at: object) -> None:
    _load()
    entries = LedgerEntry.objects.select_related("booking", "assist")
    kinds = set(entries.values_list("kind", flat=True))
    assert kinds == {
        LedgerKind.COMPLETED,
        LedgerKind.LATE_CANCELLATION,
        LedgerKind.HOSPITAL_NO_SHOW,
        LedgerKind.ASSIST,
    }
    for entry in entries:
        booking = entry.booking
        assert entry.debtor_hospital_id == Booking.objects.get(pk=booking.pk).posting.hospital_id
        if entry.kind == LedgerKind.COMPLETED:
            assert entry.hours == worked_hours(
                started_at=booking.started_at,
                completed_at=booking.completed_at,
                booked=booking.hours,
            )
            assert entry.occurred_at == booking.completed_at
            assert entry.creditor_hospital_id == booking.lending_hospital_id
        elif entry.kind == LedgerKind.LATE_CANCELLATION:
            assert (booking.cancelled_side, booking.late) == ("hospital", True)
            assert entry.hours == booking.hours
        elif entry.kind == LedgerKind.HOSPITAL_NO_SHOW:
            assert booking.no_show_side == Side.HOSPITAL
            assert entry.hours == booking.hours
        else:
            assist = entry.assist
            assert assist is not None
            assert assist.accepted_at is not None
            assert assist.ended_at is not None
            assert entry.creditor_hospital_id == assist.senior_hospital_id
            expected = Decimal((assist.ended_at - assist.accepted_at).total_seconds()) / 3600
            assert entry.hours == expected.quantize(Decimal("0.01"))
    # No entry for what a technologist missed or cancelled.
    assert not entries.filter(booking__no_show_side=Side.TECHNOLOGIST).exists()
    assert not entries.filter(booking__cancelled_side="technologist").exists()
    # The balances the ledger pages show are the entries' sums.
    for hospital in Hospital.objects.all():
        by_hand: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        for entry in entries:
            if entry.creditor_hospital_id == hospital.pk:
                by_hand[("hospital", entry.debtor_hospital_id)] += entry.hours
            elif entry.debtor_hospital_id == hospital.pk:
                if entry.creditor_hospital_id is not None:
                    by_hand[("hospital", entry.creditor_hospital_id)] -= entry.hours
                else:
                    assert entry.creditor_technologist_id is not None
                    by_hand[("technologist", entry.creditor_technologist_id)] -= entry.hours
        shown = {
            (b.counterpart.kind, b.counterpart.id): b.balance
            for b in ledger_balances(hospital=hospital)
        }
        assert shown == dict(by_hand)


@pytest.mark.parametrize("moment", [TUESDAY, SUNDAY_LATE], ids=["tuesday", "sunday-late"])
def test_the_history_ends_before_this_week_and_caps_no_one(at: object, moment: datetime) -> None:
    at(moment)  # type: ignore[operator]
    _load()
    monday = moment.date() - timedelta(days=moment.weekday())
    start_of_week = datetime.combine(monday, datetime.min.time(), tzinfo=BRUSSELS)
    assert not CockpitSession.objects.filter(
        ended_at__isnull=False, booking__starts_at__gte=start_of_week
    ).exists()
    now = timezone.now()
    for technologist_id in Booking.objects.values_list("technologist_id", flat=True).distinct():
        for weeks in range(5):
            held = workload.hours_held(
                technologist_id=technologist_id,
                moment=now + timedelta(weeks=weeks),
                zone=BRUSSELS,
            )
            assert held <= workload.WEEKLY_CAP_HOURS


def test_loading_twice_changes_nothing(at: object) -> None:
    def counts() -> tuple[int, ...]:
        return tuple(
            model.objects.count()
            for model in (
                SessionPosting,
                SessionPosting.required_exam_families.through,
                Booking,
                CockpitSession,
                ExamRecord,
                CockpitStop,
                AssistRequest,
                LedgerEntry,
            )
        )

    _load()
    first = counts()
    hours = sorted(LedgerEntry.objects.values_list("hours", flat=True))
    _load()
    assert counts() == first
    assert sorted(LedgerEntry.objects.values_list("hours", flat=True)) == hours

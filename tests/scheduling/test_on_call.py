"""The on-call schedule of senior technologists: who may publish a window and for which exam
families, lending by a manager, who may remove one, going on call now, the on-call switch, and
which moments a recurring window covers across a change of the clocks.

On the frozen clock of tests/scheduling/support.py (Monday 23 November 2026, 09:00 UTC)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.models import User
from cockpit import selectors as cockpit_selectors
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEvent
from marketplace.models import ExamFamily, Role, Seniority, TechnologistProfile
from scheduling.models import OnCallWindow
from scheduling.services.on_call import (
    on_call_create,
    on_call_delete,
    on_call_now,
    on_call_pause,
)
from tests.conftest import World
from tests.factories import MembershipFactory, UserFactory
from tests.factories_supply import LicensedTechnologistFactory
from tests.scheduling.support import NOW, Clock, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def senior(world: World, clock: Clock) -> User:
    """The hospital's technologist, a senior competent in neuro and MSK."""
    LicensedTechnologistFactory(
        user=world.technologist, seniority=Seniority.SENIOR, exam_families=["neuro", "msk"]
    )
    return world.technologist


def _weekdays(technologist: User, *, actor: User | None = None, **options: Any) -> OnCallWindow:
    """Weekdays 08:00–18:00 Brussels from next Monday."""
    fields: dict[str, Any] = {
        "starts_at": local(11, 30, 8),
        "ends_at": local(11, 30, 18),
        "time_zone": "Europe/Brussels",
        "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        **options,
    }
    return on_call_create(actor=actor or technologist, technologist=technologist, **fields)


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


def test_a_senior_goes_on_call_for_some_of_their_families(senior: User) -> None:
    window = _weekdays(senior, exam_families=["neuro"])
    assert list(window.exam_families.values_list("code", flat=True)) == ["neuro"]
    assert (window.lending_hospital, window.created_by) == (None, senior)
    assert window.is_recurring
    assert window.last_ends_at is None
    event = AuditEvent.objects.get(action="on_call.created")
    assert (event.actor, event.hospital) == (senior, None)
    assert event.data == {
        "technologist": senior.pk,
        "recurring": True,
        "exam_families": ["neuro"],
    }


def test_the_time_zone_defaults_to_the_technologists_home(senior: User) -> None:
    TechnologistProfile.objects.filter(user=senior).update(home_time_zone="Europe/Lisbon")
    window = on_call_create(
        actor=senior,
        technologist=senior,
        starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=3),
    )
    assert window.time_zone == "Europe/Lisbon"
    assert not window.is_recurring
    assert window.last_ends_at == NOW + timedelta(hours=3)


def test_an_experienced_technologist_keeps_a_schedule_too(world: World, clock: Clock) -> None:
    LicensedTechnologistFactory(user=world.technologist, seniority=Seniority.EXPERIENCED)
    assert _weekdays(world.technologist).pk is not None


def test_juniors_and_people_without_a_profile_are_refused(world: World, clock: Clock) -> None:
    with pytest.raises(ValidationFailed, match="Only technologists with a profile"):
        _weekdays(world.technologist)
    LicensedTechnologistFactory(user=world.technologist, seniority=Seniority.JUNIOR)
    with pytest.raises(ValidationFailed, match="as a junior, ask for help from the cockpit"):
        _weekdays(world.technologist)
    with pytest.raises(ValidationFailed, match="as a junior"):
        on_call_now(actor=world.technologist, hours=2)
    assert not OnCallWindow.objects.exists()
    assert _actions() == []


def test_only_families_on_the_profile(senior: User) -> None:
    with pytest.raises(ValidationFailed) as outside:
        _weekdays(senior, exam_families=["neuro", "cardiac"])
    assert outside.value.fields == {"exam_families": ["Cardiac is not on the profile."]}
    with pytest.raises(ValidationFailed) as unknown:
        _weekdays(senior, exam_families=["neuro", "dentistry"])
    assert unknown.value.fields == {"exam_families": ["No exam family 'dentistry'."]}
    assert not OnCallWindow.objects.exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=HOURLY"}, "rrule"),
        ({"rrule": "DTSTART:20261130T080000\nFREQ=DAILY"}, "rrule"),
        ({"ends_at": local(11, 30, 7)}, "ends_at"),
        ({"ends_at": local(12, 2, 8)}, "ends_at"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"rrule": "", "starts_at": local(11, 20, 8), "ends_at": local(11, 20, 12)}, "ends_at"),
    ],
    ids=["bad-rule", "hourly", "dtstart", "ends-first", "over-24h", "bad-zone", "in-the-past"],
)
def test_a_window_that_makes_no_sense_is_refused(
    senior: User, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _weekdays(senior, **options)
    assert field in refused.value.fields
    assert not OnCallWindow.objects.exists()


def test_a_manager_lends_their_senior(world: World, senior: User) -> None:
    window = _weekdays(senior, actor=world.manager)
    assert (window.lending_hospital, window.created_by) == (world.hospital, world.manager)
    event = AuditEvent.objects.get(action="on_call.created")
    assert (event.actor, event.hospital) == (world.manager, world.hospital)


def test_nobody_else_publishes_for_a_senior(world: World, senior: User) -> None:
    with pytest.raises(NotFound):
        _weekdays(senior, actor=world.other_manager)
    colleague = UserFactory()
    MembershipFactory(user=colleague, hospital=world.hospital, role=Role.TECHNOLOGIST)
    with pytest.raises(NotFound):
        _weekdays(senior, actor=colleague)
    # A technologist does not lend themselves on behalf of their hospital.
    with pytest.raises(PermissionDenied, match="Only a manager of that hospital lends"):
        _weekdays(senior, lending_hospital=world.hospital)
    assert not OnCallWindow.objects.exists()


def test_who_removes_a_window(world: World, senior: User) -> None:
    own = _weekdays(senior)
    colleague = UserFactory()
    MembershipFactory(user=colleague, hospital=world.hospital, role=Role.TECHNOLOGIST)
    # Another technologist, or another hospital's manager: it does not exist for them.
    for stranger in (colleague, world.other_manager):
        with pytest.raises(NotFound):
            on_call_delete(actor=stranger, window=own)
    # Their own manager sees it, but a window the senior published is theirs to change.
    with pytest.raises(PermissionDenied, match="Only the technologist changes"):
        on_call_delete(actor=world.manager, window=own)
    assert OnCallWindow.objects.filter(pk=own.pk).exists()

    on_call_delete(actor=senior, window=own)
    lent = _weekdays(senior, actor=world.manager)
    on_call_delete(actor=world.manager, window=lent)
    # A platform admin may remove any.
    on_call_delete(actor=world.admin, window=_weekdays(senior))
    assert not OnCallWindow.objects.exists()
    deleted = AuditEvent.objects.filter(action="on_call.deleted").order_by("pk")
    assert [(event.actor, event.hospital) for event in deleted] == [
        (senior, None),
        (world.manager, world.hospital),
        (world.admin, None),
    ]


def test_going_on_call_now_turns_the_switch_on(senior: User, clock: Clock) -> None:
    on_call_pause(actor=senior, technologist=senior, paused=True)
    window = on_call_now(actor=senior, hours=2.5, exam_families=["msk"])
    assert (window.starts_at, window.ends_at) == (NOW, NOW + timedelta(hours=2, minutes=30))
    assert list(window.exam_families.values_list("code", flat=True)) == ["msk"]
    assert not TechnologistProfile.objects.get(user=senior).on_call_paused
    msk = ExamFamily.objects.get(code="msk")
    assert cockpit_selectors.on_call_now(now=NOW, exam_family_id=msk.pk) == {senior.pk}
    assert _actions() == ["on_call.paused", "on_call.created", "on_call.resumed"]


@pytest.mark.parametrize("hours", [0.1, 12.5, -1])
def test_on_call_now_is_a_quarter_of_an_hour_to_twelve_hours(senior: User, hours: float) -> None:
    with pytest.raises(ValidationFailed, match="between a quarter of an hour and 12 hours"):
        on_call_now(actor=senior, hours=hours)
    assert not OnCallWindow.objects.exists()


def test_the_switch_is_the_seniors_own(world: World, senior: User) -> None:
    window = on_call_now(actor=senior, hours=4)
    assert window.covers(NOW)
    with pytest.raises(PermissionDenied):
        on_call_pause(actor=world.manager, technologist=senior, paused=True)

    on_call_pause(actor=senior, technologist=senior, paused=True)
    on_call_pause(actor=senior, technologist=senior, paused=True)  # no change, no record
    assert cockpit_selectors.on_call_now(now=NOW) == set()
    on_call_pause(actor=senior, technologist=senior, paused=False)
    assert cockpit_selectors.on_call_now(now=NOW) == {senior.pk}
    assert _actions() == ["on_call.created", "on_call.paused", "on_call.resumed"]


def test_a_recurring_window_follows_the_wall_clock_across_a_dst_change(
    senior: User, clock: Clock
) -> None:
    """Every day 08:00–12:00 in Brussels from Friday 23 October 2026; the clocks go back on
    Sunday 25 October, so 08:00 is 06:00 UTC before and 07:00 UTC after. Not on Tuesday 27."""
    clock.now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    window = on_call_create(
        actor=senior,
        technologist=senior,
        starts_at=local(10, 23, 8),
        ends_at=local(10, 23, 12),
        time_zone="Europe/Brussels",
        rrule="FREQ=DAILY",
        exdates=["2026-10-27T08:00"],
        exam_families=["neuro"],
    )
    neuro = ExamFamily.objects.get(code="neuro")
    msk = ExamFamily.objects.get(code="msk")

    def on_call(day: int, hour: int, minute: int = 30) -> bool:
        moment = datetime(2026, 10, day, hour, minute, tzinfo=UTC)
        covered = window.covers(moment)
        selected = senior.pk in cockpit_selectors.on_call_now(now=moment, exam_family_id=neuro.pk)
        assert covered == selected, moment
        return covered

    # Saturday 24, summer time (UTC+2).
    assert [on_call(24, hour) for hour in (5, 6, 9, 10)] == [False, True, True, False]
    # Monday 26, winter time (UTC+1): an hour later in UTC.
    assert [on_call(26, hour) for hour in (6, 7, 10, 11)] == [False, True, True, False]
    assert on_call(26, 6, 59) is False
    assert on_call(26, 7, 0) is True
    # Tuesday 27 is excluded; Wednesday 28 is on again.
    assert [on_call(27, hour) for hour in (7, 9)] == [False, False]
    assert on_call(28, 9) is True
    # On call for neuro only: asked for MSK, nobody.
    moment = datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
    assert cockpit_selectors.on_call_now(now=moment, exam_family_id=msk.pk) == set()

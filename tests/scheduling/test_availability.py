"""Publishing availability: oneself, or lent by a manager of one's hospital, never by others."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEvent
from marketplace.models import Role
from scheduling import selectors, services
from scheduling.models import AvailabilityWindow
from tests.conftest import World
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


def _next_monday_8() -> datetime:
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=BRUSSELS)


def _publish(world: World, **overrides: object) -> AvailabilityWindow:
    start = _next_monday_8()
    options: dict[str, object] = {
        "actor": world.technologist,
        "technologist": world.technologist,
        "starts_at": start,
        "ends_at": start + timedelta(hours=4),
        "time_zone": "Europe/Brussels",
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE",
        **overrides,
    }
    return services.availability_create(**options)  # type: ignore[arg-type]


def test_a_technologist_publishes_for_themselves(world: World) -> None:
    window = _publish(world)
    assert window.lending_hospital is None
    assert window.last_ends_at is None  # the rule never ends
    start = _next_monday_8()
    slots = selectors.availability_slots(
        technologists=[world.technologist], range_start=start, range_end=start + timedelta(days=7)
    )
    local = [slot.occurrence.starts_at.astimezone(BRUSSELS) for slot in slots]
    assert [(t.strftime("%a"), t.hour) for t in local] == [("Mon", 8), ("Wed", 8)]


def test_a_manager_lends_their_technologist(world: World) -> None:
    window = _publish(world, actor=world.manager)
    assert window.lending_hospital == world.hospital
    event = AuditEvent.objects.get(action="availability.created")
    assert (event.actor, event.hospital) == (world.manager, world.hospital)


def test_another_hospitals_manager_gets_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        _publish(world, actor=world.other_manager)
    with pytest.raises(NotFound):
        _publish(world, actor=world.manager, technologist=world.outsider)
    assert not AvailabilityWindow.objects.exists()


def test_a_technologist_of_two_hospitals_is_lent_by_the_one_named(world: World) -> None:
    MembershipFactory(
        user=world.technologist, hospital=world.other_hospital, role=Role.TECHNOLOGIST
    )
    window = _publish(world, actor=world.other_manager)
    assert window.lending_hospital == world.other_hospital


def test_only_the_lender_or_the_technologist_changes_a_window(world: World) -> None:
    lent = _publish(world, actor=world.manager)
    own = _publish(world, rrule="")
    with pytest.raises(NotFound):
        services.availability_delete(actor=world.other_manager, window=lent)
    with pytest.raises(PermissionDenied):
        services.availability_update(actor=world.manager, window=own, rrule="FREQ=DAILY")
    services.availability_delete(actor=world.technologist, window=lent)
    services.availability_update(actor=world.technologist, window=own, rrule="FREQ=DAILY;COUNT=3")
    own.refresh_from_db()
    assert own.last_ends_at == own.starts_at + timedelta(days=2, hours=4)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"ends_at": _next_monday_8() - timedelta(hours=1)}, "ends_at"),
        ({"ends_at": _next_monday_8() + timedelta(hours=25)}, "ends_at"),
        ({"time_zone": "Europe/Bruxelles"}, "time_zone"),
        ({"exdates": ["next monday"]}, "exdates"),
        (
            {
                "starts_at": datetime(2020, 1, 6, 8, tzinfo=UTC),
                "ends_at": datetime(2020, 1, 6, 12, tzinfo=UTC),
                "rrule": "",
            },
            "ends_at",
        ),
    ],
)
def test_bad_windows_are_refused_by_field(
    world: World, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        _publish(world, **overrides)
    assert field in error.value.fields
    assert not AvailabilityWindow.objects.exists()


def test_skipping_one_occurrence(world: World) -> None:
    window = _publish(world)
    first = _next_monday_8()
    services.availability_skip_occurrence(
        actor=world.technologist, window=window, local_start=first.replace(tzinfo=None)
    )
    slots = selectors.availability_slots(
        technologists=[world.technologist], range_start=first, range_end=first + timedelta(days=7)
    )
    assert [slot.occurrence.starts_at.astimezone(BRUSSELS).strftime("%a") for slot in slots] == [
        "Wed"
    ]


def test_finished_rules_are_not_even_expanded(world: World) -> None:
    window = _publish(world, rrule="FREQ=WEEKLY;COUNT=2")
    after = window.last_ends_at + timedelta(minutes=1)
    windows = selectors.availability_windows(
        technologists=[world.technologist], range_start=after, range_end=after + timedelta(days=30)
    )
    assert list(windows) == []


def test_a_very_long_counted_rule_is_kept_open_ended(world: World) -> None:
    window = _publish(world, rrule="FREQ=DAILY;COUNT=2000")
    assert window.last_ends_at is None
    far = window.starts_at + timedelta(days=1800)
    slots = selectors.availability_slots(
        technologists=[world.technologist], range_start=far, range_end=far + timedelta(days=2)
    )
    assert len(slots) == 2


def test_only_real_occurrences_of_a_recurring_window_are_skipped(world: World) -> None:
    window = _publish(world)
    tuesday = _next_monday_8() + timedelta(days=1)
    with pytest.raises(ValidationFailed):
        services.availability_skip_occurrence(
            actor=world.technologist, window=window, local_start=tuesday.replace(tzinfo=None)
        )
    once = _publish(world, rrule="")
    with pytest.raises(Conflict):
        services.availability_skip_occurrence(
            actor=world.technologist, window=once, local_start=_next_monday_8().replace(tzinfo=None)
        )
    window.refresh_from_db()
    assert window.exdates == []


def test_a_skipped_day_stays_skipped_when_the_series_moves_an_hour(world: World) -> None:
    window = _publish(world)
    first = _next_monday_8()
    wednesday = (first + timedelta(days=2)).replace(tzinfo=None)
    services.availability_skip_occurrence(
        actor=world.technologist, window=window, local_start=wednesday
    )
    services.availability_update(
        actor=world.technologist,
        window=window,
        starts_at=first + timedelta(hours=1),
        ends_at=first + timedelta(hours=5),
    )
    slots = selectors.availability_slots(
        technologists=[world.technologist], range_start=first, range_end=first + timedelta(days=7)
    )
    local = [slot.occurrence.starts_at.astimezone(BRUSSELS) for slot in slots]
    assert [(t.strftime("%a"), t.hour) for t in local] == [("Mon", 9)]


def test_a_counted_rule_decades_long_is_kept_open_ended_after_a_bounded_walk(
    world: World,
) -> None:
    """29 February, 1000 times: its end is four thousand years away, walked day by day by
    dateutil (millions of calls, seconds). It is looked for within ten years, then given up."""
    import sys

    class TooMuchWork(Exception):
        pass

    steps = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal steps
        steps += 1
        if steps > 1_000_000:
            raise TooMuchWork

    sys.setprofile(count)
    try:
        window = _publish(world, rrule="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;COUNT=1000")
    finally:
        sys.setprofile(None)
    assert window.last_ends_at is None

"""How much a technologist may work: the week (theirs, Monday to Monday), the rest buffer and the
weekly cap, read by the booking services, the ranking and the optimiser from one module. Frozen
clock: Monday 23 November 2026, 09:00 UTC (see support.py)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.models import User
from marketplace.models import Vendor
from scheduling import services, workload
from scheduling.models import Booking
from tests.conftest import World
from tests.factories import ScannerFactory
from tests.factories_supply import LicensedTechnologistFactory
from tests.scheduling.support import BRUSSELS, available, confirmed, local, post

NEW_YORK = ZoneInfo("America/New_York")


def test_the_week_runs_monday_to_monday_in_the_zone_given() -> None:
    late_sunday = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)  # 02:30 Monday in Brussels
    assert workload.week_start(late_sunday, BRUSSELS) == date(2026, 11, 30)
    assert workload.week_start(late_sunday, NEW_YORK) == date(2026, 11, 23)  # Sunday 20:30
    start, end = workload.week_of(late_sunday, NEW_YORK)
    assert (start.date(), end.date()) == (date(2026, 11, 23), date(2026, 11, 30))
    assert start.hour == end.hour == 0
    assert start.tzinfo is NEW_YORK


def test_a_week_across_the_clock_change_is_an_hour_short() -> None:
    start, end = workload.week_of(datetime(2027, 3, 31, 12, tzinfo=UTC), BRUSSELS)
    assert start.date() == date(2027, 3, 29)
    start, end = workload.week_of(datetime(2027, 3, 26, 12, tzinfo=UTC), BRUSSELS)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=-1)


@pytest.mark.parametrize(("gap_minutes", "clash"), [(29, True), (30, False)])
def test_two_sessions_clash_within_the_rest_buffer(gap_minutes: int, clash: bool) -> None:
    first_start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    first_end = first_start + timedelta(hours=4)
    later = first_end + timedelta(minutes=gap_minutes)
    assert workload.clashes(later, later + timedelta(hours=2), first_start, first_end) is clash
    earlier_end = first_start - timedelta(minutes=gap_minutes)
    assert workload.clashes(
        earlier_end - timedelta(hours=2), earlier_end, first_start, first_end
    ) is (clash)


def test_the_cap_is_reached_not_passed() -> None:
    assert workload.within_cap(Decimal("34"), Decimal("4"))
    assert not workload.within_cap(Decimal("34"), Decimal("4.01"))
    assert Decimal("38") == workload.WEEKLY_CAP_HOURS
    assert timedelta(minutes=30) == workload.REST_BUFFER


@pytest.mark.django_db
def test_hours_held_and_hours_by_week_agree_in_each_persons_own_week(
    world: World, tech: User
) -> None:
    """Confirmed sessions on Monday 30 November 02:00 (Sunday evening in New York) and on
    Tuesday 1 December: the Brussels technologist holds both in the week of 30 November, the
    New Yorker the first in the week of 23 November."""
    new_york = LicensedTechnologistFactory(home_time_zone="America/New_York").user
    available(new_york)
    for who in (tech, new_york):
        scanner = ScannerFactory(site=world.other_site, vendor=Vendor.SIEMENS)
        services.availability_create(
            actor=who,
            technologist=who,
            starts_at=local(11, 30, 1),
            ends_at=local(11, 30, 5),
            time_zone="Europe/Brussels",
        )
        confirmed(
            world.other_manager,
            post(world.other_manager, scanner, local(11, 30, 2), hours=2),
            who,
        )
        confirmed(
            world.other_manager,
            post(world.other_manager, scanner, local(12, 1, 8), hours=5),
            who,
        )
    moments = [local(11, 30, 2), local(12, 1, 8)]
    zones = {tech.pk: "Europe/Brussels", new_york.pk: "America/New_York"}
    start, end = workload.weeks_around(moments, zones=zones.values())
    assert start == datetime(2026, 11, 23, tzinfo=NEW_YORK)
    assert end == datetime(2026, 12, 7, tzinfo=NEW_YORK)
    held = Booking.objects.filter(status="confirmed", starts_at__gte=start, starts_at__lt=end)
    by_week = workload.hours_by_week(
        held.values_list("technologist_id", "starts_at", "hours"), zone_of=zones
    )
    assert by_week == {
        (tech.pk, date(2026, 11, 30)): Decimal("7"),
        (new_york.pk, date(2026, 11, 23)): Decimal("2"),
        (new_york.pk, date(2026, 11, 30)): Decimal("5"),
    }
    for (user_id, monday), hours in by_week.items():
        zone = BRUSSELS if user_id == tech.pk else NEW_YORK
        moment = datetime.combine(monday, datetime.min.time(), tzinfo=zone) + timedelta(days=2)
        assert workload.hours_held(technologist_id=user_id, moment=moment, zone=zone) == hours
    one = Booking.objects.filter(technologist=tech).first()
    assert one is not None
    assert (
        workload.hours_held(
            technologist_id=tech.pk, moment=one.starts_at, zone=BRUSSELS, excluding=one.pk
        )
        == Decimal("7") - one.hours
    )

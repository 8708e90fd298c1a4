"""Reads of availability, expanded over the range asked for."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from core.errors import NotFound
from marketplace.access import technologists_managed_by
from scheduling.models import AvailabilityWindow
from scheduling.recurrence import Occurrence


@dataclass(frozen=True)
class Slot:
    window: AvailabilityWindow
    occurrence: Occurrence


def availability_windows(
    *, technologists: Iterable[User] | QuerySet[User], range_start: datetime, range_end: datetime
) -> QuerySet[AvailabilityWindow]:
    """Windows that may have an occurrence in the range; those that are over are skipped in the
    database without being expanded."""
    return (
        AvailabilityWindow.objects.select_related("technologist", "lending_hospital")
        .filter(technologist__in=technologists, starts_at__lt=range_end)
        .filter(Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=range_start))
    )


def availability_slots(
    *, technologists: Iterable[User] | QuerySet[User], range_start: datetime, range_end: datetime
) -> list[Slot]:
    slots = [
        Slot(window, occurrence)
        for window in availability_windows(
            technologists=technologists, range_start=range_start, range_end=range_end
        )
        for occurrence in window.occurrences(range_start, range_end)
    ]
    return sorted(slots, key=lambda slot: (slot.occurrence.starts_at, slot.window.pk))


def access_availability_window(user: User, window_id: int | str) -> AvailabilityWindow:
    """One's own windows, and those of the technologists one manages."""
    try:
        pk = int(window_id)
    except (TypeError, ValueError):
        raise NotFound("No such availability window.") from None
    windows = AvailabilityWindow.objects.select_related("technologist", "lending_hospital")
    if not user.is_staff:
        windows = windows.filter(
            Q(technologist=user) | Q(technologist__in=technologists_managed_by(user))
        )
    window = windows.filter(pk=pk).first()
    if window is None:
        raise NotFound("No such availability window.")
    return window


def availability_people(*, user: User, technologist_id: int | None = None) -> QuerySet[User]:
    """Whose availability a person may see: their own and that of the technologists they
    manage (platform admins: everyone's), optionally narrowed to one of them."""
    people = User.objects.all()
    if not user.is_staff:
        people = people.filter(Q(pk=user.pk) | Q(pk__in=technologists_managed_by(user)))
    if technologist_id is not None:
        people = people.filter(pk=technologist_id)
    return people


def availability_window_list(
    *, user: User, technologist_id: int | None = None
) -> QuerySet[AvailabilityWindow]:
    """The windows `availability_people` may be seen for, whether or not they are over."""
    return AvailabilityWindow.objects.select_related("technologist", "lending_hospital").filter(
        technologist__in=availability_people(user=user, technologist_id=technologist_id)
    )

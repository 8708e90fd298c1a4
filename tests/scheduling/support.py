"""Bookings on a frozen clock: today is Monday 23 November 2026, 09:00 UTC; the sessions are in
the weeks after (Brussels time). Helpers for every booking test; the fixtures built on them are
in this package's conftest."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from marketplace import services as marketplace_services
from marketplace.models import Hospital, Scanner, SessionPosting, TechnologistProfile
from scheduling import services
from scheduling.models import Booking
from tests.factories_supply import LicensedTechnologistFactory

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now


def freeze(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """`timezone.now()` (and so `localdate()`) answers what the test sets."""
    frozen = Clock(NOW)
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def licensed(user: User, **overrides: Any) -> TechnologistProfile:
    return LicensedTechnologistFactory(user=user, **overrides)


def available(
    technologist: User, *, actor: User | None = None, lending_hospital: Hospital | None = None
) -> None:
    """Every day 06:00–22:00 Brussels from Monday 30 November."""
    services.availability_create(
        actor=actor or technologist,
        technologist=technologist,
        starts_at=local(11, 30, 6),
        ends_at=local(11, 30, 22),
        time_zone="Europe/Brussels",
        rrule="FREQ=DAILY",
        lending_hospital=lending_hospital,
    )


def post(
    manager: User, scanner: Scanner, starts_at: datetime, *, hours: float = 4, **options: Any
) -> SessionPosting:
    return marketplace_services.posting_create(
        actor=manager,
        hospital=scanner.site.hospital,
        scanner=scanner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        publish=True,
        **options,
    )


def confirmed(manager: User, posting: SessionPosting, technologist: User) -> Booking:
    booking = services.booking_invite(actor=manager, posting=posting, technologist=technologist)
    return services.booking_accept(actor=technologist, booking=booking)

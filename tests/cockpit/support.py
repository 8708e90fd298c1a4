"""Cockpit sessions on the real clock: the relay, the scanner agent and Daphne processes cannot
share a frozen one. A booking for the hospital's technologist on MR 1 that starts in five minutes
(its cockpit is open: it opens 15 minutes before), made through the booking services."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import User
from cockpit import services as cockpit_services
from cockpit.models import CockpitSession
from marketplace import services as marketplace_services
from marketplace.models import Scanner
from scheduling import services
from scheduling.models import Booking
from tests.conftest import World
from tests.factories_supply import LicensedTechnologistFactory


def open_booking(
    manager: User,
    scanner: Scanner,
    technologist: User,
    *,
    starts_in: timedelta = timedelta(minutes=5),
    hours: float = 2,
    **posting_options: Any,
) -> Booking:
    """A confirmed booking of `technologist` on `scanner`, starting `starts_in` from now."""
    if not hasattr(technologist, "technologist_profile"):
        LicensedTechnologistFactory(user=technologist)
    starts_at = (timezone.now() + starts_in).replace(microsecond=0)
    ends_at = starts_at + timedelta(hours=hours)
    services.availability_create(
        actor=technologist,
        technologist=technologist,
        starts_at=starts_at - timedelta(hours=1),
        ends_at=ends_at + timedelta(hours=1),
        time_zone="Europe/Brussels",
    )
    if not scanner.cockpit_ready:
        scanner.cockpit_ready = True
        scanner.save(update_fields=["cockpit_ready"])
    posting = marketplace_services.posting_create(
        actor=manager,
        hospital=scanner.site.hospital,
        scanner=scanner,
        starts_at=starts_at,
        ends_at=ends_at,
        publish=True,
        **posting_options,
    )
    booking = services.booking_invite(actor=manager, posting=posting, technologist=technologist)
    return services.booking_accept(actor=technologist, booking=booking)


def open_cockpit(world: World, *, approved: bool = True, **options: Any) -> CockpitSession:
    """The cockpit of a booking that starts in five minutes: world.technologist operates on
    world.scanner (Hôpital Sainte-Claire), world.local_staff is beside the patient. Approved by
    local staff unless `approved=False`."""
    booking = open_booking(world.manager, world.scanner, world.technologist, **options)
    cockpit = cockpit_services.cockpit_open(booking=booking)
    if approved:
        cockpit = cockpit_services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    return cockpit


def prescan_confirmed(world: World, cockpit: CockpitSession) -> CockpitSession:
    """Local staff (world.local_staff, beside the patient) confirm the pre-scan checklist, as
    they must before the first sequence starts; the link check is off in the test settings."""
    return cockpit_services.prescan_confirm(
        actor=world.local_staff,
        role="local",
        cockpit=cockpit,
        beside_patient_id=None,
        patient_informed=True,
        links=None,
    )

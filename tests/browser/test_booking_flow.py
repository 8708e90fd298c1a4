"""Booking in Chromium, two people in two browsers on the real clock: a manager invites the top
candidate from the posting's page; the technologist signs in and accepts; both see the booking;
the manager cancels it late (the session starts in three hours); the hospital's ledger owes the
booked hours and the technologist's notifications say it was cancelled. Then the new pages on a
phone."""

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import User
from marketplace import services as marketplace_services
from marketplace.models import SessionPosting
from scheduling import services
from scheduling.models import Booking, BookingStatus
from tests.browser.test_hospital_pages import PHONE, assert_fits_phone, sign_in
from tests.conftest import World
from tests.factories import PASSWORD, UserFactory
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = pytest.mark.browser

BRUSSELS = ZoneInfo("Europe/Brussels")


def _independent_technologist() -> User:
    """Licensed, verified, independent (no hospital lends them), free for the next 14 hours."""
    user = UserFactory(email="ines@example.org", first_name="Inès", last_name="Dupont")
    LicensedTechnologistFactory(user=user, home_time_zone="Europe/Brussels")
    start = timezone.now().replace(second=0, microsecond=0)
    services.availability_create(
        actor=user,
        technologist=user,
        starts_at=start,
        ends_at=start + timedelta(hours=14),
        time_zone="Europe/Brussels",
        rrule="",
    )
    return user


def _posting_in_three_hours(world: World) -> SessionPosting:
    start = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 15)
    return marketplace_services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        publish=True,
    )


def test_invite_accept_cancel_late_ledger_and_notifications(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    base = live_server.url
    technologist = _independent_technologist()
    posting = _posting_in_three_hours(world)

    manager = new_context().new_page()
    sign_in(manager, base, world.manager.email, PASSWORD)
    manager.goto(f"{base}/postings/{posting.pk}/")
    top = manager.locator("#candidates li.candidate").first
    expect(top).to_contain_text("Inès Dupont")
    expect(top.locator('[data-term="availability"]')).to_contain_text("✓")
    expect(top.locator('[data-term="fairness"]')).to_contain_text("this week")
    top.get_by_role("button", name="Invite").click()
    expect(manager.locator(".messages")).to_contain_text("Inès Dupont is invited")
    expect(manager.locator("#bookings")).to_contain_text("Pending")

    tech = new_context().new_page()
    sign_in(tech, base, technologist.email, PASSWORD)
    expect(tech.locator("[data-notif-count]")).to_have_text("1")
    tech.goto(f"{base}/me/bookings/")
    invitation = tech.locator("#invitations li.booking").first
    expect(invitation).to_contain_text(world.hospital.name)
    invitation.get_by_role("button", name="Accept").click()
    expect(tech.locator(".messages")).to_contain_text("Booking confirmed.")
    expect(tech.locator("#upcoming")).to_contain_text("Confirmed")
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.CONFIRMED

    manager.goto(f"{base}/hospitals/{world.hospital.pk}/bookings/")
    row = manager.locator(f"#booking-{booking.pk}")
    expect(row).to_contain_text("Inès Dupont")
    expect(row).to_contain_text("Confirmed")
    row.get_by_role("link").first.click()
    expect(manager.locator("#booking-status")).to_have_text("Confirmed")
    manager.locator("summary", has_text="Cancel").click()
    manager.get_by_label("Why?").fill("The scanner's coil failed its check")
    manager.get_by_role("button", name="Cancel booking").click()
    expect(manager.locator(".messages")).to_contain_text("This was a late cancellation")
    expect(manager.locator("#booking-status")).to_have_text("Cancelled")
    expect(manager.locator("#cancellation")).to_contain_text("late")

    manager.goto(f"{base}/hospitals/{world.hospital.pk}/ledger/")
    balances = manager.locator("#balances")
    expect(balances).to_contain_text("Inès Dupont")
    expect(balances).to_contain_text(f"{world.hospital.name} owes 2 h")

    tech.goto(f"{base}/me/bookings/")
    # Unread: the invitation (answered from the bookings page, not opened) and the cancellation.
    expect(tech.locator("[data-notif-count]")).to_have_text("2")
    tech.locator("#notif-menu summary").click()
    expect(tech.locator("#notif-menu")).to_contain_text("Cancelled: the session at")
    expect(tech.locator("#notif-menu")).to_contain_text("coil failed")
    expect(tech.locator("#past")).to_contain_text("Cancelled")


def test_booking_pages_fit_a_phone(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    base = live_server.url
    technologist = _independent_technologist()
    posting = _posting_in_three_hours(world)
    manager: Page = new_context(viewport=PHONE, is_mobile=True).new_page()
    sign_in(manager, base, world.manager.email, PASSWORD)
    manager.goto(f"{base}/postings/{posting.pk}/")
    assert_fits_phone(manager)
    manager.locator("#candidates").get_by_role("button", name="Invite").first.click()
    expect(manager.locator("#bookings")).to_contain_text("Pending")
    manager.goto(f"{base}/hospitals/{world.hospital.pk}/bookings/")
    assert_fits_phone(manager)

    booking = Booking.objects.get()
    phone: Page = new_context(viewport=PHONE, is_mobile=True).new_page()
    sign_in(phone, base, technologist.email, PASSWORD)
    for path in ("/me/bookings/", f"/bookings/{booking.pk}/", "/me/postings/"):
        phone.goto(f"{base}{path}")
        assert_fits_phone(phone)

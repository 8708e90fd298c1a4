"""Supply and demand in Chromium: a technologist publishes a weekly window and finds it in their
week, a manager publishes a posting, an admin verifies a licence that makes a technologist
eligible, and the new pages on a phone."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from marketplace import services
from marketplace.models import (
    ExamFamily,
    PostingStatus,
    SessionPosting,
    TechnologistProfile,
)
from scheduling.services import availability_create
from tests.browser.test_hospital_pages import PHONE, assert_fits_phone, sign_in
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

BRUSSELS = ZoneInfo("Europe/Brussels")


def next_week_day(weekday: int) -> tuple[date, date]:
    """A day of next week (0 = Monday) in Brussels, and the Monday of its week."""
    today = timezone.now().astimezone(BRUSSELS).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
    return monday + timedelta(days=weekday), monday


def licensed(world: World, *, verified: bool) -> TechnologistProfile:
    user = world.technologist
    profile = services.technologist_profile_update(
        actor=user,
        user=user,
        seniority="experienced",
        years_experience=7,
        exam_families=ExamFamily.objects.filter(code__in=["neuro", "msk"]),
        vendors=["siemens", "ge", "philips", "canon"],
        home_time_zone="Europe/Brussels",
        licence_number="BE-RT-004711",
        licence_authority="SPF Santé publique",
        licence_valid_until=timezone.localdate() + timedelta(days=365),
    )
    if verified:
        profile = services.technologist_licence_verify(actor=world.admin, profile=profile)
    return profile


def test_a_technologist_adds_a_weekly_window_and_sees_it_every_week(
    live_server, world: World, page: Page
) -> None:
    licensed(world, verified=False)
    base = live_server.url
    wednesday, monday = next_week_day(2)
    sign_in(page, base, world.technologist.email, PASSWORD)

    page.get_by_role("navigation").get_by_role("button", name="My work").click()
    page.get_by_role("navigation").get_by_role("link", name="My availability").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My availability")
    page.get_by_role("link", name="Add availability").first.click()
    form = page.locator("#availability-form")
    # A Monday is typed; the first occurrence is the first chosen weekday after it.
    form.get_by_label("Starts").fill(f"{monday.isoformat()}T08:00")
    form.get_by_label("Ends").fill(f"{monday.isoformat()}T12:00")
    form.get_by_label("Every week on the days below").check()
    form.get_by_label("Wed").check()
    form.get_by_role("button", name="Add").click()

    expect(
        page.get_by_text(
            f"Availability added: Wed {wednesday.day} {wednesday:%b}, 08:00–12:00, then every Wed."
        )
    ).to_be_visible()
    expect(page.locator(".week-title")).to_have_text(f"Week of {monday.day} {monday:%B %Y}")
    slot = page.locator(f'[data-date="{wednesday.isoformat()}"] .slot')
    expect(slot).to_have_count(1)
    expect(slot).to_contain_text("08:00–12:00")
    expect(page.locator("#week .slot")).to_have_count(1)
    # Placed by time: it starts one hour into a day column that begins at 07:00.
    column = page.locator(f'[data-date="{wednesday.isoformat()}"] .week-body').bounding_box()
    box = slot.bounding_box()
    assert column is not None
    assert box is not None
    hour = column["height"] / 12
    assert abs(box["y"] - column["y"] - hour) < 2
    assert abs(box["height"] - 4 * hour) < 2

    page.get_by_role("link", name="Next week →").click()
    following = wednesday + timedelta(days=7)
    expect(page.locator(f'[data-date="{following.isoformat()}"] .slot')).to_contain_text(
        "08:00–12:00"
    )
    expect(page.locator("#week .slot")).to_have_count(1)

    # A holiday: skip one Wednesday, the next one stays.
    page.locator("#occurrences").get_by_role("button", name="Skip this one").click()
    expect(page.get_by_text("the other repeats stay")).to_be_visible()
    expect(page.locator("#week .slot")).to_have_count(0)
    page.get_by_role("link", name="Next week →").click()
    after = following + timedelta(days=7)
    expect(page.locator(f'[data-date="{after.isoformat()}"] .slot')).to_contain_text("08:00–12:00")
    expect(page.locator("#week .slot")).to_have_count(1)


def test_a_manager_publishes_a_posting_and_sees_it_open(
    live_server, world: World, page: Page
) -> None:
    base = live_server.url
    day, _monday = next_week_day(3)
    sign_in(page, base, world.manager.email, PASSWORD)

    page.get_by_role("navigation").get_by_role("button", name="Hôpital Sainte-Claire").click()
    page.get_by_role("navigation").get_by_role("link", name="Postings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Postings of Hôpital Sainte-Claire")
    page.get_by_role("link", name="New posting").click()
    form = page.locator("#posting-form")
    expect(form.get_by_label("Scanner")).to_have_value(str(world.scanner.pk))  # the only one
    form.get_by_label("Starts").fill(f"{day.isoformat()}T09:30")
    form.get_by_label("Ends").fill(f"{day.isoformat()}T13:00")
    form.get_by_label("Neuro").check()
    form.get_by_label("Urgency").select_option("urgent")
    form.get_by_label("Notes").fill("Patient DOB 12/03/1957")
    form.get_by_role("button", name="Save as draft").click()

    # Patient data is refused on the notes, and the rest of the form is kept.
    expect(form.get_by_text("Describe the work, never the patient")).to_be_visible()
    expect(form.get_by_label("Starts")).to_have_value(f"{day.isoformat()}T09:30")
    assert not SessionPosting.objects.exists()
    form.get_by_label("Notes").fill("Brain MRI with contrast; local staff inject.")
    form.get_by_role("button", name="Save as draft").click()

    expect(page.locator("#posting-status")).to_have_text("Draft")
    page.locator("#manage").get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Posting published")).to_be_visible()
    expect(page.locator("#posting-status")).to_have_text("Open")

    page.get_by_role("navigation", name="Hospital sections").get_by_role(
        "link", name="Postings"
    ).click()
    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#postings tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{day:%a} {day.day} {day:%b %Y}, 09:30–13:00")
    expect(rows.first).to_contain_text("Europe/Brussels")
    expect(rows.first.locator('td[data-label="Status"]')).to_have_text("Open")
    assert SessionPosting.objects.get().status == PostingStatus.OPEN


def test_an_admin_verifies_a_licence_and_the_technologist_becomes_eligible(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    profile = licensed(world, verified=False)
    base = live_server.url
    technologist = new_context().new_page()
    sign_in(technologist, base, world.technologist.email, PASSWORD)
    technologist.get_by_role("navigation").get_by_role("button", name="My work").click()
    technologist.get_by_role("navigation").get_by_role("link", name="Licence & skills").click()
    eligibility = technologist.locator("#eligibility")
    expect(eligibility).to_contain_text("Not eligible yet")
    expect(eligibility).to_contain_text("Your licence has not been verified by WeScan yet.")
    expect(technologist.locator("#verified")).to_have_text("not yet")

    # Through the Django admin's "verify licence" action.
    admin = new_context().new_page()
    sign_in(admin, base, world.admin.email, PASSWORD)
    admin.goto(f"{base}/admin/marketplace/technologistprofile/")
    admin.locator(f'input[name="_selected_action"][value="{profile.pk}"]').check()
    admin.locator('select[name="action"]').select_option("verify_licence")
    admin.get_by_role("button", name="Go").click()
    expect(admin.get_by_text("Licence verified for 1 technologist")).to_be_visible()

    technologist.reload()
    expect(eligibility).to_contain_text("Eligible:")
    expect(technologist.locator("#verified")).to_contain_text(f"by {world.admin.display_name} on")
    expect(technologist.locator("#verified")).to_contain_text("Europe/Brussels")
    technologist.get_by_role("navigation").get_by_role("button", name="My work").click()
    technologist.get_by_role("navigation").get_by_role("link", name="Open postings").click()
    expect(technologist.get_by_text("Not eligible yet")).to_have_count(0)


def test_the_new_pages_fit_a_phone(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    licensed(world, verified=True)
    day, monday = next_week_day(1)
    starts = datetime(day.year, day.month, day.day, 8, tzinfo=BRUSSELS)
    availability_create(
        actor=world.technologist,
        technologist=world.technologist,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        rrule="FREQ=WEEKLY;BYDAY=TU,TH",
    )
    availability_create(
        actor=world.manager,
        technologist=world.technologist,
        starts_at=starts + timedelta(days=1, hours=5),
        ends_at=starts + timedelta(days=1, hours=9),
        lending_hospital=world.hospital,
    )
    services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=starts + timedelta(hours=1),
        ends_at=starts + timedelta(hours=3),
        required_exam_families=ExamFamily.objects.filter(code="neuro"),
        publish=True,
    )
    base = live_server.url
    options = {"viewport": PHONE, "is_mobile": True, "has_touch": True}

    phone = new_context(**options).new_page()
    sign_in(phone, base, world.technologist.email, PASSWORD)
    for path in ("/me/availability/", "/me/technologist/", "/me/postings/"):
        phone.goto(f"{base}{path}?week={monday.isoformat()}")
        assert_fits_phone(phone)
    phone.goto(f"{base}/me/availability/?week={monday.isoformat()}")
    # Days are rows on a phone: Tuesday's window is readable in Tuesday's row.
    tuesday = phone.locator(f'[data-date="{day.isoformat()}"]')
    expect(tuesday.locator(".slot")).to_contain_text("08:00–12:00")
    expect(tuesday.locator(".slot")).to_be_visible()

    manager = new_context(**options).new_page()
    sign_in(manager, base, world.manager.email, PASSWORD)
    for path in (
        f"/hospitals/{world.hospital.pk}/postings/",
        f"/hospitals/{world.hospital.pk}/postings/new/",
        f"/hospitals/{world.hospital.pk}/staff/?week={monday.isoformat()}",
        f"/hospitals/{world.hospital.pk}/staff/{world.technologist.pk}/lend/",
    ):
        manager.goto(f"{base}{path}")
        assert_fits_phone(manager)
        if "/staff/?" in path:
            expect(manager.locator("#staff .chip.lent")).to_contain_text("13:00–17:00")

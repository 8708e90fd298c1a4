"""The hospital pages as a person sees them in Chromium: signing in, a hospital's own scanners
and nobody else's, inviting a technologist who signs up from the e-mailed link, and a phone."""

import io
import re
from collections.abc import Callable

import pytest
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import User
from marketplace.models import Hospital
from tests.conftest import World
from tests.factories import PASSWORD, totp_code

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "wescan-demo"
PHONE = {"width": 390, "height": 844}
JOIN_LINK = re.compile(r"https?://[^\s/]+(/join/[\w-]+/)")


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Sign in through the page; one with a second factor types the code their authenticator
    app shows (computed from its secret as they sign in)."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    second_factor = f"{base_url}/accounts/2fa/authenticate/"
    page.wait_for_url(lambda url: url in (f"{base_url}/", second_factor))
    if page.url == second_factor:
        page.get_by_label("Code").fill(totp_code(User.objects.get(email=email)))
        page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/")
    # The header's menus open once site.js has run (deferred, before "load"): a click on a menu
    # button in between does nothing, so a test waits as a person's eye would.
    page.wait_for_load_state("load")


def scanner_names(page: Page) -> list[str]:
    """The first column of the scanners table, in page order."""
    return page.locator('#scanners td[data-label="Scanner"]').all_inner_texts()


def assert_fits_phone(page: Page) -> None:
    """No sideways scrolling. Not window.innerWidth: on a mobile viewport Chromium zooms out to
    show a too-wide page whole, and innerWidth grows with it; the layout viewport does not."""
    # Measured once the stylesheets are in: a heading can show before them (the phone layout of
    # a table comes from CSS, and a stylesheet revalidated with the server is a moment late).
    page.wait_for_load_state("load")
    content, screen = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert screen == PHONE["width"]
    assert content <= screen, f"{page.url} is {content}px wide on a {screen}px phone"


def test_demo_manager_sees_own_scanners_and_no_other_hospital(live_server, page: Page) -> None:
    call_command("load_demo", stdout=io.StringIO())
    base = live_server.url

    sign_in(page, base, "manager@sainte-claire.demo", DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Marie Manager (Brussels)")
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Hôpital Sainte-Claire")).to_have_count(1)
    expect(main.get_by_role("link", name="Ziekenhuis Scheldeland")).to_have_count(0)

    main.get_by_role("link", name="Hôpital Sainte-Claire").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hôpital Sainte-Claire")
    expect(page.get_by_text("you are manager")).to_be_visible()
    expect(page.locator("#scanners").get_by_role("cell", name="MR Sud")).to_be_visible()
    assert sorted(scanner_names(page)) == ["CT 1", "MR 1", "MR 2", "MR Sud"]
    expect(page.get_by_text("MRI A")).to_have_count(0)
    expect(page.get_by_text("Hoofdcampus")).to_have_count(0)

    other = Hospital.objects.get(name="Ziekenhuis Scheldeland")
    response = page.goto(f"{base}/hospitals/{other.pk}/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_text("Ziekenhuis Scheldeland")).to_have_count(0)
    expect(page.get_by_text("MRI A")).to_have_count(0)


def test_invited_technologist_signs_up_from_the_mailed_link(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    base = live_server.url
    invited = "new.tech@example.org"
    manager = new_context().new_page()
    sign_in(manager, base, world.manager.email, PASSWORD)
    manager.goto(f"{base}/hospitals/{world.hospital.pk}/")

    invite = manager.locator("#invite-form")
    invite.get_by_label("E-mail address").fill(invited)
    invite.get_by_label("Role").select_option(label="Technologist")
    mail.outbox.clear()
    invite.get_by_role("button", name="Send invitation").click()

    expect(manager.get_by_text(f"Invitation sent to {invited} as Technologist.")).to_be_visible()
    pending = manager.locator("#invitations").get_by_role("listitem").filter(has_text=invited)
    expect(pending).to_contain_text("Technologist")
    expect(pending).to_contain_text("pending")
    assert [message.to for message in mail.outbox] == [[invited]]
    assert "Hôpital Sainte-Claire" in mail.outbox[0].subject
    found = JOIN_LINK.search(mail.outbox[0].body)
    assert found, mail.outbox[0].body
    join = f"{base}{found.group(1)}"

    newcomer = new_context().new_page()
    newcomer.goto(join)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Join Hôpital Sainte-Claire")
    expect(newcomer.get_by_role("main")).to_contain_text(f"as technologist ({invited})")
    newcomer.get_by_role("link", name="Create your account").click()
    # The sign-up page says what is being joined and already holds the invited address.
    expect(newcomer.get_by_text("You are joining Hôpital Sainte-Claire")).to_be_visible()
    expect(newcomer.get_by_label("E-mail address")).to_have_value(invited)
    newcomer.get_by_label("Password:", exact=True).fill("mri-night-shift-2025")
    newcomer.get_by_label("Password (again)").fill("mri-night-shift-2025")
    newcomer.get_by_role("button", name="Sign Up").click()

    # Straight to the hospital they joined.
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Hôpital Sainte-Claire")
    expect(
        newcomer.get_by_text("Welcome to Hôpital Sainte-Claire as technologist.")
    ).to_be_visible()
    newcomer.wait_for_load_state("load")  # the menu opens once site.js has run
    newcomer.get_by_role("navigation").get_by_role("button", name="Account").click()
    newcomer.get_by_role("link", name="My profile").click()
    hospitals = (
        newcomer.get_by_role("main")
        .locator("section")
        .filter(has=newcomer.get_by_role("heading", name="Hospitals"))
    )
    membership = hospitals.get_by_role("listitem")
    expect(membership).to_have_text(["Hôpital Sainte-Claire — Technologist"])
    membership.get_by_role("link", name="Hôpital Sainte-Claire").click()
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Hôpital Sainte-Claire")
    expect(newcomer.get_by_text("you are technologist")).to_be_visible()
    expect(newcomer.locator("#scanners").get_by_role("cell", name="MR 1")).to_be_visible()

    manager.reload()
    members = manager.locator("#members")
    expect(members.get_by_role("listitem").filter(has_text=invited)).to_contain_text("Technologist")
    expect(manager.locator("#invitations")).to_have_count(0)

    # The link has done its work: anyone else who opens it is told so.
    stranger = new_context().new_page()
    response = stranger.goto(join)
    assert response is not None
    assert response.status == 410
    expect(stranger.get_by_text("This invitation has already been used.")).to_be_visible()
    expect(stranger.get_by_role("link", name="Create your account")).to_have_count(0)


def test_hospital_page_fits_a_phone(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    base = live_server.url
    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, base, world.manager.email, PASSWORD)

    assert_fits_phone(phone)

    # The hospital's menu, in the navigation behind the Menu button.
    hospital_menu = phone.get_by_role("navigation").get_by_role(
        "button", name="Hôpital Sainte-Claire"
    )
    expect(hospital_menu).to_be_hidden()
    phone.get_by_role("button", name="Menu", exact=True).tap()
    expect(hospital_menu).to_be_visible()
    hospital_menu.tap()
    phone.get_by_role("navigation").get_by_role("link", name="Hospital page").tap()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Hôpital Sainte-Claire")
    expect(phone.locator("#scanners").get_by_role("cell", name="MR 1")).to_be_visible()
    expect(
        phone.locator("#invite-form").get_by_role("button", name="Send invitation")
    ).to_be_visible()
    assert_fits_phone(phone)

"""The second factor in Chromium. A manager signs in for the first time and is sent to set one up
before anything else: an authenticator app, whose codes the test computes from the secret the
page shows (pyotp, as a phone would, at the moment they are typed: the server reads the same real
clock, and accepts the neighbouring 30 s period too). Then they sign out and in with a code, and
with a recovery code once (the second time it is refused). And a passkey, made and then used to
sign in by Chromium's virtual authenticator (the DevTools WebAuthn domain), alone and after
the password."""

import re
from collections.abc import Callable

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import User
from marketplace.models import Role
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory, UserFactory, totp_code

pytestmark = pytest.mark.browser

SETUP = re.compile(r"/account/second-factor/\?next=%2F$")


def new_manager(world: World) -> User:
    """A manager of Hôpital Sainte-Claire signing in for the first time: no second factor yet."""
    manager = UserFactory(email="new-manager@example.org", first_name="Nora", last_name="New")
    MembershipFactory(user=manager, hospital=world.hospital, role=Role.MANAGER)
    return manager


def password_step(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def code_step(page: Page, base: str, code: str) -> None:
    expect(page).to_have_url(f"{base}/accounts/2fa/authenticate/")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Page, base: str) -> None:
    # The Account menu opens once site.js has run (deferred, before "load").
    page.wait_for_load_state("load")
    navigation = page.get_by_role("navigation")
    account = navigation.get_by_role("button", name="Account")
    if account.count():  # a session held for its second factor has Sign out in plain sight
        account.click()
    navigation.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/profile/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def confirm_password(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def with_virtual_authenticator(context: BrowserContext) -> Page:
    """A page whose browser has a platform authenticator (as a laptop's fingerprint reader):
    it keeps passkeys and verifies its user without asking."""
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return page


def test_manager_sets_up_an_app_then_signs_in_with_its_codes_and_a_recovery_code_once(
    live_server, world: World, page: Page
) -> None:
    base = live_server.url
    manager = new_manager(world)

    password_step(page, base, manager.email)
    expect(page).to_have_url(SETUP)
    expect(page.get_by_text("Your account must have a second factor before you")).to_be_visible()
    # Anything else leads back here until one is set up.
    page.goto(f"{base}/hospitals/{world.hospital.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up a second factor")

    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_password(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.locator("#authenticator-secret").inner_text().strip()
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activate").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    recovery_codes = page.locator("#recovery-codes").inner_text().split()
    assert len(recovery_codes) == 10
    # On to the page they last asked for.
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{base}/hospitals/{world.hospital.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(world.hospital.name)

    sign_out(page, base)
    password_step(page, base, manager.email)
    # The password alone opens nothing yet.
    expect(page).to_have_url(f"{base}/accounts/2fa/authenticate/")
    code_step(page, base, totp_code(manager))
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nora New")

    sign_out(page, base)
    password_step(page, base, manager.email)
    code_step(page, base, recovery_codes[0])
    expect(page).to_have_url(f"{base}/")

    sign_out(page, base)
    password_step(page, base, manager.email)
    code_step(page, base, recovery_codes[0])
    expect(
        page.get_by_text("This recovery code was already used: each one works once.")
    ).to_be_visible()
    expect(page).to_have_url(f"{base}/accounts/2fa/authenticate/")
    # Still not signed in: the profile sends them back to finish signing in.
    page.goto(f"{base}/profile/")
    expect(page).to_have_url(f"{base}/accounts/2fa/authenticate/")


def test_passkey_made_with_a_virtual_authenticator_signs_in_alone_and_as_second_factor(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    base = live_server.url
    manager = new_manager(world)
    page = with_virtual_authenticator(new_context())

    password_step(page, base, manager.email)
    expect(page).to_have_url(SETUP)
    page.get_by_role("link", name="Add a passkey").click()
    confirm_password(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    page.get_by_label("Name").fill("Work laptop")
    # Ticked at first: a passkey signs in alone.
    expect(page.get_by_label("Use it to sign in without a password")).to_be_checked()
    expect(page.get_by_text("Passwordless")).to_have_count(0)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    expect(page.get_by_text("Passkey added.")).to_be_visible()
    passkey = Authenticator.objects.get(user=manager, type=Authenticator.Type.WEBAUTHN)
    assert passkey.wrap().is_passwordless
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nora New")

    sign_out(page, base)
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nora New")

    # After a password, the passkey is the second factor.
    sign_out(page, base)
    password_step(page, base, manager.email)
    expect(page).to_have_url(f"{base}/accounts/2fa/authenticate/")
    # The step offers what they have: the passkey first, then their recovery codes; no app.
    expect(page.locator("main")).to_contain_text("Confirm it is you with your passkey")
    expect(page.get_by_text("No passkey at hand?")).to_be_visible()
    expect(page.get_by_text("Type one of your recovery codes.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("authenticator app")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nora New")


def test_on_an_ip_address_the_page_says_passkeys_need_the_sites_name(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:
    # `make run` prints http://127.0.0.1:8000: Chromium refuses passkeys there ("invalid
    # domain"), and the page tells the person where they work instead.
    base = live_server.url.replace("localhost", "127.0.0.1")
    manager = new_manager(world)
    page = with_virtual_authenticator(new_context())
    password_step(page, base, manager.email)
    page.get_by_role("link", name="Add a passkey").click()
    confirm_password(page)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#webauthn-error")).to_contain_text(
        "Passkeys need the site's name in the address, not an IP address (on this computer: "
        f"http://localhost:{live_server.url.rsplit(':', 1)[1]}/)."
    )
    assert not Authenticator.objects.filter(user=manager).exists()

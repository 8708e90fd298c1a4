"""Personal access tokens in Chromium: a technologist makes one from their profile, copies the
secret shown once, uses it, revokes it; a manager is sent to confirm their second factor first
(a code computed here, as an authenticator app would), then makes one; the page fits a phone."""

import json
import types
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as allauth_totp
from playwright.sync_api import Page, expect

from tests.browser.test_hospital_pages import PHONE, assert_fits_phone
from tests.conftest import World
from tests.factories import PASSWORD
from tests.sessions import password_only_client

pytestmark = pytest.mark.browser

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MOMENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def _no_second_factor_yet(world: World) -> None:
    """Nobody has a second factor yet (the `world` fixture enrols everyone): the technologist
    makes tokens with a password session, the manager's is set up with a known secret below."""
    Authenticator.objects.all().delete()


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """The password step of allauth's sign-in page (beside it, "Sign in with a passkey")."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def enter_code(page: Page) -> None:
    """Type the authenticator app's code on allauth's second-factor step, and send it."""
    code = page.locator('input[name="code"]')
    code.fill(pyotp.TOTP(TOTP_SECRET).at(MOMENT))
    code.press("Enter")


def me_with(base_url: str, secret: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (the live test server)
        f"{base_url}/api/v1/me/", headers={"Authorization": f"Token {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            json.load(response)
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_a_technologist_makes_uses_and_revokes_a_token(
    live_server, world: World, page: Page
) -> None:
    base = live_server.url
    sign_in(page, base, world.technologist.email, PASSWORD)
    expect(page).to_have_url(f"{base}/")
    page.goto(f"{base}/profile/")
    page.get_by_role("link", name="Personal access tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Personal access tokens")

    page.get_by_label("Name").fill("Rota export")
    page.get_by_label("Write: everything you may do").check()
    page.get_by_label("Expires after").select_option("90")
    page.get_by_role("button", name="Make the token").click()

    expect(page.locator("#new-token")).to_contain_text("shown only this once")
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("wst_")
    assert me_with(base, secret) == 200
    row = page.locator("#tokens tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Rota export")
    expect(row).to_contain_text(secret[:12])

    page.goto(f"{base}/account/tokens/")  # again: the secret is not shown twice
    expect(page.locator("#token-secret")).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("is revoked")
    expect(page.locator("#tokens tbody tr")).to_have_attribute("data-status", "revoked")
    assert me_with(base, secret) == 401


def test_a_manager_confirms_their_second_factor_then_makes_a_token(
    live_server, world: World, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    # allauth reads the wall clock for TOTP codes: pinned on the server, and the code made for it.
    monkeypatch.setattr(allauth_totp, "time", types.SimpleNamespace(time=lambda: MOMENT))
    allauth_totp.TOTP.activate(world.manager, TOTP_SECRET)
    base = live_server.url
    sign_in(page, base, world.manager.email, PASSWORD)
    enter_code(page)
    expect(page).to_have_url(f"{base}/")

    # Signed in with the code: the session passed the second factor, tokens can be made.
    page.goto(f"{base}/account/tokens/")
    page.get_by_label("Name").fill("Board report")
    page.get_by_role("button", name="Make the token").click()
    secret = page.locator("#token-secret").inner_text().strip()
    assert me_with(base, secret) == 200


def test_a_manager_signed_in_without_the_code_is_asked_for_it(
    live_server, world: World, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allauth_totp, "time", types.SimpleNamespace(time=lambda: MOMENT))
    allauth_totp.TOTP.activate(world.manager, TOTP_SECRET)
    base = live_server.url
    # A session without a second factor (as one from before it was set up).
    page.context.add_cookies([{"name": "sessionid", "value": _session_of(world), "url": base}])
    # Nothing but passing it (accounts.mfa_required): the tokens page sends it there and back.
    page.goto(f"{base}/account/tokens/")
    expect(page).to_have_url(f"{base}/accounts/2fa/reauthenticate/?next=%2Faccount%2Ftokens%2F")
    enter_code(page)
    expect(page).to_have_url(f"{base}/account/tokens/")
    page.get_by_label("Name").fill("Board report")
    page.get_by_role("button", name="Make the token").click()
    assert me_with(base, page.locator("#token-secret").inner_text().strip()) == 200


def _session_of(world: World) -> str:
    """A session signed in with the password alone."""
    client = password_only_client(world.manager)
    return str(client.cookies["sessionid"].value)


def test_the_tokens_page_fits_a_phone(live_server, world: World, new_context) -> None:  # type: ignore[no-untyped-def]
    page = new_context(viewport=PHONE, is_mobile=True).new_page()
    base = live_server.url
    sign_in(page, base, world.technologist.email, PASSWORD)
    page.goto(f"{base}/account/tokens/")
    page.get_by_label("Name").fill("Phone")
    page.get_by_role("button", name="Make the token").click()
    expect(page.locator("#token-secret")).to_be_visible()
    assert_fits_phone(page)
    # Each cell stacks under the one before, named by its column; the button is not (no stray
    # ":" before "Revoke"), and once revoked its empty cell takes no line (no lone ":").
    assert stacked_cells(page, "#tokens tbody td")[-1] == ("", "Revoke")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens tbody tr")).to_have_attribute("data-status", "revoked")
    assert [caption for caption, _ in stacked_cells(page, "#tokens tbody td")] == [
        "Name: ",
        "Token: ",
        "Scope: ",
        "Created: ",
        "Expires: ",
        "Last used: ",
        "Status: ",
    ]
    page.goto(f"{base}/account/sessions/")
    assert stacked_cells(page, "#sessions tbody td")[-1] == ("", "this one")
    assert_fits_phone(page)


def stacked_cells(page: Page, cells: str) -> list[tuple[str, str]]:
    """(caption shown before it, its text) of each table cell shown, in page order: the caption
    is the CSS-generated "<column>: " of the phone layout, or "" when there is none."""
    page.wait_for_load_state("load")
    shown: list[list[str]] = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter((cell) => cell.getClientRects().length > 0)
            .map((cell) => {
              const before = getComputedStyle(cell, "::before").content
              const caption = before === "none" || before === "normal"
                ? "" : (cell.dataset.label || "") + ": "
              return [caption, cell.innerText.trim()]
            })""",
        cells,
    )
    return [(caption, text) for caption, text in shown]

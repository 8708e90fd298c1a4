"""Issue 15 in real Chromium against a real Daphne process, with the scanner agent running: the
operator, local staff and an assistant (a senior who answered a request for help) on the
console. The operator scans; local staff press STOP; from then on neither the operator's page
nor the assistant's offers any way to move control (only asking for it); local staff grant
control to the assistant, who presses Start, and the console runs again."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import User
from cockpit.models import CockpitSession
from marketplace.services.tenancy import scanner_rotate_token
from tests.browser.test_cockpit import (
    LIVE_TIMEOUT_MS,
    ScannerThread,
    _off_the_loop,
    _person,
    server,  # noqa: F401 - the live Daphne fixture
)
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.factories import UserFactory, enrol_totp
from tests.live_daphne import LiveDaphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _cockpit_assistant_and_token(world: World) -> tuple[CockpitSession, User, str]:
    def make() -> tuple[CockpitSession, User, str]:
        cockpit = open_cockpit(world)
        senior = UserFactory(email="wim.claes@example.org", first_name="Wim", last_name="Claes")
        enrol_totp(senior)  # a cockpit needs a second factor
        cockpit.assistants.add(senior)
        return cockpit, senior, scanner_rotate_token(actor=world.manager, scanner=world.scanner)

    return _off_the_loop(make)


def _control_buttons(page: Page) -> list[str]:
    """The texts of the buttons shown in the page's Control card."""
    return [
        text.strip()
        for text in page.locator("#control button:visible").all_inner_texts()
        if text.strip()
    ]


def test_after_a_local_stop_only_local_staff_hand_control_over(
    world: World,
    server: LiveDaphne,  # noqa: F811
    new_context: Callable[..., BrowserContext],
) -> None:
    cockpit, senior, token = _cockpit_assistant_and_token(world)
    prescan_confirmed(world, cockpit)  # local staff did the pre-scan checklist
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"
    local_name = world.local_staff.display_name

    with ScannerThread(server, token) as scanner:
        operator = _person(new_context, server, world.technologist.email)
        operator.goto(console_url)
        local = _person(new_context, server, world.local_staff.email)
        local.goto(console_url)
        assistant = _person(new_context, server, senior.email)
        assistant.goto(f"{console_url}?role=assistant")
        pages = (operator, local, assistant)
        for page in pages:
            expect(page.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
        expect(local.locator("#presence")).to_contain_text(
            "Wim Claes (assistant)", timeout=LIVE_TIMEOUT_MS
        )

        # The operator takes control and starts the scan.
        operator.get_by_role("button", name="Ask for control").click()
        expect(operator.locator("#console-controls")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        operator.locator("#console-controls").get_by_role("button", name="Start").click()
        for page in pages:
            expect(page.locator("#console-status")).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)

        # Local staff press STOP: they hold the scanner, and every screen says so.
        local.get_by_role("button", name="STOP").click()
        for page in pages:
            expect(page.locator("#console-status")).to_have_text("Stopped", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#control-holder")).to_contain_text(
                f"Control: {local_name} (local staff)", timeout=LIVE_TIMEOUT_MS
            )
            expect(page.locator("#control-holder")).to_contain_text(
                "Local staff hold the scanner: only they hand control over."
            )

        # The assistant asks for control: it waits for local staff.
        assistant.get_by_role("button", name="Ask for control").click()
        for page in pages:
            expect(page.locator("#control-request")).to_have_text(
                re.compile(
                    r"Wim Claes \(assistant\).* asks for control: it waits for local staff\."
                ),
                timeout=LIVE_TIMEOUT_MS,
            )
        # Neither the operator nor the assistant has any way to move control or to command.
        expect(local.get_by_role("button", name="Grant control to Wim Claes")).to_be_visible()
        for page in (operator, assistant):
            expect(page.locator("#console-controls")).to_be_hidden()
            expect(page.get_by_role("button", name=re.compile("Grant control"))).to_have_count(0)
            expect(page.get_by_role("button", name="Take over")).to_have_count(0)
        assert _control_buttons(operator) == ["Ask for control"]
        assert _control_buttons(assistant) == []

        # Local staff grant control to the assistant, who starts the scan again.
        local.get_by_role("button", name="Grant control to Wim Claes").click()
        expect(assistant.locator("#control-holder")).to_have_text(
            "Control: Wim Claes (assistant) — you", timeout=LIVE_TIMEOUT_MS
        )
        expect(operator.locator("#control-holder")).to_have_text("Control: Wim Claes (assistant)")
        expect(assistant.locator("#console-controls")).to_be_visible()
        expect(operator.locator("#console-controls")).to_be_hidden()
        assistant.locator("#console-controls").get_by_role("button", name="Start").click()
        for page in pages:
            expect(page.locator("#console-status")).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)
        expect(local.locator("#log")).to_contain_text(
            f"{local_name} (local staff) gave control to Wim Claes (assistant)"
        )
        expect(operator.locator("#log")).to_contain_text("Wim Claes (assistant): start")

    assert scanner.error is None, scanner.error
    assert scanner.agent.commands_applied == 2  # the operator's start, then the assistant's
    cockpit = CockpitSession.objects.get(pk=cockpit.pk)
    assert (cockpit.controller, cockpit.local_override) == (senior, False)

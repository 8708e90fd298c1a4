"""The crawl of the site shared by the browser tests that visit every page (tests/browser/
test_csp.py, test_accessibility_*.py): the routes, the people who open them, the arguments that
fill them, and one visit per (page, person, language) that watches the Content Security Policy
and runs axe-core on the page.

The pages are not a hand-kept list: they are every route of the URLconf (`page_routes`). Each
person of the demo world (anonymous, manager, technologist, local staff, senior technologist,
platform admin) asks each route over the test client first, with its arguments filled from the
seeded data (`ARGUMENTS`); what answers a page (200, HTML) is then opened in Chromium, against a
real Daphne so that the websockets (notifications, the cockpit's relay with a scanner agent
publishing) run under the policy too. A route that is a page for nobody fails the test unless
`NOT_VISITED` says why: a new page added by anyone is visited without editing this file, or the
test says what it needs.

A policy violation is seen three ways: the `securitypolicyviolation` event (a listener installed
before any page script, writing into `window.__csp`), Chromium's console ("… violates the
following Content Security Policy directive …"), and the reports the browser sends to
/csp-report/ (the `wescan.csp` log of the server). The browsable API is opened as a manager, and
the admin as a platform admin (`api_pages`, `admin_pages`).

Accessibility: axe-core (tests/browser/vendor/axe-core, vendored by scripts/vendor-axe.sh) is
put in each page as it is made, through the DevTools protocol, which the page's policy does not
govern (no inline script, no policy bypassed: the same visit watches the policy); once the page
has loaded, it is run with the WCAG 2.1 A and AA rules only. Each language is a browser context
of its own (its locale, hence its Accept-Language), 320 CSS pixels wide: the narrowest width
WCAG's reflow asks for, where the header folds and tables become cards.
"""

import contextlib
import io
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.internal.flows.login import record_authentication
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.apps import apps
from django.conf import settings
from django.contrib.auth import login
from django.core.management import call_command
from django.db import connections
from django.test import Client, RequestFactory
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from accounts.models import AccessToken, User
from accounts.second_factor import second_factor_enrolled, second_factor_required
from cockpit.models import AssistRequest, CockpitSession, CockpitStatus, CockpitStop
from core.models import Notification
from marketplace.models import Hospital, Invitation, Membership, Role, Scanner, SessionPosting
from marketplace.services.tenancy import invitation_create, scanner_rotate_token
from scheduling.models import AvailabilityWindow, Booking, OnCallWindow
from scheduling.services import plans
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_cockpit import ScannerThread
from tests.factories import access_token
from tests.live_daphne import LiveDaphne, live_daphne
from wescan import api_docs
from wescan.urls import router as api_router

# The people of the demo world (operations/management/commands/load_demo.py) who visit.
# The technologist and the local staff are the operator and the local side of the live cockpit
# on RM 1 (Clínica Atlântico), whose scanner agent the test runs.
PEOPLE: dict[str, str | None] = {
    "anonymous": None,
    "manager": "manager@sainte-claire.demo",
    "technologist": "tiago.ferreira@atlantico.demo",
    "local staff": "local@atlantico.demo",
    "senior": "lotte.peeters@sainte-claire.demo",
    "platform admin": "admin@wescan.demo",
    # A technologist who joined and has no second factor yet: the pages that set one up.
    "newcomer": "newcomer@sainte-claire.demo",
}
LIVE_SCANNER = ("Clínica Atlântico", "RM 1")
# The browsable API (DRF's pages) is opened as this person: every API route they may GET.
API_VISITOR = "manager"
LIVE_TIMEOUT_MS = 15_000
# How long a report may take to reach the server's log.
REPORT_WAIT_S = 5.0

# Routes of the site (the admin's and the API's are `admin_pages` and `api_pages`) that no one
# opens as a page here, and why.
NOT_VISITED: dict[str, str] = {
    "mfa_remove_webauthn": "needs a registered passkey (tests/browser/test_mfa*.py)",
    "mfa_edit_webauthn": "needs a registered passkey (tests/browser/test_mfa*.py)",
    "mfa_login_webauthn": "the passkey sign-in's POST address",
    "mfa_authenticate": "only in the middle of a sign-in with a second factor",
    "mfa_reauthenticate_webauthn": "only for a person with a passkey",
    "account_confirm_login_code": "sign-in by code is not enabled",
    "account_request_reauthentication_code": "sign-in by code is not enabled",
    "account_confirm_reauthentication_code": "sign-in by code is not enabled",
    "account_set_password": "only for a person without a password (every demo person has one)",
    "on_call_add": "the on-call page's form address: a GET goes to the on-call page",
    "admin_login": "a redirect to WeScan's own sign-in page",
    "favicon": "a redirect to the icon, a static file (tests/core/test_favicon.py)",
    "booking_cockpit": "opens the cockpit and redirects to its console (visited)",
    "notification_open": "marks a notice read and redirects to its page",
    "calendar_feed": "an iCalendar feed, not a page",
    "network_dashboard_csv": "a CSV download",
    "hospital_dashboard_csv": "a CSV download",
    "api_schema": "the OpenAPI schema (YAML), read by the docs page",
    "usersessions_list": "a redirect to WeScan's own sessions page (visited)",
    "access_token_revoke": "the tokens page's Revoke form address (POST)",
    "account_sessions_sign_out": "the sessions page's sign-out form address (POST)",
    "account_privacy_export": "a JSON download",
    "account_privacy_erase": "the privacy page's erasure form address (POST)",
    "hospital_audit_csv": "a CSV download",
    "set_language": "the header's language switch (POST)",
    "javascript_catalog": "a script, loaded by every page visited",
}
# Pages that are the same for everyone (no person's data in them, no site navigation): opened
# by the first person only.
ONCE: dict[str, str] = {"api_docs": "the API reference: one schema, the same for everyone"}
# The site's error pages, as each signed-in person sees them (with the site's navigation), and
# the 403 page, as everyone but platform staff sees the admin's sign-in.
ERROR_PAGES = {"/no-such-page/": 404, "/csp-report/": 405}
FORBIDDEN_PAGE = "/admin/login/"
# Not pages at all: the catch-all JSON 404 of the API, the admin's catch-all redirect.
NOT_ROUTES = {"", "admin:"}

# Collects each violation into window.__csp, and hands it to the test at once (a page's own
# list is gone when the next page opens).
COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const seen = {
    page: location.pathname + location.search,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
  };
  window.__csp.push(seen);
  if (typeof window.__cspSeen === "function") { window.__cspSeen(seen); }
});
"""


# --- Signing in -------------------------------------------------------------------------------


def signed_in_session(user: User) -> str:
    """A session of `user` as a sign-in with the password leaves it (with allauth's record of
    how the session was authenticated, which its account pages read): its key, for the test
    client and the browser alike. The one place that says how a person of the test signs
    in."""
    engine = import_module(settings.SESSION_ENGINE)
    request = RequestFactory().get("/")
    request.session = engine.SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # Just now, so also a recent re-authentication: the pages that ask for one (adding a second
    # factor) open at once. A person with a second factor has passed it too.
    record_authentication(request, user, method="password", email=user.email, reauthenticated=True)
    if second_factor_enrolled(user):
        record_authentication(request, user, method="mfa", type="totp", reauthenticated=True)
    request.session.save()
    key = request.session.session_key
    assert key is not None
    return key


# One sign-in per role: a role that must pass a second factor gets a function of its own here.
SIGN_IN: dict[str, Callable[[User], str]] = {
    role: signed_in_session for role, email in PEOPLE.items() if email is not None
}


@dataclass
class Person:
    role: str
    user: User | None
    session: str | None

    def client(self) -> Client:
        client = Client(raise_request_exception=False)
        if self.session is not None:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.session
        return client


def people() -> list[Person]:
    found = []
    for role, email in PEOPLE.items():
        user = User.objects.get(email=email) if email else None
        session = SIGN_IN[role](user) if user is not None else None
        found.append(Person(role=role, user=user, session=session))
    return found


# --- Routes and their arguments -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    pattern_object: URLPattern

    @property
    def arguments(self) -> list[str]:
        return list(self.pattern_object.pattern.regex.groupindex)

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/") and self.name != "api_docs"

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/") and self.name != "admin_login"


def all_routes() -> list[Route]:
    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Route]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}{entry.namespace}:"
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                yield Route(f"{namespace}{entry.name or ''}", prefix + str(entry.pattern), entry)

    routes: dict[str, Route] = {}
    for route in walk(get_resolver().url_patterns, "", ""):
        if route.name in NOT_ROUTES:
            continue
        routes.setdefault(route.name, route)  # the first of a name is the one reverse() picks
    return list(routes.values())


def page_routes() -> list[Route]:
    """Every route a person might open as a page: all but the API's and the admin's (visited by
    `api_pages` and `admin_pages`)."""
    return [r for r in all_routes() if not r.is_api and not r.is_admin]


@dataclass
class Seeded:
    """The objects of the demo world (and the few made for pages that need a state of their
    own), as the arguments of a person's routes."""

    invitation_token: str
    plan_id: int


def _hospital(person: Person) -> int | None:
    """The person's own hospital (the one they manage, if any); for a platform admin and the
    anonymous visitor, a hospital with a manager."""
    if person.user is None or person.user.is_staff:
        return Membership.objects.filter(role=Role.MANAGER).values_list("hospital", flat=True)[0]
    memberships = Membership.objects.filter(user=person.user)
    managed = memberships.filter(role=Role.MANAGER)
    return (managed if managed.exists() else memberships).values_list("hospital", flat=True)[0]


def _managed(person: Person) -> int | None:
    """The hospital a person manages (any for a platform admin)."""
    if person.user is not None and person.user.is_staff:
        return _hospital(person)
    return (
        Membership.objects.filter(user=person.user, role=Role.MANAGER)
        .values_list("hospital", flat=True)
        .first()
    )


def _booking(person: Person) -> int | None:
    bookings = Booking.objects.order_by("-starts_at")
    if person.user is not None and not person.user.is_staff:
        mine = bookings.filter(technologist=person.user)
        bookings = mine if mine.exists() else bookings.filter(posting__hospital=_hospital(person))
    return bookings.values_list("pk", flat=True).first()


def _cockpit(person: Person) -> int | None:
    """The live cockpit (the technologist's, with the scanner agent) for the people in it and
    for those who see every cockpit; a cockpit of their own hospital for the others."""
    cockpits = CockpitSession.objects.exclude(status=CockpitStatus.ENDED).order_by("-pk")
    hospital, scanner = LIVE_SCANNER
    live = cockpits.filter(
        booking__posting__scanner__name=scanner,
        booking__posting__hospital__name=hospital,
        booking__technologist__email=PEOPLE["technologist"],
    )
    if person.role in {"technologist", "local staff", "platform admin", "anonymous"}:
        return live.values_list("pk", flat=True).first()
    if person.user is not None:
        mine = cockpits.filter(booking__technologist=person.user)
        cockpits = (
            mine if mine.exists() else cockpits.filter(booking__posting__hospital=_hospital(person))
        )
    return cockpits.values_list("pk", flat=True).first()


def _posting(person: Person) -> int | None:
    postings = SessionPosting.objects.order_by("-starts_at")
    managed = _managed(person)
    if managed is not None:
        postings = postings.filter(hospital=managed)
    return postings.filter(status="open").values_list("pk", flat=True).first()


def _window(person: Person) -> int | None:
    windows = AvailabilityWindow.objects.order_by("pk")
    if person.user is not None and not person.user.is_staff:
        windows = windows.filter(technologist=person.user)
    return windows.values_list("pk", flat=True).first()


def _technologist(person: Person) -> int | None:
    return (
        Membership.objects.filter(hospital=_managed(person), role=Role.TECHNOLOGIST)
        .values_list("user", flat=True)
        .first()
    )


def _reset_key(person: Person) -> tuple[str, str]:
    user = person.user or User.objects.get(email=PEOPLE["technologist"])
    return user_pk_to_url_str(user), default_token_generator.make_token(user)


def _confirm_key(person: Person) -> str:
    user = person.user or User.objects.get(email=PEOPLE["technologist"])
    address = EmailAddress.objects.filter(user=user).first()
    assert address is not None
    return EmailConfirmationHMAC(address).key


# What fills each argument of a route, for a person: "route:argument" first, then "argument".
# None: the person has no such object (the route is not theirs to open).
ARGUMENTS: dict[str, Callable[[Person, Seeded], object | None]] = {
    "hospital_id": lambda p, s: _hospital(p),
    "technologist_id": lambda p, s: _technologist(p),
    "posting_id": lambda p, s: _posting(p),
    "booking_id": lambda p, s: _booking(p),
    "cockpit_id": lambda p, s: _cockpit(p),
    "window_id": lambda p, s: _window(p),
    "on_call_delete:window_id": lambda p, s: OnCallWindow.objects.values_list("pk", flat=True)[0],
    "month": lambda p, s: f"{timezone.now():%Y-%m}",
    "move": lambda p, s: "accept",
    "plan_id": lambda p, s: s.plan_id,
    "token": lambda p, s: s.invitation_token,
    "stop_id": lambda p, s: CockpitStop.objects.values_list("pk", flat=True).first() or 1,
    "assist_id": lambda p, s: AssistRequest.objects.values_list("pk", flat=True).first() or 1,
    "invitation_id": lambda p, s: Invitation.objects.values_list("pk", flat=True)[0],
    "membership_id": lambda p, s: Membership.objects.values_list("pk", flat=True)[0],
    "scanner_id": lambda p, s: Scanner.objects.values_list("pk", flat=True)[0],
    "notification_id": lambda p, s: (
        Notification.objects.filter(recipient=p.user).values_list("pk", flat=True).first()
    ),
    "key": lambda p, s: _confirm_key(p),
    "token_id": lambda p, s: AccessToken.objects.values_list("pk", flat=True).first() or 1,
    "account_reset_password_from_key:uidb36": lambda p, s: _reset_key(p)[0],
    "account_reset_password_from_key:key": lambda p, s: _reset_key(p)[1],
}


def url_for(route: Route, person: Person, seeded: Seeded) -> str | None:
    """The address of `route` for `person`, its arguments filled; None when one of them has no
    object for this person."""
    values: dict[str, object] = {}
    for argument in route.arguments:
        filler = ARGUMENTS.get(f"{route.name}:{argument}") or ARGUMENTS.get(argument)
        if filler is None:
            pytest.fail(
                f"The route {route.name!r} ({route.pattern}) takes {argument!r}, which this test "
                f"cannot fill: add it to ARGUMENTS (or the route to NOT_VISITED, saying why)."
            )
        value = filler(person, seeded)
        if value is None:
            return None
        values[argument] = value
    return reverse(route.name, kwargs=values or None)


# --- What each person gets -----------------------------------------------------------------------


@dataclass
class Answer:
    route: Route
    person: Person
    url: str
    status: int
    content_type: str

    @property
    def is_page(self) -> bool:
        return self.status == 200 and self.content_type.startswith("text/html")


def ask(route: Route, person: Person, url: str, client: Client) -> Answer:
    response = client.get(url, HTTP_ACCEPT="text/html")
    # A redirect to the same route (allauth's password reset key, kept in the session) is that
    # page: follow it.
    if response.status_code == 302 and _route_name(response["Location"]) == route.name:
        url = response["Location"]
        response = client.get(url, HTTP_ACCEPT="text/html")
    return Answer(route, person, url, response.status_code, response.get("Content-Type", ""))


def _route_name(url: str) -> str | None:
    try:
        return resolve(url.split("?", 1)[0]).view_name
    except Resolver404:
        return None


def classify(person: Person, seeded: Seeded, forms: set[str]) -> list[Answer]:
    """What `person` gets at each page route. A route that answered 405 (a form's address) to
    one signed-in person is one for all (`forms`): not asked again."""
    answers = []
    client = person.client()
    for route in page_routes():
        if route.name in NOT_VISITED or route.name in forms:
            continue
        url = url_for(route, person, seeded)
        if url is None:
            continue
        answer = ask(route, person, url, client)
        answers.append(answer)
        if answer.status == 405 and person.user is not None:
            forms.add(route.name)
    return answers


def uncovered(answers: list[Answer]) -> list[str]:
    """The page routes that are nobody's page, a form's address, or a download here, each with
    what every person got."""
    got: dict[str, list[Answer]] = {}
    for answer in answers:
        got.setdefault(answer.route.name, []).append(answer)
    missing = []
    for route in page_routes():
        if route.name in NOT_VISITED:
            continue
        seen = got.get(route.name, [])
        if any(a.is_page or a.status == 405 for a in seen):
            continue
        if any(a.status == 200 for a in seen):  # a download: not a page
            continue
        statuses = ", ".join(f"{a.person.role} {a.status}" for a in seen) or "no argument filled"
        missing.append(f"{route.name} ({route.pattern}): {statuses}")
    return missing


def api_pages(person: Person, seeded: Seeded) -> list[Answer]:
    """The browsable API (DRF's HTML pages) that `person` may open: every API route they may
    GET, a detail route at the first object of its list."""
    client = person.client()
    pages = []
    for route in all_routes():
        if not route.is_api or route.name in NOT_VISITED:
            continue
        values: dict[str, object] = {}
        for argument in route.arguments:
            filler = ARGUMENTS.get(argument)
            if argument == "pk":
                value = _api_pk(route, client)
            elif filler is not None:
                value = filler(person, seeded)
            else:
                pytest.fail(
                    f"The API route {route.name!r} takes {argument!r}: add it to ARGUMENTS."
                )
            if value is None:
                break
            values[argument] = value
        else:
            url = reverse(route.name, kwargs=values or None)
            answer = ask(route, person, url, client)
            if answer.is_page:
                pages.append(answer)
    return pages


def _api_pk(route: Route, client: Client) -> object | None:
    """The id of the first object in the list of a router's detail route."""
    basenames = [basename for _prefix, _viewset, basename in api_router.registry]
    basename = max((b for b in basenames if route.name.startswith(f"{b}-")), key=len, default=None)
    if basename is None:
        return None
    listed = client.get(reverse(f"{basename}-list"), HTTP_ACCEPT="application/json")
    if listed.status_code != 200:
        return None
    body = listed.json()
    rows = body.get("results", []) if isinstance(body, dict) else body
    return rows[0]["id"] if rows else None


def admin_pages(person: Person) -> list[str]:
    """The admin as a platform admin sees it: its index, each model's list and change form (the
    add form when there is no object), and for one model its app page, add, history and delete
    pages, and the password forms: every template of the admin, without each model's copy."""
    urls = [reverse("admin:index")]
    for route in all_routes():
        if not (route.is_admin and route.name.endswith("_changelist")):
            continue
        _admin, app_label, model_name = route.pattern.strip("/").split("/")
        model = apps.get_model(app_label, model_name)
        prefix = route.name.removesuffix("_changelist")
        urls.append(reverse(route.name))
        first = model._default_manager.first()
        if first is None:
            urls.append(reverse(f"{prefix}_add"))
        else:
            urls.append(reverse(f"{prefix}_change", args=[first.pk]))
    hospital = Hospital.objects.first()
    assert hospital is not None
    assert person.user is not None
    urls += [
        reverse("admin:app_list", args=["marketplace"]),
        reverse("admin:marketplace_hospital_add"),
        reverse("admin:marketplace_hospital_history", args=[hospital.pk]),
        reverse("admin:marketplace_hospital_delete", args=[hospital.pk]),
        reverse("admin:auth_user_password_change", args=[person.user.pk]),
        reverse("admin:password_change"),
    ]
    return urls


# --- Violations ---------------------------------------------------------------------------------


@dataclass
class Violations:
    """What the browser said about the policy: the listener's events, the console's lines."""

    events: list[dict[str, str]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.expose_binding("__cspSeen", lambda _source, seen: self.events.append(seen))
        context.add_init_script(COLLECT)

    def watch_page(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                self.console.append(f"{page.url}: {message.text}")

        page.on("console", on_console)

    def clear(self) -> None:
        self.events.clear()
        self.console.clear()


@contextlib.contextmanager
def reports_logged(path: Path) -> Iterator[None]:
    """The server's `wescan.csp` log in a file: the Daphne process forked inside inherits the
    handler, and writes there each violation reported to it."""
    logger = logging.getLogger("wescan.csp")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def reports(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def wait_for_reports(path: Path, count: int) -> list[str]:
    """The reports logged once `count` have come (a browser sends them after the fact)."""
    deadline = time.monotonic() + REPORT_WAIT_S
    while len(reports(path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return reports(path)


# --- The world and the visits --------------------------------------------------------------------


def seed() -> Seeded:
    """The demo world, and what a few pages need besides: an invitation's link (the join page),
    a plan's proposal, and an authenticator app with recovery codes for the people who need
    a second factor (the pages of one who has them; the senior has none, and sees the pages
    that set one up)."""
    call_command("load_demo", stdout=io.StringIO())
    manager = User.objects.get(email=PEOPLE["manager"])
    hospital = Membership.objects.get(user=manager, role=Role.MANAGER).hospital
    _invitation, token = invitation_create(
        actor=manager, hospital=hospital, email="new.colleague@example.org", role=Role.TECHNOLOGIST
    )
    plan, _ = plans.plan_create(actor=manager, hospital=hospital, time_limit_s=1)
    access_token(manager)  # the tokens page lists one, and the admin has one to show
    newcomer = User.objects.create_user(email=PEOPLE["newcomer"], password="wescan-demo")
    EmailAddress.objects.create(user=newcomer, email=newcomer.email, verified=True, primary=True)
    Membership.objects.create(user=newcomer, hospital=hospital, role=Role.TECHNOLOGIST)
    for role, email in PEOPLE.items():
        user = User.objects.filter(email=email).first() if email else None
        # Those who must have a second factor have one (and the cockpit's operator, who needs
        # one before a cockpit): their sessions have passed it (`signed_in_session`).
        # (The demo's logins come with the demo's authenticator app; others get one here.)
        needs_one = user is not None and (second_factor_required(user) or role == "technologist")
        if needs_one and not second_factor_enrolled(user):
            TOTP.activate(user, generate_totp_secret())
        if (
            needs_one
            and not Authenticator.objects.filter(
                user=user, type=Authenticator.Type.RECOVERY_CODES
            ).exists()
        ):
            RecoveryCodes.activate(user)
    return Seeded(invitation_token=token, plan_id=plan.pk)


def live_scanner_token() -> str:
    hospital, name = LIVE_SCANNER
    scanner = Scanner.objects.select_related("site__hospital").get(
        site__hospital__name=hospital, name=name
    )
    manager = Membership.objects.get(hospital=scanner.site.hospital, role=Role.MANAGER).user
    return scanner_rotate_token(actor=manager, scanner=scanner)


# --- Accessibility --------------------------------------------------------------------------------

AXE_SOURCE = (Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js").read_text(
    encoding="utf-8"
)
# WCAG 2.1 level A and AA, nothing else (axe's best practices are not the bar, and cost time).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """async tags => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
    // No stylesheet fetched again over XHR (css-orientation-lock's), no frames to message.
    preload: false,
    iframes: false,
  });
  return results.violations.map(v => ({
    rule: v.id,
    impact: v.impact || "",
    help: v.help,
    targets: v.nodes.map(n => n.target.join(" ")),
  }));
}"""


@dataclass(frozen=True)
class Language:
    code: str
    locale: str

    def audits(self, url: str) -> bool:
        """Whether this language's crawl audits `url` (`LANGUAGE_SHARES`)."""
        share = list(LANGUAGES).index(self.code) % LANGUAGE_SHARES
        return zlib.crc32(url.encode()) % LANGUAGE_SHARES == share


LANGUAGES = {
    "en": Language("en", "en-GB"),
    "nl": Language("nl", "nl-BE"),
    "fr": Language("fr", "fr-BE"),
}
# How many ways the addresses are shared out between the languages. 1: every address is
# audited in every language. 3: each address in one language only (a fixed third each: en, nl,
# fr), and the Dutch and French crawls open only their third: about a third of the audits, for
# CI's time, every language still audited on its share of the pages.
LANGUAGE_SHARES = 1
# WCAG 2.1's reflow width (1.4.10): 320 CSS pixels, as a phone shows the site.
VIEWPORT = {"width": 320, "height": 720}


@dataclass
class Finding:
    """One axe violation: a rule, where, for whom, in which language, on which elements."""

    page: str
    role: str
    language: str
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        where = "\n    ".join(self.targets)
        return (
            f"{self.page} [{self.role}, {self.language}] {self.rule} ({self.impact}): "
            f"{self.help}\n    {where}"
        )


def audit(page: Page, *, role: str, language: str) -> list[Finding]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it stands (axe is in every page of
    a crawl's context: `open_context`)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    found: list[dict[str, Any]] = page.evaluate(AXE_RUN, AXE_TAGS)
    path = urlsplit(page.url)
    where = path.path + (f"?{path.query}" if path.query else "")
    return [Finding(where, role, language, **violation) for violation in found]


# --- The crawl ------------------------------------------------------------------------------------


def page_ready(page: Page, route: str, person: Person) -> None:
    """Wait for what a page does after it has loaded, where that matters to the policy."""
    if route == "cockpit_console" and person.role in {"technologist", "local staff"}:
        # The relay's socket is open and the scanner agent's console state shown.
        expect(page.locator("#cockpit")).to_have_attribute(
            "data-connection", "live", timeout=LIVE_TIMEOUT_MS
        )
        expect(page.locator("#sequences li").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)


def open_context(
    person: Person, daphne: LiveDaphne, browser: Browser, language: Language
) -> BrowserContext:
    """A browser of this person (their session), in this language, 320 pixels wide."""
    context = browser.new_context(locale=language.locale, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    # axe-core in every page as it is made, before the page's own scripts, through the DevTools
    # protocol (the page's policy does not govern it, nor is it relaxed). Sent to the browser
    # once per context, and compiled from the renderer's cache after the first page: sent with
    # each audit, it took a third of the audits' time (0.1 s a page).
    context.add_init_script(AXE_SOURCE)
    if person.session is not None:
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": person.session, "url": daphne.url}]
        )
    return context


def visit(
    page: Page, base: str, url: str, *, route: str, person: Person, status: int = 200
) -> None:
    response = page.goto(base + url, wait_until="load")
    assert response is not None, url
    assert response.status == status, f"{person.role} got {response.status} at {url}"
    page_ready(page, route, person)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveDaphne, Path]]:
    log = tmp_path / "csp-reports.log"
    log.touch()
    connections.close_all()
    with reports_logged(log), live_daphne() as (daphne,):
        yield daphne, log


@dataclass
class Crawl:
    """What one crawl saw: the test client's answers, the pages opened, the policy's
    violations, axe's findings, and the time each part took."""

    answers: list[Answer]
    opened: list[str]
    violations: Violations
    findings: list[Finding]
    timings: dict[str, float]
    every_person: bool

    def check(self) -> None:
        """Every page route is someone's page, none answered 5xx, and no page broke the policy
        or a WCAG 2.1 A/AA rule."""
        missing = uncovered(self.answers)
        assert not missing, (
            "Page routes no one opened (fill their arguments in ARGUMENTS, or say why in "
            "NOT_VISITED):\n" + "\n".join(missing)
        )
        broken = [f"{a.person.role} {a.status} {a.url}" for a in self.answers if a.status >= 500]
        assert not broken, broken
        # Every person's pages (English), or each address once, in this language's share.
        assert len(self.opened) > (200 if self.every_person else 150 // LANGUAGE_SHARES)
        assert self.violations.events == [], self.violations.events
        assert self.violations.console == [], self.violations.console
        assert not self.findings, (
            f"{len(self.findings)} WCAG 2.1 A/AA violations (axe-core):\n"
            + "\n".join(str(f) for f in self.findings)
        )


def crawl(
    daphne: LiveDaphne,
    browser: Browser,
    language: Language,
    *,
    every_person: bool,
    before: Callable[[], None] = lambda: None,
) -> Crawl:
    """Every page in `language`, watched for the policy and audited by axe. With
    `every_person`, each person opens each of their pages (the policy is watched on every
    visit); otherwise an address is opened by the first person whose page it is. axe audits an
    address once, for the first person who opens it (CI's time: the other people's copies of a
    page are its same template). `before` runs once the world is seeded, before the first visit
    (the canary)."""
    routes = {route.name for route in all_routes()}
    assert set(NOT_VISITED) | set(ONCE) <= routes, "a route named here no longer exists"
    timings: dict[str, float] = {"visits": 0.0, "axe": 0.0}
    started = time.monotonic()
    # The test client's side runs in one worker thread, off Playwright's event loop (where the
    # services' on-commit pushes cannot run): each person's pages are asked for there while the
    # browser opens the previous person's.
    with ThreadPoolExecutor(max_workers=1) as worker:
        seeded = worker.submit(seed).result()
        visitors = worker.submit(people).result()
        token = worker.submit(live_scanner_token).result()
        timings["seed"] = time.monotonic() - started
        forms: set[str] = set()
        asked = [worker.submit(classify, person, seeded, forms) for person in visitors]
        by_role = {person.role: person for person in visitors}
        api = worker.submit(api_pages, by_role[API_VISITOR], seeded)
        admin_urls = worker.submit(admin_pages, by_role["platform admin"])
        worker.submit(connections.close_all)

        before()
        violations = Violations()
        findings: list[Finding] = []
        opened: list[str] = []
        audited: set[object] = set()
        with ScannerThread(daphne, token) as scanner:
            for person, answers in zip(visitors, asked, strict=True):
                context = open_context(person, daphne, browser, language)
                violations.watch(context)
                page = context.new_page()
                violations.watch_page(page)
                pages = [(a.url, a.route.name, 200) for a in answers.result() if a.is_page]
                if person.role == API_VISITOR:
                    pages += [(a.url, a.route.name, 200) for a in api.result()]
                if person.role == "platform admin":
                    pages += [(url, "admin", 200) for url in admin_urls.result()]
                if person.user is not None:
                    pages += [(url, "error", status) for url, status in ERROR_PAGES.items()]
                    if not person.user.is_staff:
                        pages.append((FORBIDDEN_PAGE, "error", 403))
                if person is visitors[0]:
                    pages += [(url, "api_docs", 200) for url in api_docs.part_urls()]
                for url, route, status in pages:
                    if route in ONCE and url in audited:
                        continue
                    if not every_person and (url in audited or not language.audits(url)):
                        continue
                    mark = time.monotonic()
                    visit(page, daphne.url, url, route=route, person=person, status=status)
                    timings["visits"] += time.monotonic() - mark
                    # With every person, each role's copy of a page is audited (a cockpit shows
                    # local staff a STOP bar the operator has not); otherwise each address once.
                    key = (url, person.role) if every_person and route not in ONCE else url
                    if key not in audited and language.audits(url):
                        mark = time.monotonic()
                        findings += audit(page, role=person.role, language=language.code)
                        timings["axe"] += time.monotonic() - mark
                        audited.update({key, url})
                    opened.append(route)
                context.close()
            assert scanner.error is None, scanner.error
    timings["total"] = time.monotonic() - started
    everything = [answer for answers in asked for answer in answers.result()]
    return Crawl(everything, opened, violations, findings, timings, every_person)

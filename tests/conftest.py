"""The usual graph: two hospitals, each with a site and a scanner, and one person per role."""

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from accounts.models import User
from marketplace.models import ExamFamily, Hospital, Language, Role, Scanner, Site
from tests.factories import (
    HospitalFactory,
    MembershipFactory,
    ScannerFactory,
    SiteFactory,
    UserFactory,
    enrol_totp,
    forget_used_codes,
)
from tests.sessions import record_signed_in


def flush_by_delete() -> None:
    """A transactional test (`django_db(transaction=True)`) ends with Django's flush, which on
    PostgreSQL TRUNCATEs every table: 0.3 to 0.5 s a test here, as each truncated table and index
    gets new files, and hundreds of such tests run in CI's PostgreSQL leg. A DELETE of the few
    rows a test leaves takes 30 ms for all 46 tables; the foreign keys Django makes are checked
    at commit (DEFERRABLE INITIALLY DEFERRED), by which time every row is gone. A table with a
    trigger of its own (the audit log refuses DELETE) is still truncated. Sequences are reset
    as before (they are not, unless asked: then the whole flush is Django's)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    if getattr(DatabaseOperations, "flushes_by_delete", False):
        return
    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: object,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or not tables:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"
            )
            guarded = {name.strip('"') for (name,) in cursor.fetchall()}
        kept = [table for table in tables if table in guarded]
        # As TRUNCATE would, wait for any transaction still writing to these tables (a live
        # server's request, a worker thread): its rows must not outlive the flush unseen.
        tables_named = ", ".join(self.quote_name(table) for table in tables)
        statements = [f"LOCK TABLE {tables_named} IN SHARE ROW EXCLUSIVE MODE"]
        statements += truncate(self, style, kept, allow_cascade=True) if kept else []
        # The tables' names come from Django's own list of them, quoted.
        deletes = [f"DELETE FROM {self.quote_name(table)}" for table in tables]  # noqa: S608
        return statements + [
            delete for table, delete in zip(tables, deletes, strict=True) if table not in guarded
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    DatabaseOperations.flushes_by_delete = True  # type: ignore[attr-defined]


flush_by_delete()


def pytest_report_header(config: pytest.Config) -> list[str]:
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return [
        f"wescan: database {connection.vendor} ({settings.DATABASES['default']['ENGINE']}), "
        f"channel layer {layer}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    ]


# How long each test file took, in seconds (setup, call and teardown of its tests), on each
# leg of CI: written by `make test-durations` (WESCAN_RECORD_DURATIONS names the file), read
# here to hand the longest files out first. `make test` gives each xdist worker a file at a
# time, in the order collected (--no-loadscope-reorder): a crawl of every page (minutes)
# handed out last ran alone at the end while the other workers stood idle. A file not listed
# (a new one) counts as DURATION_UNKNOWN_S; the figures need not be current, only their order
# roughly right.
DURATIONS = Path(__file__).with_name("durations.json")
DURATION_UNKNOWN_S = 5.0


def known_durations() -> dict[str, float]:
    try:
        return {path: float(seconds) for path, seconds in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):  # missing or not {path: seconds}
        return {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (the slowest leg's figure for each), each file's tests in the
    order collected."""
    durations = known_durations()
    order = {path: index for index, path in enumerate(dict.fromkeys(item.path for item in items))}

    def rank(item: pytest.Item) -> tuple[float, int]:
        path = item.nodeid.split("::", 1)[0]
        return (-durations.get(path, DURATION_UNKNOWN_S), order[item.path])

    items.sort(key=rank)


_spent: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each test's time, added to its file's (on the xdist controller: every worker's reports
    come to it)."""
    path = report.nodeid.split("::", 1)[0]
    _spent[path] = _spent.get(path, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With WESCAN_RECORD_DURATIONS=<file>: this run's figures, merged into the file's (the
    larger of the two for each file, so that both legs of CI are covered)."""
    target = os.environ.get("WESCAN_RECORD_DURATIONS")
    if not target or hasattr(session.config, "workerinput") or not _spent:
        return
    path = Path(target)
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    if not isinstance(kept, dict):
        kept = {}
    for name, seconds in _spent.items():
        kept[name] = round(max(seconds, float(kept.get(name, 0.0))), 1)
    path.write_text(json.dumps(dict(sorted(kept.items())), indent=1) + "\n")


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor() -> Iterator[None]:
    """`client.force_login(user)` signs in as allauth's sign-in would: with the password and,
    when the person has one, their second factor (`tests.sessions`). Patched on a MonkeyPatch
    of its own: a test's `monkeypatch.undo()` leaves it in place."""
    login = Client._login

    def login_as_signed_in(self: Client, user: User, backend: str | None = None) -> None:
        login(self, user, backend)
        session = self.session
        record_signed_in(session, user)
        session.save()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Client, "_login", login_as_signed_in)
        yield


@pytest.fixture(autouse=True)
def _language_of_its_own() -> Iterator[None]:
    """Each test starts in the site's default language: a request (or a consumer) that activated
    Dutch leaves it on in this thread otherwise."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # allauth's rate limits live in the cache; on Redis it outlives a test. So do the codes
    # allauth saw used: the test's own record of them starts afresh too.
    cache.clear()
    forget_used_codes()


@pytest.fixture(autouse=True)
def _seeded_vocabulary(request: pytest.FixtureRequest) -> None:
    """Every test with the database finds the seeded vocabularies, whatever ran before it in
    this process (the suite runs on several workers, each in its own order)."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    ):
        request.getfixturevalue("vocabulary")


@pytest.fixture
def vocabulary(db: None) -> None:
    seed_vocabulary()


def seed_vocabulary() -> None:
    """The vocabularies a migration seeds (exam families, languages). A transactional test
    (live servers, threads) starts from tables that an earlier one flushed: seeded again here by
    the migration's own function."""
    if ExamFamily.objects.exists() and Language.objects.exists():
        return
    migration = importlib.import_module("marketplace.migrations.0003_seed_vocabularies")
    migration.seed(django_apps, None)


@dataclass
class World:
    hospital: Hospital
    site: Site
    scanner: Scanner
    other_hospital: Hospital
    other_site: Site
    other_scanner: Scanner
    manager: User
    technologist: User
    local_staff: User
    other_manager: User
    admin: User
    outsider: User


@pytest.fixture
def world(db: None) -> World:
    hospital = HospitalFactory(name="Hôpital Sainte-Claire")
    other = HospitalFactory(name="Ziekenhuis Scheldeland")
    site = SiteFactory(hospital=hospital, name="Campus Nord")
    other_site = SiteFactory(hospital=other, name="Hoofdcampus")
    people = {
        "manager": (hospital, Role.MANAGER),
        "technologist": (hospital, Role.TECHNOLOGIST),
        "local_staff": (hospital, Role.LOCAL_STAFF),
        "other_manager": (other, Role.MANAGER),
    }
    users = {}
    for key, (where, role) in people.items():
        users[key] = UserFactory(email=f"{key.replace('_', '-')}@example.org")
        MembershipFactory(user=users[key], hospital=where, role=role)
        # Everyone here has an authenticator app: managers, local staff and admins must before
        # any page, the technologist before a cockpit (tests of the requirement make their own).
        enrol_totp(users[key])
    admin = UserFactory(email="admin@example.org", is_staff=True, is_superuser=True)
    enrol_totp(admin)
    return World(
        hospital=hospital,
        site=site,
        scanner=ScannerFactory(site=site, name="MR 1"),
        other_hospital=other,
        other_site=other_site,
        other_scanner=ScannerFactory(site=other_site, name="MRI A"),
        admin=admin,
        outsider=UserFactory(email="independent@example.org"),
        **users,
    )


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def api_as(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# Everyone the tenancy matrices try, from nobody to a platform admin.
PEOPLE = [
    "anonymous",
    "outsider",
    "technologist",
    "local_staff",
    "manager",
    "other_manager",
    "admin",
]

# What each of PEOPLE gets on a page only a hospital's managers (and platform admins) use.
MANAGER_PAGE = {
    "anonymous": 302,
    "outsider": 404,
    "other_manager": 404,
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "admin": 200,
}


def who(world: World, name: str) -> User | None:
    """One of PEOPLE in the world (None for the anonymous visitor)."""
    return None if name == "anonymous" else getattr(world, name)


def client_for(user: User | None) -> Client:
    """A browser-like client for the pages, signed in as `user` (anonymous for None)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client

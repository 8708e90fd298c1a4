"""Asking a senior for help, through the services against a real database: who is asked at each
stage (one test per filter), how they are told (stored, pushed live to any page, mailed), the
first of ten accepts winning the race, escalation run by the periodic task on a controlled clock,
and how a request ends (cancelled, finished and credited in the ledger, closed with the cockpit).

The clock is frozen on Monday 23 November 2026, 09:00 UTC (10:00 in Brussels; see
tests/scheduling/support.py). world.technologist (experienced, French and Dutch) operates a neuro
list on MR 1, a Siemens scanner of Hôpital Sainte-Claire, starting five minutes later; the seniors
who could help mostly work at Ziekenhuis Scheldeland."""

import asyncio
import importlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.apps import apps
from django.db import connection
from django.urls import reverse

from accounts.models import User
from cockpit import services
from cockpit.groups import store_prefix
from cockpit.models import AssistNotice, AssistRequest, AssistStage, AssistStatus, CockpitSession
from cockpit.selectors import assist_view, cockpit_get, roles_for, session_view
from cockpit.store import store
from cockpit.tasks import assist_escalate_due
from core.errors import Conflict, NotFound, PermissionDenied
from core.groups import user_group
from core.models import AuditEvent, Notification
from marketplace.models import ExamFamily, Hospital, Language, Role, Scanner, Seniority, Vendor
from scheduling.models import LedgerEntry, LedgerKind
from scheduling.services import availability_create, booking_start
from scheduling.services.on_call import on_call_create, on_call_pause
from tests.cockpit.support import open_booking, open_cockpit
from tests.conftest import World
from tests.factories import HospitalFactory, MembershipFactory, UserFactory
from tests.factories_supply import LicensedTechnologistFactory
from tests.scheduling.support import NOW, Clock, freeze, local

pytestmark = pytest.mark.django_db

EVERY_VENDOR = ("siemens", "ge", "philips", "canon")
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
ASSIST_KINDS = ("assist_request", "assist_unanswered")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


@pytest.fixture
def cockpit(world: World, clock: Clock) -> CockpitSession:
    return _cockpit(world)


def _cockpit(
    world: World,
    *,
    languages: tuple[str, ...] = (),
    operator_languages: tuple[str, ...] = ("fr", "nl"),
    operator_seniority: str = Seniority.EXPERIENCED,
) -> CockpitSession:
    """A neuro list on MR 1 (Siemens) asking for `languages`, operated by world.technologist."""
    Scanner.objects.filter(pk=world.scanner.pk).update(vendor=Vendor.SIEMENS)
    world.scanner.refresh_from_db()
    LicensedTechnologistFactory(
        user=world.technologist,
        seniority=operator_seniority,
        languages=list(operator_languages),
    )
    return open_cockpit(
        world,
        required_exam_families=ExamFamily.objects.filter(code="neuro"),
        languages=Language.objects.filter(code__in=languages),
    )


def _senior(
    hospital: Hospital | None,
    name: str = "Sam",
    *,
    seniority: str = Seniority.SENIOR,
    families: tuple[str, ...] = ("neuro", "msk"),
    languages: tuple[str, ...] = ("fr",),
    vendors: tuple[str, ...] = EVERY_VENDOR,
    on_call: bool = True,
    window_families: tuple[str, ...] = (),
    **licence: Any,
) -> User:
    """A verified technologist of `hospital`, on call every day from 07:00 to 21:00 (for every
    family on their profile unless `window_families` says)."""
    user = UserFactory(first_name=name, last_name="Senior")
    if hospital is not None:
        MembershipFactory(user=user, hospital=hospital, role=Role.TECHNOLOGIST)
    LicensedTechnologistFactory(
        user=user,
        seniority=seniority,
        exam_families=list(families),
        languages=list(languages),
        vendors=list(vendors),
        **licence,
    )
    if on_call:
        _on_call_daily(user, families=window_families)
    return user


def _on_call_daily(
    user: User,
    *,
    families: tuple[str, ...] = (),
    actor: User | None = None,
    lending_hospital: Hospital | None = None,
) -> None:
    """Every day 07:00–21:00 Brussels, since Monday a week ago."""
    on_call_create(
        actor=actor or user,
        technologist=user,
        starts_at=local(11, 16, 7),
        ends_at=local(11, 16, 21),
        time_zone="Europe/Brussels",
        rrule="FREQ=DAILY",
        exam_families=list(families),
        lending_hospital=lending_hospital,
    )


def _available_daily(user: User) -> None:
    """Available for remote work every day 07:00–21:00 Brussels, since Monday a week ago."""
    availability_create(
        actor=user,
        technologist=user,
        starts_at=local(11, 16, 7),
        ends_at=local(11, 16, 21),
        time_zone="Europe/Brussels",
        rrule="FREQ=DAILY",
    )


def _ask(
    world: World,
    cockpit: CockpitSession,
    *,
    by: str = "operator",
    note: str = "",
    now: Any = None,
) -> AssistRequest:
    actor = world.technologist if by == "operator" else world.local_staff
    return services.assist_request(
        actor=actor, role=by, cockpit=cockpit, exam_family="neuro", note=note, now=now
    )


def _asked(assist: AssistRequest) -> set[User]:
    """The technologists asked to accept (at any stage so far)."""
    return set(User.objects.filter(assist_notices__request=assist, assist_notices__may_accept=True))


def _told(user: User) -> list[str]:
    """The kinds of assist notices stored for `user`, oldest first."""
    return list(
        Notification.objects.filter(recipient=user, kind__in=ASSIST_KINDS)
        .order_by("pk")
        .values_list("kind", flat=True)
    )


def _assist_events(cockpit: CockpitSession) -> list[dict[str, Any]]:
    """The `assist` session events the relay's store keeps for the cockpit, oldest first."""
    texts = async_to_sync(store().since)(store_prefix(cockpit), 0) or []
    return [event for event in map(json.loads, texts) if event["type"] == "assist"]


def _audit(assist: AssistRequest) -> list[tuple[str, dict[str, Any]]]:
    return [
        (event.action, event.data)
        for event in AuditEvent.objects.filter(
            target_type="cockpit.assistrequest", target_id=str(assist.pk)
        ).order_by("pk")
    ]


class Inbox:
    """What a page `user` has open would receive: a channel of the channel layer in their
    notification group, read all along by a task on an event loop of its own (in a thread), as
    a server's socket would be. The Redis layer keeps channels per event loop and drops one whose
    read is cancelled, so the read is never interrupted until the end of the test."""

    # Pushes are over once nothing more has arrived for this long.
    QUIET_S = 0.3

    def __init__(self, user: User, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer = get_channel_layer()
        self.group = user_group(user.pk)
        self.received: list[dict[str, Any]] = []
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(self.group, self.channel))
        self.reader = asyncio.run_coroutine_threadsafe(self._read(), loop)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _read(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            assert message["type"] == "notify"
            self.received.append(message["payload"])

    def payloads(self) -> list[dict[str, Any]]:
        """What arrived since the last call (each a `notify` message's payload), oldest first."""

        async def settle() -> list[dict[str, Any]]:
            count, quiet = -1, 0.0
            while quiet < self.QUIET_S:
                await asyncio.sleep(0.02)
                quiet = quiet + 0.02 if len(self.received) == count else 0.0
                count = len(self.received)
            arrived = self.received[:]
            del self.received[:]
            return arrived

        return self._run(settle())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.reader.cancel()
        self._run(self.layer.group_discard(self.group, self.channel))


@pytest.fixture
def inbox() -> Iterator[Callable[[User], Inbox]]:
    """Opens an Inbox for a person; all of them on one event loop, closed at the end."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    opened: list[Inbox] = []

    def open_for(user: User) -> Inbox:
        opened.append(Inbox(user, loop))
        return opened[-1]

    yield open_for
    for box in opened:
        box.close()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


# --- Who is asked at stage 1 ----------------------------------------------------------------
# Each builder makes a senior who qualifies in every way but one.


def _experienced(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, seniority=Seniority.EXPERIENCED)


def _window_over(world: World, clock: Clock) -> User:
    user = _senior(world.other_hospital, on_call=False)
    clock.now = NOW - timedelta(hours=6)
    on_call_create(
        actor=user,
        technologist=user,
        starts_at=NOW - timedelta(hours=5),
        ends_at=NOW - timedelta(hours=1),
    )
    clock.now = NOW
    return user


def _window_later(world: World, clock: Clock) -> User:
    user = _senior(world.other_hospital, on_call=False)
    on_call_create(
        actor=user,
        technologist=user,
        starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=5),
    )
    return user


def _window_on_tuesdays(world: World, clock: Clock) -> User:
    user = _senior(world.other_hospital, on_call=False)
    on_call_create(
        actor=user,
        technologist=user,
        starts_at=local(11, 17, 7),
        ends_at=local(11, 17, 21),
        time_zone="Europe/Brussels",
        rrule="FREQ=WEEKLY;BYDAY=TU",
    )
    return user


def _window_for_msk(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, window_families=("msk",))


def _switched_off(world: World, clock: Clock) -> User:
    user = _senior(world.other_hospital)
    on_call_pause(actor=user, technologist=user, paused=True)
    return user


def _unverified(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, unverified=True)


def _expired(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, licence_valid_until=date(2026, 11, 22))


def _not_neuro(world: World, clock: Clock) -> User:
    # On call for every family on the profile; neuro is not one of them.
    return _senior(world.other_hospital, families=("msk", "cardiac"))


def _not_siemens(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, vendors=("ge", "philips"))


def _english_only(world: World, clock: Clock) -> User:
    return _senior(world.other_hospital, languages=("en",))


def _about_to_operate(world: World, clock: Clock) -> User:
    # Their own session on the other hospital's scanner starts in five minutes: its cockpit is
    # open.
    user = _senior(world.other_hospital)
    open_booking(world.other_manager, world.other_scanner, user)
    return user


def _operating(world: World, clock: Clock) -> User:
    user = _senior(world.other_hospital)
    booking = open_booking(world.other_manager, world.other_scanner, user)
    booking_start(actor=user, booking=booking)
    return user


@pytest.mark.parametrize(
    "unqualified",
    [
        _experienced,
        _window_over,
        _window_later,
        _window_on_tuesdays,
        _window_for_msk,
        _switched_off,
        _unverified,
        _expired,
        _not_neuro,
        _not_siemens,
        _english_only,
        _about_to_operate,
        _operating,
    ],
    ids=lambda builder: builder.__name__.strip("_"),
)
def test_stage_one_asks_only_the_seniors_who_qualify(
    world: World, clock: Clock, cockpit: CockpitSession, unqualified: Callable[..., User]
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    other = unqualified(world, clock)

    assist = _ask(world, cockpit)

    assert assist.stage == AssistStage.SENIORS
    assert _asked(assist) == {anna}
    assert _told(anna) == ["assist_request"]
    assert _told(other) == []
    assert not AssistNotice.objects.filter(user=other).exists()


def test_a_window_for_the_family_and_a_window_for_every_family_both_count(
    world: World, cockpit: CockpitSession
) -> None:
    listed = _senior(world.other_hospital, "Anna", window_families=("neuro",))
    unlisted = _senior(world.other_hospital, "Bram")
    assist = _ask(world, cockpit)
    assert _asked(assist) == {listed, unlisted}


def test_a_senior_with_a_session_later_today_is_still_asked(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    open_booking(world.other_manager, world.other_scanner, anna, starts_in=timedelta(hours=3))
    assert _asked(_ask(world, cockpit)) == {anna}


def test_local_staff_asking_share_the_sessions_languages(world: World, clock: Clock) -> None:
    """Local staff have no languages on file: they speak the session's (German here), whatever
    the operator speaks."""
    cockpit = _cockpit(world, languages=("de",), operator_languages=("fr", "de"))
    german = _senior(world.other_hospital, "Anna", languages=("de",))
    french = _senior(world.other_hospital, "Bram", languages=("fr",))

    by_local = _ask(world, cockpit, by="local")
    assert _asked(by_local) == {german}

    services.assist_cancel(actor=world.local_staff, assist_id=by_local.pk)
    by_operator = _ask(world, cockpit)
    assert _asked(by_operator) == {german, french}


def test_neither_the_requester_nor_the_operator_is_asked(world: World, clock: Clock) -> None:
    """The operator is a senior on call for neuro, and so is the scanning hospital's manager
    (who stands beside the patient as local staff)."""
    cockpit = _cockpit(world, operator_seniority=Seniority.SENIOR)
    _on_call_daily(world.technologist)
    LicensedTechnologistFactory(user=world.manager, seniority=Seniority.SENIOR)
    _on_call_daily(world.manager)
    anna = _senior(world.other_hospital, "Anna")

    by_manager = services.assist_request(
        actor=world.manager, role="local", cockpit=cockpit, exam_family="neuro"
    )
    assert _asked(by_manager) == {anna}

    services.assist_cancel(actor=world.manager, assist_id=by_manager.pk)
    by_operator = _ask(world, cockpit)
    assert _asked(by_operator) == {anna, world.manager}
    assert world.technologist not in _asked(by_operator)


# --- How they are told ----------------------------------------------------------------------


def test_the_senior_is_told_on_any_page_and_by_mail(
    world: World,
    cockpit: CockpitSession,
    inbox: Callable[[User], Inbox],
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    page = inbox(anna)
    bystander = inbox(_english_only(world, Clock(NOW)))
    note = "Motion on DWI, need help with the cardiac planes"

    with django_capture_on_commit_callbacks(execute=True):
        assist = _ask(world, cockpit, note=note)

    stored = Notification.objects.get(recipient=anna, kind="assist_request")
    assert stored.url == "/assist/"
    assert stored.data["accept_url"] == reverse("assist_accept", args=[assist.pk])
    assert stored.data["may_accept"] is True
    assert stored.data["cockpit"] == cockpit.pk
    assert stored.data["hospital"] == "Hôpital Sainte-Claire"
    assert stored.data["exam_family"] == "Neuro"
    assert stored.message.startswith("Help wanted now: Neuro on Siemens Healthineers at ")
    assert note in stored.message
    # Pushed live, once, with everything the banner shows.
    [pushed] = page.payloads()
    assert pushed["id"] == stored.pk
    assert pushed["kind"] == "assist_request"
    assert pushed["message"] == stored.message
    assert pushed["data"]["accept_url"] == stored.data["accept_url"]
    assert pushed["unread"] == 1
    assert bystander.payloads() == []
    # And mailed.
    [mail] = [message for message in mailoutbox if message.to == [anna.email]]
    assert mail.subject.startswith("[WeScan] Help wanted now: Neuro")
    assert note in mail.body
    assert "/assist/" in mail.body
    assert Notification.objects.get(pk=stored.pk).emailed_at is not None
    # Everyone in the cockpit sees the request raised.
    [event] = _assist_events(cockpit)
    assert event["payload"]["action"] == "requested"
    assert event["payload"]["assist"]["asked"] == 1
    assert event["payload"]["assist"]["requested_by"]["id"] == world.technologist.pk


# --- The first accept wins ------------------------------------------------------------------

RACERS = 10


def _seed_vocabularies() -> None:
    """A transactional test empties every table after it runs, the seeded exam families and
    languages with them: put them back for this one."""
    importlib.import_module("marketplace.migrations.0003_seed_vocabularies").seed(apps, None)


def _race(calls: list[Callable[[], AssistRequest]]) -> tuple[list[Any], list[Any], list[Any]]:
    """Run every call at once (threads released by a barrier, each with its own connection):
    (accepted, refused with a Conflict, failed otherwise)."""
    accepted: list[AssistRequest] = []
    refused: list[Conflict] = []
    failed: list[Exception] = []
    barrier = threading.Barrier(len(calls))
    lock = threading.Lock()

    def run(call: Callable[[], AssistRequest]) -> None:
        try:
            barrier.wait(timeout=30)
            result = call()
        except Conflict as error:
            with lock:
                refused.append(error)
        except Exception as error:
            with lock:
                failed.append(error)
        else:
            with lock:
                accepted.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return accepted, refused, failed


@pytest.mark.django_db(transaction=True)
def test_ten_seniors_accept_at_once_one_joins_and_nine_see_taken(
    world: World, clock: Clock, inbox: Callable[[User], Inbox]
) -> None:
    """Real threads released together, each with its own connection: on PostgreSQL the losers
    wait on the request's row lock, on SQLite on the write lock. Every loser is told who won."""
    _seed_vocabularies()
    cockpit = _cockpit(world)
    seniors = [_senior(world.other_hospital, f"Senior{i}") for i in range(RACERS)]
    pages = {senior.pk: inbox(senior) for senior in seniors}
    assist = _ask(world, cockpit)
    assert _asked(assist) == set(seniors)
    for page in pages.values():
        assert [payload["kind"] for payload in page.payloads()] == ["assist_request"]

    def accept(senior: User) -> Callable[[], AssistRequest]:
        return lambda: services.assist_accept(actor=senior, assist_id=assist.pk)

    accepted, refused, failed = _race([accept(senior) for senior in seniors])

    assert failed == []
    assert len(accepted) == 1
    winner = accepted[0].accepted_by
    message = f"Taken: {winner.display_name} is already helping."
    assert len(refused) == RACERS - 1
    assert all(isinstance(error, services.AssistTaken) for error in refused)
    assert {(error.status, error.code, error.message) for error in refused} == {
        (409, "taken", message)
    }
    assist.refresh_from_db()
    assert (assist.status, assist.accepted_by) == (AssistStatus.ACCEPTED, winner)
    assert assist.senior_hospital == world.other_hospital
    assert list(cockpit.assistants.all()) == [winner]
    assert "assistant" in roles_for(winner, cockpit)
    assert [action for action, _ in _audit(assist)].count("assist.accepted") == 1
    # The nine see the banner turn to "taken"; the winner is not told it is taken.
    for senior in seniors:
        closed = [p for p in pages[senior.pk].payloads() if p["kind"] == "assist_closed"]
        if senior == winner:
            assert closed == []
        else:
            assert closed == [
                {
                    "kind": "assist_closed",
                    "message": message,
                    "data": {"assist": assist.pk, "status": "accepted"},
                }
            ]
    actions = [event["payload"]["action"] for event in _assist_events(cockpit)]
    assert actions == ["requested", "accepted"]


def test_a_late_accept_is_told_who_took_it(world: World, cockpit: CockpitSession) -> None:
    anna = _senior(world.other_hospital, "Anna")
    bram = _senior(world.other_hospital, "Bram")
    assist = _ask(world, cockpit)
    services.assist_accept(actor=anna, assist_id=assist.pk)
    with pytest.raises(services.AssistTaken, match=r"Taken: Anna Senior is already helping\."):
        services.assist_accept(actor=bram, assist_id=assist.pk)
    # Someone never asked does not see the request at all.
    with pytest.raises(NotFound):
        services.assist_accept(actor=world.outsider, assist_id=assist.pk)


# --- Escalation through the periodic task ---------------------------------------------------


@pytest.fixture
def cockpit_languages_fr(world: World, clock: Clock) -> CockpitSession:
    return _cockpit(world, languages=("fr",))


def _everything(cockpit: CockpitSession) -> tuple[Any, ...]:
    return (
        list(AssistRequest.objects.values()),
        AssistNotice.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.count(),
        _assist_events(cockpit),
    )


def test_an_unanswered_request_widens_then_alerts_the_managers(
    world: World,
    cockpit_languages_fr: CockpitSession,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Local staff ask (they speak the session's language: French). Three minutes unanswered:
    experienced technologists and seniors, on call for any family or available for remote work,
    speaking any language of the cockpit (the operator's Dutch too). Three more: the managers of
    the operator's hospital."""
    cockpit = cockpit_languages_fr
    third = HospitalFactory(name="Clínica Atlântico")
    third_manager = UserFactory()
    MembershipFactory(user=third_manager, hospital=third, role=Role.MANAGER)
    anna = _senior(world.other_hospital, "Anna", languages=("fr",))
    dutch_senior = _senior(world.other_hospital, "Daan", languages=("nl",))
    on_call_msk = _senior(
        world.other_hospital,
        "Eva",
        seniority=Seniority.EXPERIENCED,
        languages=("nl",),
        window_families=("msk",),
    )
    available = _senior(
        world.other_hospital, "Femke", seniority=Seniority.EXPERIENCED, on_call=False
    )
    _available_daily(available)
    english = _senior(
        world.other_hospital, "Gwen", seniority=Seniority.EXPERIENCED, languages=("en",)
    )
    junior = _senior(world.other_hospital, "Hugo", seniority=Seniority.JUNIOR, on_call=False)
    _available_daily(junior)

    with django_capture_on_commit_callbacks(execute=True):
        assist = _ask(world, cockpit, by="local", now=NOW)
    assert _asked(assist) == {anna}

    assert assist_escalate_due(now=NOW + 3 * MINUTE - SECOND) == 0
    assist.refresh_from_db()
    assert assist.stage == AssistStage.SENIORS

    with django_capture_on_commit_callbacks(execute=True):
        assert assist_escalate_due(now=NOW + 3 * MINUTE) == 1
    assist.refresh_from_db()
    assert (assist.stage, assist.stage_changed_at) == (AssistStage.WIDENED, NOW + 3 * MINUTE)
    assert _asked(assist) == {anna, dutch_senior, on_call_msk, available}
    assert _told(anna) == ["assist_request"]  # not told twice
    assert _told(english) == _told(junior) == []
    assert _told(world.manager) == []

    assert assist_escalate_due(now=NOW + 6 * MINUTE - SECOND) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert assist_escalate_due(now=NOW + 6 * MINUTE) == 1
    assist.refresh_from_db()
    assert assist.stage == AssistStage.MANAGERS
    assert _told(world.manager) == ["assist_unanswered"]
    alert = Notification.objects.get(recipient=world.manager, kind="assist_unanswered")
    assert "for 6 minutes" in alert.message
    assert alert.data["may_accept"] is False
    assert _told(world.other_manager) == _told(third_manager) == []
    assert len(_asked(assist)) == 4
    view = assist_view(assist)
    assert view is not None
    assert (view["managers_alerted"], view["next_step_at"]) == (True, None)

    # Each step audited, and told to everyone in the cockpit.
    assert [(action, data.get("stage"), data.get("reason")) for action, data in _audit(assist)] == [
        ("assist.requested", None, None),
        ("assist.escalated", 2, "unanswered"),
        ("assist.escalated", 3, "unanswered"),
    ]
    assert _audit(assist)[1][1]["asked"] == 3
    assert [
        (e["payload"]["action"], e["payload"]["assist"]["stage"]) for e in _assist_events(cockpit)
    ] == [
        ("requested", 1),
        ("escalated", 2),
        ("escalated", 3),
    ]

    # Running the task again at the same moment, or later, changes nothing.
    before = _everything(cockpit)
    with django_capture_on_commit_callbacks(execute=True):
        assert assist_escalate_due(now=NOW + 6 * MINUTE) == 0
        assert assist_escalate_due(now=NOW + timedelta(hours=1)) == 0
    assert _everything(cockpit) == before


def test_the_same_step_twice_at_one_moment_escalates_once(
    world: World, cockpit: CockpitSession
) -> None:
    _senior(world.other_hospital, "Anna")
    assist = _ask(world, cockpit, now=NOW)
    assert assist_escalate_due(now=NOW + 3 * MINUTE) == 1
    assert services.assist_escalate(assist_id=assist.pk, now=NOW + 3 * MINUTE) is None
    assist.refresh_from_db()
    assert assist.stage == AssistStage.WIDENED


def test_the_wait_between_steps_is_a_setting(
    world: World, cockpit: CockpitSession, settings: Any
) -> None:
    settings.ASSIST_ESCALATE_AFTER_SECONDS = 60
    _senior(world.other_hospital, "Anna")
    assist = _ask(world, cockpit, now=NOW)
    view = assist_view(assist)
    assert view is not None
    assert view["next_step_at"] == (NOW + MINUTE).isoformat()
    assert assist_escalate_due(now=NOW + MINUTE - SECOND) == 0
    assert assist_escalate_due(now=NOW + MINUTE) == 1
    assert assist_escalate_due(now=NOW + 2 * MINUTE) == 1
    assist.refresh_from_db()
    assert assist.stage == AssistStage.MANAGERS


@pytest.mark.parametrize("answer", ["accepted", "cancelled"])
def test_an_answered_or_cancelled_request_never_escalates(
    world: World, cockpit: CockpitSession, answer: str
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    assist = _ask(world, cockpit, now=NOW)
    if answer == "accepted":
        services.assist_accept(actor=anna, assist_id=assist.pk, now=NOW + MINUTE)
    else:
        services.assist_cancel(actor=world.technologist, assist_id=assist.pk, now=NOW + MINUTE)
    assert assist_escalate_due(now=NOW + timedelta(hours=1)) == 0
    assist.refresh_from_db()
    assert (assist.status, assist.stage) == (answer, AssistStage.SENIORS)
    assert _told(world.manager) == []
    assert "assist.escalated" not in [action for action, _ in _audit(assist)]


def test_when_no_senior_qualifies_the_request_widens_at_once(
    world: World, cockpit: CockpitSession
) -> None:
    experienced = _senior(world.other_hospital, "Eva", seniority=Seniority.EXPERIENCED)
    assist = _ask(world, cockpit, now=NOW)
    assert (assist.stage, assist.stage_changed_at) == (AssistStage.WIDENED, NOW)
    assert _asked(assist) == {experienced}
    assert _audit(assist)[1][0] == "assist.escalated"
    assert (_audit(assist)[1][1]["reason"], _audit(assist)[1][1]["stage"]) == (
        "nobody qualified",
        2,
    )
    assert _told(world.manager) == []


def test_when_nobody_qualifies_the_managers_are_alerted_at_once(
    world: World, cockpit: CockpitSession
) -> None:
    assist = _ask(world, cockpit, now=NOW)
    assert assist.stage == AssistStage.MANAGERS
    assert _asked(assist) == set()
    assert _told(world.manager) == ["assist_unanswered"]
    assert [data["reason"] for action, data in _audit(assist)[1:]] == [
        "nobody qualified",
        "nobody qualified",
    ]


def test_managers_alerted_at_once_are_not_told_nobody_answered_for_0_minutes(
    world: World, cockpit: CockpitSession
) -> None:
    """Nobody could be asked at all: the alert says so, rather than that nobody answered "for
    0 minutes"."""
    _ask(world, cockpit, now=NOW)
    alert = Notification.objects.get(recipient=world.manager, kind="assist_unanswered")
    assert "0 minutes" not in alert.message


# --- Cancelling, finishing, closing ---------------------------------------------------------


def test_the_requester_cancels_once_solved_and_everyone_asked_is_told(
    world: World,
    cockpit: CockpitSession,
    inbox: Callable[[User], Inbox],
    django_capture_on_commit_callbacks: Any,
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    assist = _ask(world, cockpit)
    page = inbox(anna)
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = services.assist_cancel(actor=world.technologist, assist_id=assist.pk)
    assert (cancelled.status, cancelled.ended_by, cancelled.ended_at) == (
        AssistStatus.CANCELLED,
        world.technologist,
        NOW,
    )
    assert page.payloads() == [
        {
            "kind": "assist_closed",
            "message": "Taken care of: the requester cancelled it (solved without help).",
            "data": {"assist": assist.pk, "status": "cancelled"},
        }
    ]
    assert _assist_events(cockpit)[-1]["payload"]["action"] == "cancelled"
    with pytest.raises(Conflict, match="already closed: there is nothing to cancel") as twice:
        services.assist_cancel(actor=world.technologist, assist_id=assist.pk)
    assert twice.value.status == 409
    with pytest.raises(services.AssistTaken, match="the requester cancelled it"):
        services.assist_accept(actor=anna, assist_id=assist.pk)


def test_who_may_cancel(world: World, cockpit: CockpitSession) -> None:
    anna = _senior(world.other_hospital, "Anna")
    assist = _ask(world, cockpit)
    with pytest.raises(NotFound) as outsider:
        services.assist_cancel(actor=world.outsider, assist_id=assist.pk)
    assert outsider.value.status == 404
    with pytest.raises(NotFound):
        services.assist_cancel(actor=world.other_manager, assist_id=assist.pk)
    with pytest.raises(PermissionDenied) as senior:
        services.assist_cancel(actor=anna, assist_id=assist.pk)
    assert senior.value.status == 403
    with pytest.raises(NotFound):
        services.assist_cancel(actor=world.technologist, assist_id=assist.pk + 1000)
    # Local staff call off the operator's request.
    cancelled = services.assist_cancel(actor=world.local_staff, assist_id=assist.pk)
    assert (cancelled.status, cancelled.ended_by) == (AssistStatus.CANCELLED, world.local_staff)


def _accepted(world: World, cockpit: CockpitSession, senior: User) -> AssistRequest:
    assist = _ask(world, cockpit, now=NOW)
    return services.assist_accept(actor=senior, assist_id=assist.pk, now=NOW)


def _assist_entries() -> list[tuple[Any, ...]]:
    return list(
        LedgerEntry.objects.filter(kind=LedgerKind.ASSIST).values_list(
            "creditor_hospital", "creditor_technologist", "debtor_hospital", "hours", "assist"
        )
    )


def test_finished_help_is_credited_to_the_seniors_hospital(
    world: World, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    assist = _accepted(world, cockpit, anna)
    finished = services.assist_finish(
        actor=world.technologist, assist_id=assist.pk, now=NOW + 30 * MINUTE
    )
    assert (finished.status, finished.ended_at) == (AssistStatus.RESOLVED, NOW + 30 * MINUTE)
    assert _assist_entries() == [
        (world.other_hospital.pk, None, world.hospital.pk, Decimal("0.50"), assist.pk)
    ]
    assert _audit(assist)[-1] == (
        "assist.resolved",
        {"cockpit": cockpit.pk, "booking": cockpit.booking_id, "hours": "0.50"},
    )
    with pytest.raises(Conflict, match="no help is under way"):
        services.assist_finish(actor=anna, assist_id=assist.pk)
    assert len(_assist_entries()) == 1


def test_a_lent_seniors_time_is_credited_to_the_lending_hospital(
    world: World, cockpit: CockpitSession
) -> None:
    """Anna works for Scheldeland and a third hospital; the third one's manager put her on call."""
    third = HospitalFactory(name="Clínica Atlântico")
    third_manager = UserFactory()
    MembershipFactory(user=third_manager, hospital=third, role=Role.MANAGER)
    anna = _senior(world.other_hospital, "Anna", on_call=False)
    MembershipFactory(user=anna, hospital=third, role=Role.TECHNOLOGIST)
    _on_call_daily(anna, actor=third_manager)
    assist = _accepted(world, cockpit, anna)
    assert assist.senior_hospital == third
    services.assist_finish(actor=anna, assist_id=assist.pk, now=NOW + 90 * MINUTE)
    assert _assist_entries() == [(third.pk, None, world.hospital.pk, Decimal("1.50"), assist.pk)]


def test_an_independent_seniors_time_is_credited_to_them(
    world: World, cockpit: CockpitSession
) -> None:
    sofia = _senior(None, "Sofia")
    assist = _accepted(world, cockpit, sofia)
    services.assist_finish(actor=world.local_staff, assist_id=assist.pk, now=NOW + 20 * MINUTE)
    assert _assist_entries() == [(None, sofia.pk, world.hospital.pk, Decimal("0.33"), assist.pk)]


def test_help_from_the_scanning_hospitals_own_senior_is_not_credited(
    world: World, cockpit: CockpitSession
) -> None:
    colleague = _senior(world.hospital, "Anna")
    assist = _accepted(world, cockpit, colleague)
    finished = services.assist_finish(actor=colleague, assist_id=assist.pk, now=NOW + 30 * MINUTE)
    assert finished.status == AssistStatus.RESOLVED
    assert _assist_entries() == []
    assert _audit(assist)[-1][1]["hours"] is None


def test_closing_the_cockpit_ends_the_help_under_way_and_credits_it(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    helping = _accepted(world, cockpit, anna)
    services.cockpit_mark_started(cockpit=cockpit)
    clock.now = NOW + 45 * MINUTE

    services.cockpit_close(actor=world.technologist, cockpit=cockpit, finished=True)

    helping.refresh_from_db()
    assert (helping.status, helping.ended_at) == (AssistStatus.RESOLVED, NOW + 45 * MINUTE)
    assert _assist_entries() == [
        (world.other_hospital.pk, None, world.hospital.pk, Decimal("0.75"), helping.pk)
    ]
    assert not cockpit.assistants.filter(pk=anna.pk).exists()


def test_closing_the_cockpit_closes_an_open_request_and_tells_those_asked(
    world: World,
    clock: Clock,
    cockpit: CockpitSession,
    inbox: Callable[[User], Inbox],
    django_capture_on_commit_callbacks: Any,
) -> None:
    bram = _senior(world.other_hospital, "Bram")
    waiting = _ask(world, cockpit, now=NOW + 10 * MINUTE)
    assert _asked(waiting) == {bram}
    page = inbox(bram)
    services.cockpit_mark_started(cockpit=cockpit)
    clock.now = NOW + 45 * MINUTE

    with django_capture_on_commit_callbacks(execute=True):
        services.cockpit_close(actor=world.technologist, cockpit=cockpit, finished=True)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.ended_at) == (AssistStatus.EXPIRED, NOW + 45 * MINUTE)
    assert _assist_entries() == []
    assert page.payloads() == [
        {
            "kind": "assist_closed",
            "message": "This request for help is closed.",
            "data": {"assist": waiting.pk, "status": "expired"},
        }
    ]
    assert _audit(waiting)[-1][0] == "assist.expired"
    assert assist_escalate_due(now=NOW + timedelta(hours=1)) == 0


def test_a_second_request_waits_until_the_help_under_way_is_done(
    world: World, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    helping = _accepted(world, cockpit, anna)

    with pytest.raises(Conflict, match="A senior is helping in this cockpit"):
        _ask(world, cockpit, now=NOW + 10 * MINUTE)

    services.assist_finish(actor=anna, assist_id=helping.pk, now=NOW + 20 * MINUTE)
    again = _ask(world, cockpit, now=NOW + 21 * MINUTE)
    # Her help ended, so she is asked again like anyone on call.
    assert _asked(again) == {anna}


# --- Only while the cockpit is open; newcomers once widened -----------------------------------


def test_no_request_for_help_in_a_cockpit_that_is_not_open_yet(world: World, clock: Clock) -> None:
    _senior(world.other_hospital, "Anna")
    booking = open_booking(world.manager, world.scanner, world.technologist, starts_in=3 * DAY)
    ahead = services.cockpit_open(booking=booking, ahead=True)  # to pre-approve the join

    with pytest.raises(Conflict, match="This cockpit is not open"):
        services.assist_request(
            actor=world.technologist, role="operator", cockpit=ahead, exam_family="neuro"
        )

    assert not AssistRequest.objects.exists()
    assert not Notification.objects.filter(kind__in=ASSIST_KINDS).exists()


def test_a_request_whose_session_ran_out_unstarted_is_closed_by_the_task(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    _senior(world.other_hospital, "Anna")
    waiting = _ask(world, cockpit, now=NOW)
    booking = cockpit.booking

    # The booking's end passes without the exam ever starting: nobody is alerted any more.
    assert assist_escalate_due(now=booking.ends_at + MINUTE) == 0

    waiting.refresh_from_db()
    assert waiting.status == AssistStatus.EXPIRED
    assert not Notification.objects.filter(kind="assist_unanswered").exists()


def test_once_widened_whoever_comes_on_call_later_is_asked_too(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    # Nobody qualifies at first: the request goes straight to the managers.
    waiting = _ask(world, cockpit, now=NOW)
    waiting.refresh_from_db()
    assert waiting.stage == AssistStage.MANAGERS
    late = _senior(world.other_hospital, "Late")

    assist_escalate_due(now=NOW + 30 * SECOND)

    assert _asked(waiting) == {late}
    # Told once: the next run asks nobody new.
    assist_escalate_due(now=NOW + 45 * SECOND)
    assert AssistNotice.objects.filter(request=waiting, user=late).count() == 1
    assert services.assist_accept(actor=late, assist_id=waiting.pk, now=NOW + MINUTE).status == (
        AssistStatus.ACCEPTED
    )


def test_a_senior_who_also_works_for_the_scanning_hospital_is_not_credited_for_it(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    MembershipFactory(user=anna, hospital=world.hospital, role=Role.TECHNOLOGIST)
    helping = _accepted(world, cockpit, anna)

    services.assist_finish(actor=anna, assist_id=helping.pk, now=NOW + 30 * MINUTE)

    assert _assist_entries() == []


def test_an_assistant_asks_for_free_control_and_the_operator_hands_it_over(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    anna = _senior(world.other_hospital, "Anna")
    helping = _accepted(world, cockpit, anna)

    # Nobody holds control, yet the assistant's request waits for the operator.
    cockpit = services.control_request(actor=anna, role="assistant", cockpit=cockpit)
    assert (cockpit.controller, cockpit.control_requested_by) == (None, anna)
    cockpit = services.control_grant(actor=world.technologist, role="operator", cockpit=cockpit)
    assert (cockpit.controller, cockpit.controller_role) == (anna, "assistant")

    # Help done: she leaves, and control is free again.
    services.assist_finish(actor=world.technologist, assist_id=helping.pk, now=NOW + 5 * MINUTE)
    cockpit.refresh_from_db()
    assert (cockpit.controller, cockpit.controller_role) == (None, "")
    assert roles_for(anna, cockpit) == []


def test_local_staff_of_a_session_without_languages_speak_the_operators(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    dutch = _senior(world.other_hospital, "Dirk", languages=("nl",))
    _senior(world.other_hospital, "Greta", languages=("de",))

    waiting = _ask(world, cockpit, by="local", now=NOW)

    # The operator speaks French and Dutch; the session names no language.
    assert _asked(waiting) == {dutch}
    assert waiting.stage == AssistStage.SENIORS


def test_the_console_still_shows_a_request_that_ended_in_the_last_half_hour(
    world: World, clock: Clock, cockpit: CockpitSession
) -> None:
    _senior(world.other_hospital, "Anna")
    waiting = _ask(world, cockpit, now=NOW)
    services.assist_cancel(actor=world.technologist, assist_id=waiting.pk, now=NOW)

    clock.now = NOW + 29 * MINUTE
    shown = session_view(cockpit_get(cockpit_id=cockpit.pk))["assist"]
    assert (shown["id"], shown["status"]) == (waiting.pk, AssistStatus.CANCELLED)
    clock.now = NOW + 31 * MINUTE
    assert session_view(cockpit_get(cockpit_id=cockpit.pk))["assist"] is None

"""Asking for a senior's help over the relay: the `assist` frame. The operator or local staff ask;
everyone in the cockpit (not the scanner) sees the request's live state as `assist` events, in
the session's numbering: raised, escalated by the periodic task, taken by a senior, called off.
The senior who accepts joins as assistant: present, chatting, and given control by the
operator."""

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.models import User
from cockpit import selectors, services
from cockpit.models import AssistRequest, AssistStatus, CockpitSession
from cockpit.tasks import assist_escalate_due
from marketplace.models import ExamFamily, Seniority
from marketplace.models import Role as HospitalRole
from marketplace.services.tenancy import scanner_rotate_token
from scheduling.services import availability_create
from scheduling.services.on_call import on_call_create
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.factories import MembershipFactory, UserFactory, enrol_totp
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

NOTE = "Motion on DWI, need help with the cardiac planes"


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


def error(code: str, message: str, ref: int | None) -> dict[str, Any]:
    return {"type": "error", "seq": None, "payload": {"code": code, "message": message, "ref": ref}}


@database_sync_to_async
def on_call_senior(world: World, *, family: str = "neuro") -> User:
    """A senior of the other hospital, on call now for `family`, who knows the scanner's vendor
    and speaks the operator's languages."""
    senior = UserFactory(email="anna.senior@example.org", first_name="Anna", last_name="Senior")
    MembershipFactory(user=senior, hospital=world.other_hospital, role=HospitalRole.TECHNOLOGIST)
    LicensedTechnologistFactory(
        user=senior,
        seniority=Seniority.SENIOR,
        exam_families=[family, "msk"],
        languages=["fr", "nl"],
        vendors=[world.scanner.vendor],
    )
    now = timezone.now()
    on_call_create(
        actor=senior,
        technologist=senior,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
        exam_families=[family],
    )
    enrol_totp(senior)  # a cockpit needs a second factor (they join one to assist)
    return senior


@database_sync_to_async
def available_experienced(world: World, *, family: str = "neuro") -> User:
    """An experienced technologist available for remote work now: asked once a request widens."""
    colleague = UserFactory(email="bram.experienced@example.org")
    MembershipFactory(user=colleague, hospital=world.other_hospital, role=HospitalRole.TECHNOLOGIST)
    LicensedTechnologistFactory(
        user=colleague,
        seniority=Seniority.EXPERIENCED,
        exam_families=[family],
        languages=["nl"],
        vendors=[world.scanner.vendor],
    )
    now = timezone.now()
    availability_create(
        actor=colleague,
        technologist=colleague,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
        time_zone="Europe/Brussels",
    )
    return colleague


@database_sync_to_async
def current_view(cockpit: CockpitSession) -> dict[str, Any] | None:
    return selectors.assist_view(selectors.assist_current(cockpit=cockpit))


@database_sync_to_async
def latest_view(cockpit: CockpitSession) -> dict[str, Any]:
    """The cockpit's newest request, whatever its status, as everyone sees it."""
    assist = AssistRequest.objects.filter(cockpit=cockpit).latest("pk")
    view = selectors.assist_view(assist)
    assert view is not None
    return view


@database_sync_to_async
def requests_of(cockpit: CockpitSession) -> list[tuple[str, str]]:
    return list(
        AssistRequest.objects.filter(cockpit=cockpit)
        .order_by("pk")
        .values_list("status", "exam_family__code")
    )


class Room:
    """Operator, local staff, an observer (a manager) and the scanner, connected and past their
    greetings (presence events 1 to 4)."""

    def __init__(self, world: World, relay: Any) -> None:
        self.world = world
        self.relay = relay

    async def open(self) -> "Room":
        world = self.world
        self.cockpit = await database_sync_to_async(open_cockpit)(world)
        self.operator = await self.relay.person(world.technologist, self.cockpit.pk)
        await self.operator.recv_many(3)  # welcome, snapshot, presence
        self.local = await self.relay.person(world.local_staff, self.cockpit.pk)
        await self.local.recv_many(3)
        await self.operator.recv()
        self.observer = await self.relay.person(world.manager, self.cockpit.pk)
        await self.observer.recv_many(3)
        await self.operator.recv()
        await self.local.recv()
        token = await database_sync_to_async(scanner_rotate_token)(
            actor=world.manager, scanner=world.scanner
        )
        self.scanner = await self.relay.scanner(token)
        await self.scanner.recv()  # welcome
        self.seq = 4
        for socket in self.people:
            frame = await socket.recv()
            assert (frame["type"], frame["seq"]) == ("presence", 4)
        return self

    @property
    def people(self) -> list[Any]:
        return [self.operator, self.local, self.observer]

    async def assist_event(self, action: str) -> dict[str, Any]:
        """The next event is an `assist` event showing the request as the database now has it;
        that view."""
        first = await self.people[0].recv()
        view = await latest_view(self.cockpit)
        self.seq += 1
        expected = {
            "type": "assist",
            "seq": self.seq,
            "payload": {"action": action, "assist": view},
        }
        assert first == expected
        for socket in self.people[1:]:
            assert await socket.recv() == expected
        return view

    async def quiet(self) -> None:
        for socket in [*self.people, self.scanner]:
            await socket.silent()


@pytest.fixture(autouse=True)
def _vocabulary(vocabulary: None) -> None:
    """A transactional test case starts from tables an earlier one flushed."""


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


async def test_the_operator_asks_and_everyone_sees_the_request(world: World, room: Room) -> None:
    await on_call_senior(world)
    await room.open()

    await room.operator.send("assist", {"action": "request", "exam_family": "neuro", "note": NOTE})
    view = await room.assist_event("requested")
    assert view["status"] == AssistStatus.OPEN
    assert (view["stage"], view["stage_label"]) == (1, "On-call seniors asked")
    assert view["asked"] == 1  # the senior on call for neuro
    assert view["exam_family"] == {"code": "neuro", "name": "Neuro"}
    assert view["note"] == NOTE
    assert view["requested_by"] == person(world.technologist, "operator")
    assert view["next_step_at"] is not None
    # The event carries each person's moves: calling it off, not asking again.
    for socket in (room.operator, room.local):
        assert socket.frames_with_moves[-1] == "assist"
        assert "assist.cancel" in socket.moves
        assert "assist.request" not in socket.moves
    assert room.observer.moves == ["chat"]
    await room.quiet()  # the scanner is not told; nothing else happens

    # Local staff ask in their turn once it is called off.
    await room.operator.send("assist", {"action": "cancel"})
    view = await room.assist_event("cancelled")
    assert view["status"] == AssistStatus.CANCELLED
    await room.local.send("assist", {"action": "request", "exam_family": "msk"})
    view = await room.assist_event("requested")
    assert view["requested_by"] == person(world.local_staff, "local")
    assert view["exam_family"]["code"] == "msk"
    assert await requests_of(room.cockpit) == [
        (AssistStatus.CANCELLED, "neuro"),
        (AssistStatus.OPEN, "msk"),
    ]
    await room.quiet()


async def test_refusals_are_error_frames_and_the_socket_stays_open(
    world: World, room: Room
) -> None:
    await on_call_senior(world)
    await room.open()

    # Observers watch: refused, nothing published, nothing recorded.
    ref = await room.observer.send("assist", {"action": "request", "exam_family": "neuro"})
    assert await room.observer.recv() == error(
        "forbidden", "Only the operator or local staff ask for help in a cockpit.", ref
    )
    ref = await room.observer.send("assist", {"action": "cancel"})
    assert (await room.observer.recv())["payload"]["code"] == "forbidden"

    # A note that names the patient.
    for note in ("Call me on +32 470 12 34 56 about the protocol", "Patient born 12/03/1961"):
        ref = await room.operator.send(
            "assist", {"action": "request", "exam_family": "neuro", "note": note}
        )
        frame = await room.operator.recv()
        assert (frame["type"], frame["payload"]["code"], frame["payload"]["ref"]) == (
            "error",
            "invalid",
            ref,
        )
        assert "Describe the work, never the patient" in frame["payload"]["message"]

    # An exam family that does not exist; a request without one; a note too long for the wire.
    ref = await room.local.send("assist", {"action": "request", "exam_family": "dental"})
    assert await room.local.recv() == error(
        "invalid", "Choose the exam family you need help with.", ref
    )
    ref = await room.local.send("assist", {"action": "request", "note": NOTE})
    assert await room.local.recv() == error(
        "invalid", "assist: a request for help names its 'exam_family'.", ref
    )
    ref = await room.local.send(
        "assist", {"action": "request", "exam_family": "neuro", "note": "x" * 501}
    )
    assert await room.local.recv() == error(
        "invalid", "assist: 'note' must have at most 500 characters.", ref
    )

    # Nothing to call off or end yet.
    ref = await room.operator.send("assist", {"action": "cancel"})
    assert await room.operator.recv() == error(
        "not_found", "No request for help is under way in this cockpit.", ref
    )
    await room.quiet()
    assert await requests_of(room.cockpit) == []

    # The same sockets still work: a valid request goes through ...
    await room.operator.send("assist", {"action": "request", "exam_family": "neuro", "note": NOTE})
    await room.assist_event("requested")

    # ... and a second one while it is open is refused.
    ref = await room.local.send("assist", {"action": "request", "exam_family": "msk"})
    assert await room.local.recv() == error(
        "conflict", "A request for help is already open in this cockpit; cancel it first.", ref
    )
    # Help that has not started cannot be "done".
    ref = await room.local.send("assist", {"action": "finish"})
    assert await room.local.recv() == error(
        "conflict", "No senior has accepted yet: no help is under way. Cancel it if solved.", ref
    )
    await room.quiet()
    assert await requests_of(room.cockpit) == [(AssistStatus.OPEN, "neuro")]


async def test_escalation_by_the_periodic_task_is_shown_live(world: World, room: Room) -> None:
    await on_call_senior(world)
    await available_experienced(world)
    await room.open()
    await room.operator.send("assist", {"action": "request", "exam_family": "neuro", "note": NOTE})
    asked = await room.assist_event("requested")
    assert (asked["stage"], asked["asked"]) == (1, 1)
    await room.quiet()

    # Before its three minutes are up, the task leaves it alone.
    started = timezone.now()
    moved = await sync_to_async(assist_escalate_due)(now=started + timedelta(seconds=60))
    assert moved == 0
    await room.quiet()

    later = started + timedelta(seconds=181)
    assert await sync_to_async(assist_escalate_due)(now=later) == 1
    widened = await room.assist_event("escalated")
    assert (widened["stage"], widened["stage_label"]) == (2, "Widened to experienced technologists")
    assert widened["asked"] == 2  # the senior, and now the experienced colleague
    assert not widened["managers_alerted"]
    assert widened["next_step_at"] == (later + timedelta(seconds=180)).isoformat()
    await room.quiet()

    # Run twice at the same moment: nothing more happens.
    assert await sync_to_async(assist_escalate_due)(now=later) == 0
    await room.quiet()

    last = later + timedelta(seconds=181)
    assert await sync_to_async(assist_escalate_due)(now=last) == 1
    alerted = await room.assist_event("escalated")
    assert (alerted["stage"], alerted["stage_label"]) == (3, "Managers alerted")
    assert alerted["managers_alerted"]
    assert alerted["next_step_at"] is None
    await room.quiet()

    # Solved meanwhile: the operator calls it off.
    await room.operator.send("assist", {"action": "cancel"})
    cancelled = await room.assist_event("cancelled")
    assert cancelled["status"] == AssistStatus.CANCELLED
    assert cancelled["ended_at"] is not None
    assert await current_view(room.cockpit) is None


async def test_a_senior_accepts_joins_as_assistant_chats_and_gets_control(
    world: World, room: Room
) -> None:
    senior = await on_call_senior(world)
    await room.open()
    await room.operator.send("assist", {"action": "request", "exam_family": "neuro", "note": NOTE})
    await room.assist_event("requested")

    await database_sync_to_async(services.assist_accept)(
        actor=senior, assist_id=(await latest_view(room.cockpit))["id"]
    )
    accepted = await room.assist_event("accepted")
    assert accepted["status"] == AssistStatus.ACCEPTED
    assert accepted["accepted_by"] == person(senior, "assistant")
    await room.quiet()

    # The senior joins as assistant: the console shows the help under way.
    assistant = await room.relay.person(senior, room.cockpit.pk, role="assistant")
    welcome, snapshot, presence = await assistant.recv_many(3)
    assert welcome["payload"]["role"] == "assistant"
    assert welcome["payload"]["session"]["assist"] == accepted
    assert snapshot["payload"]["session"]["assist"] == accepted
    room.seq += 1
    participants = [
        person(world.technologist, "operator"),
        person(world.local_staff, "local"),
        person(world.manager, "observer"),
        {"id": None, "name": world.scanner.name, "role": "scanner"},
        person(senior, "assistant"),
    ]
    joined = {
        "type": "presence",
        "seq": room.seq,
        "payload": {
            "participants": participants,
            "joined": person(senior, "assistant"),
            "left": None,
        },
    }
    assert presence == joined
    for socket in room.people:
        assert await socket.recv() == joined

    # They talk it through in the chat.
    everyone = [*room.people, assistant]
    await assistant.send("chat", {"text": "Use the short-axis localiser first."})
    room.seq += 1
    frame = await room.operator.recv()
    assert (frame["type"], frame["seq"]) == ("chat", room.seq)
    assert frame["payload"]["from"] == person(senior, "assistant")
    assert frame["payload"]["text"] == "Use the short-axis localiser first."
    for socket in everyone[1:]:
        assert await socket.recv() == frame

    # The operator takes control, then hands it to the assistant.
    await room.operator.send("control", {"action": "request"})
    room.seq += 1
    for socket in everyone:
        frame = await socket.recv()
        assert (frame["type"], frame["payload"]["controller"]) == (
            "control",
            person(world.technologist, "operator"),
        )
    await room.operator.send("control", {"action": "grant", "to": senior.pk})
    room.seq += 1
    for socket in everyone:
        frame = await socket.recv()
        assert (frame["type"], frame["seq"], frame["payload"]["action"]) == (
            "control",
            room.seq,
            "grant",
        )
        assert frame["payload"]["controller"] == person(senior, "assistant")

    # The assistant may not raise or call off a request, but says when the help is done.
    ref = await assistant.send("assist", {"action": "cancel"})
    assert await assistant.recv() == error(
        "forbidden", "Only the operator or local staff cancel a request for help.", ref
    )
    await assistant.send("assist", {"action": "finish"})
    done = await room.assist_event("resolved")
    assert done["status"] == AssistStatus.RESOLVED
    assert await assistant.recv() == {
        "type": "assist",
        "seq": room.seq,
        "payload": {"action": "resolved", "assist": done},
    }
    # She held control: it is free again, and everyone (she too, still connected) is told.
    room.seq += 1
    for socket in [*room.people, assistant]:
        frame = await socket.recv()
        assert (frame["type"], frame["seq"], frame["payload"]["action"]) == (
            "control",
            room.seq,
            "release",
        )
        assert frame["payload"]["controller"] is None
    # Their help is done: the relay thanks the senior and closes their socket; the others see
    # them leave.
    assert await assistant.recv() == error(
        "assist_ended", "Your help in this cockpit is done: thank you. The session goes on.", None
    )
    assert await assistant.closed() == 4403
    room.seq += 1
    for socket in room.people:
        frame = await socket.recv()
        assert (frame["type"], frame["seq"]) == ("presence", room.seq)
        assert frame["payload"]["left"] == person(senior, "assistant")
    await room.quiet()


async def test_a_late_joiner_sees_the_request_under_way(world: World, relay: Any) -> None:
    await on_call_senior(world)
    cockpit = await database_sync_to_async(open_cockpit)(
        world, required_exam_families=[await ExamFamily.objects.aget(code="neuro")]
    )
    operator = await relay.person(world.technologist, cockpit.pk)
    welcome, _, _ = await operator.recv_many(3)
    # What the console's "Ask for help" offers first: the session's own exam families.
    assert welcome["payload"]["session"]["exam_families"] == [{"code": "neuro", "name": "Neuro"}]
    assert welcome["payload"]["session"]["assist"] is None

    await operator.send("assist", {"action": "request", "exam_family": "neuro", "note": NOTE})
    frame = await operator.recv()
    view = await current_view(cockpit)
    assert frame == {
        "type": "assist",
        "seq": 2,
        "payload": {"action": "requested", "assist": view},
    }

    local = await relay.person(world.local_staff, cockpit.pk)
    welcome, snapshot, _ = await local.recv_many(3)
    assert welcome["payload"]["session"]["assist"] == view
    assert snapshot["payload"]["seq"] == 2
    assert snapshot["payload"]["session"]["assist"] == view

    # One who reconnects with `since` gets the event itself.
    again = await relay.person(world.manager, cockpit.pk, since=1)
    frames = await again.recv_many(2)
    assert frames[1] == frame

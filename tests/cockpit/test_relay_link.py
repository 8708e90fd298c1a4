"""The link check and what hangs on it, over the relay (in-process; on Redis too when REDIS_URL
is set): probes timed on the relay's clock and told to everyone when they change noticeably;
the pre-scan checklist that local staff confirm before the first sequence; control held from
afar falling back to local staff when its link is lost (the socket closes, or falls silent).

The relay's clocks are the tests' own (`cockpit.link.link_clock` for round trips, the store's
clock for last-heard times): no figure here comes from sleeping on the wall clock. The probes
run every PROBE_S of real time, only to keep the test short."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import link
from cockpit.consumers import CockpitConsumer
from cockpit.groups import store_prefix
from cockpit.link import LINK_TELL_EVERY_S, LinkMeter, link_level, link_noticeable
from cockpit.models import CockpitSession, PrescanCheck
from core.models import AuditEvent
from tests.clock import ManualClock
from tests.cockpit.conftest import TIMEOUT, Socket
from tests.cockpit.support import open_cockpit
from tests.cockpit.test_relay_control import Room, audit_trail, control_now, error
from tests.conftest import World

PROBE_S = 0.02  # seconds of real time between probes (and watchdog rounds)
LINK_TIMEOUT_S = 5.0


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


# --- The figures, without a socket ------------------------------------------------------------


def test_levels_follow_the_settings_thresholds() -> None:
    assert link_level(150, 30) == "ok"
    assert link_level(151, 0) == "warn"
    assert link_level(20, 31) == "warn"
    assert link_level(400, 100) == "warn"
    assert link_level(401, 0) == "refuse"
    assert link_level(20, 101) == "refuse"


def test_rtt_is_the_median_and_jitter_the_mean_step_of_the_window() -> None:
    meter = LinkMeter()
    assert meter.figures() is None
    now = 0.0
    for rtt_ms in [40, 50, 200, 45, 55]:
        probe = meter.due(now, give_up_after=5)
        assert probe is not None
        assert meter.due(now, give_up_after=5) is None  # one probe out at a time
        now += rtt_ms / 1000
        assert not meter.echoed(probe + 1, now)  # not the probe out: ignored
        assert meter.echoed(probe, now)
        assert not meter.echoed(probe, now)  # counted once
    # median of 40 45 50 55 200; steps 10, 150, 155, 10
    assert meter.figures() == {"rtt_ms": 50.0, "jitter_ms": 81.3, "level": "warn"}


def test_a_probe_unanswered_is_given_up_after_the_timeout_and_a_late_echo_still_counts() -> None:
    meter = LinkMeter()
    first = meter.due(0.0, give_up_after=5)
    assert meter.due(4.9, give_up_after=5) is None
    assert meter.echoed(first or 0, 3.0)  # three seconds late: counted as such
    assert meter.figures() == {"rtt_ms": 3000.0, "jitter_ms": 0.0, "level": "refuse"}
    second = meter.due(3.0, give_up_after=5)
    assert meter.due(8.0, give_up_after=5) == (second or 0) + 1


def test_only_noticeable_changes_are_told() -> None:
    told = {"rtt_ms": 40.0, "jitter_ms": 5.0, "level": "ok"}
    assert link_noticeable(None, told)
    assert not link_noticeable(told, {"rtt_ms": 55.0, "jitter_ms": 12.0, "level": "ok"})
    assert link_noticeable(told, {"rtt_ms": 60.0, "jitter_ms": 5.0, "level": "ok"})
    assert link_noticeable(told, {"rtt_ms": 40.0, "jitter_ms": 15.0, "level": "ok"})
    assert link_noticeable(told, {"rtt_ms": 151.0, "jitter_ms": 5.0, "level": "warn"})
    # Told 2 s ago: a move within the level waits; a change of level does not.
    moved = {"rtt_ms": 60.0, "jitter_ms": 5.0, "level": "ok"}
    assert not link_noticeable(told, moved, told_at=10.0, now=12.0)
    assert link_noticeable(told, moved, told_at=10.0, now=10.0 + LINK_TELL_EVERY_S)
    worse = {"rtt_ms": 151.0, "jitter_ms": 5.0, "level": "warn"}
    assert link_noticeable(told, worse, told_at=10.0, now=12.0)


# --- Over the relay ---------------------------------------------------------------------------


@pytest.fixture
def probes_on(settings: Any) -> None:
    settings.COCKPIT_LINK_PROBE_S = PROBE_S
    settings.COCKPIT_CONTROL_LINK_TIMEOUT_S = LINK_TIMEOUT_S


@pytest.fixture
def rtt_clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock(5_000.0)
    monkeypatch.setattr(link, "link_clock", clock)
    return clock


@pytest.fixture
def heard_clock(relay_store: Any, monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock(1_000_000.0)
    monkeypatch.setattr(relay_store, "clock", clock)
    return clock


@pytest.fixture(autouse=True)
def probes_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The room's sockets read past the relay's probes (kept for `next_probe`); frames read
    while looking for a probe are kept for the next `recv`."""
    original = Socket.recv

    async def recv(self: Socket, timeout: float = TIMEOUT) -> dict[str, Any]:
        held: list[dict[str, Any]] = self.__dict__.setdefault("held", [])
        if held:
            return held.pop(0)
        while True:
            frame = await original(self, timeout)
            if frame["type"] != "probe":
                return frame
            self.__dict__["probe"] = frame["payload"]["id"]

    monkeypatch.setattr(Socket, "recv", recv)


async def next_probe(socket: Socket) -> int:
    """The id of the probe out to this socket: one `recv` read past, or the next one to come
    (other frames are kept for `recv`)."""
    skipped = socket.__dict__.pop("probe", None)
    if skipped is not None:
        return int(skipped)
    held: list[dict[str, Any]] = socket.__dict__.setdefault("held", [])
    while True:
        output = await socket.communicator.receive_output(TIMEOUT)
        frame = json.loads(output["text"])
        if frame["type"] == "probe":
            assert frame["seq"] is None
            return int(frame["payload"]["id"])
        held.append(frame)


# Round trips sent by `round_trip` whose echo the relay has not read yet: (clock, seconds).
ECHOES_IN_FLIGHT: list[tuple[ManualClock, float]] = []


@pytest.fixture(autouse=True)
def echoes_move_the_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The relay's clock moves by a round trip's time as the relay reads its echo, not before:
    moved when the echo was queued, the relay's probe timer (every 20 ms of real time) could
    see the probe still out at that age, on a busy machine, and tell everyone of it first (CI40
    failed so: 200 ms told before the echo's 48 ms median)."""
    read_echo = CockpitConsumer.link_echo

    async def link_echo(self: CockpitConsumer, probe_id: int) -> None:
        if ECHOES_IN_FLIGHT:
            clock, seconds = ECHOES_IN_FLIGHT.pop(0)
            clock.now += seconds
        await read_echo(self, probe_id)

    monkeypatch.setattr(CockpitConsumer, "link_echo", link_echo)
    yield
    ECHOES_IN_FLIGHT.clear()


async def round_trip(socket: Socket, clock: ManualClock, rtt_ms: float) -> None:
    """Answer the next probe `rtt_ms` later on the relay's clock (which moves as the relay reads
    the echo: `echoes_move_the_clock`)."""
    probe = await next_probe(socket)
    ECHOES_IN_FLIGHT.append((clock, rtt_ms / 1000))
    await socket.send("echo", {"probe": probe})


async def nothing_but_probes(socket: Socket, seconds: float = 0.2) -> None:
    """For a moment (several probe and watchdog rounds), nothing but probes arrives."""
    held: list[dict[str, Any]] = socket.__dict__.setdefault("held", [])
    assert held == []
    # A probe read past before (by `recv`) stays the one out: the relay sends no other until
    # it is echoed or given up, so dropping it here would leave the socket unprobed for good.
    # Polled, as `receive_nothing` does: a `receive_output` that times out cancels the socket.
    queue = socket.communicator.output_queue
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        if queue.empty():
            await asyncio.sleep(0.01)
            continue
        output = queue.get_nowait()
        assert output["type"] == "websocket.send", output
        frame = json.loads(output["text"])
        assert frame["type"] == "probe", frame
        socket.__dict__["probe"] = frame["payload"]["id"]


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


def link_event(who: dict[str, Any], rtt: float, jitter: float, level: str) -> dict[str, Any]:
    return {"person": who, "rtt_ms": rtt, "jitter_ms": jitter, "level": level}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_round_trips_are_timed_and_told_to_everyone_when_they_change_noticeably(
    world: World, room: Room, rtt_clock: ManualClock, relay_store: Any
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    await round_trip(room.operator, rtt_clock, 40)
    await room.everyone_gets("link", link_event(operator, 40.0, 0.0, "ok"))
    # 44 ms median, 8 ms jitter: not worth an event.
    await round_trip(room.operator, rtt_clock, 48)
    for socket in room.people:
        await nothing_but_probes(socket)
    # A slower link: the jitter (80 ms) goes above 30 ms first, a warning on every screen.
    await round_trip(room.operator, rtt_clock, 200)
    await room.everyone_gets("link", link_event(operator, 48.0, 80.0, "warn"))
    # Far slower: refused, told at once (a change of level).
    await round_trip(room.operator, rtt_clock, 900)
    await room.everyone_gets("link", link_event(operator, 124.0, 286.7, "refuse"))
    # Figures that move within a level are told at most every LINK_TELL_EVERY_S: the next
    # two round trips, within a second or two, are not (on a busy server every round trip
    # wanders, and each telling is an event to everyone).
    for _ in range(2):
        await round_trip(room.operator, rtt_clock, 900)
    for socket in room.people:
        await nothing_but_probes(socket)
    # Later (the next probe is out for the wait: a 5.9 s round trip), they are.
    await round_trip(room.operator, rtt_clock, LINK_TELL_EVERY_S * 1000 + 900)
    await room.everyone_gets("link", link_event(operator, 900.0, 976.7, "refuse"))
    # A late joiner sees everyone's figures in the snapshot.
    late = await room.relay.person(world.admin, room.cockpit.pk, role="observer")
    assert (await late.recv())["type"] == "welcome"
    snapshot = await late.recv()
    assert snapshot["payload"]["links"] == [link_event(operator, 900.0, 976.7, "refuse")]
    # One event per change, never one per probe: seven round trips, four events kept.
    history = await relay_store.since(store_prefix(room.cockpit), 0)
    assert [json.loads(text)["type"] for text in history].count("link") == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_the_echoes_take_a_token_from_the_persons_frame_bucket(
    world: World, room: Room, rtt_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit import consumers

    taken: list[Any] = []
    admit = consumers.frame_buckets.admit

    def counting(key: Any, rate: Any, *, what: str) -> bool:
        taken.append(key)
        return admit(key, rate, what=what)

    monkeypatch.setattr(consumers.frame_buckets, "admit", counting)
    await room.open()
    await round_trip(room.operator, rtt_clock, 40)
    await room.everyone_gets(
        "link", link_event(person(world.technologist, "operator"), 40, 0, "ok")
    )
    assert taken == [(room.cockpit.pk, "operator", world.technologist.pk)]


# --- The pre-scan checklist -------------------------------------------------------------------


@database_sync_to_async
def session_now(cockpit: CockpitSession) -> dict[str, Any]:
    from cockpit import selectors

    return selectors.session_view(selectors.cockpit_get(cockpit_id=cockpit.pk))


@database_sync_to_async
def prescan_of(cockpit: CockpitSession) -> PrescanCheck | None:
    return PrescanCheck.objects.filter(cockpit=cockpit).first()


async def session_event(room: Room) -> dict[str, Any]:
    """The next event for everyone is a `session` event with the session as it now is."""
    first = await room.people[0].recv()
    session = await session_now(room.cockpit)
    room.seq += 1
    expected = {"type": "session", "seq": room.seq, "payload": session}
    assert first == expected
    for socket in room.people[1:]:
        assert await socket.recv() == expected
    return session


PENDING = (
    "Local staff have not confirmed the pre-scan checklist yet: a technologist beside the "
    "patient, the patient told the exam is run remotely, the link checked. The sequence was not "
    "started."
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_first_sequence_waits_for_the_checklist_local_staff_confirm(
    world: World, room: Room
) -> None:
    await room.open(checklist=False)
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    assert (await session_now(room.cockpit))["prescan"] is None
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    ref = await room.operator.send("command", {"name": "start"})
    assert await room.operator.recv() == error("conflict", PENDING, ref)
    # Other commands are not held back (moving the table to set the patient up, say).
    await room.operator.send("command", {"name": "move_table", "args": {"position_mm": 120}})
    await room.everyone_gets(
        "command", {"name": "move_table", "args": {"position_mm": 120.0}, "by": operator}
    )
    await room.scanner.recv()

    # Nobody but local staff confirms it.
    for socket in (room.operator, room.observer):
        ref = await socket.send("checklist", {"patient_informed": True})
        assert await socket.recv() == error(
            "forbidden", "Only local staff beside the patient confirm the pre-scan checklist.", ref
        )
    # Every box is ticked, and whoever is beside the patient is local staff of the hospital.
    ref = await room.local.send("checklist", {"patient_informed": False})
    frame = await room.local.recv()
    assert (frame["payload"]["code"], frame["payload"]["ref"]) == ("invalid", ref)
    assert "Tell the patient" in frame["payload"]["message"]
    ref = await room.local.send(
        "checklist", {"beside_patient": world.technologist.pk, "patient_informed": True}
    )
    assert await room.local.recv() == error(
        "invalid", "Name a technologist of the scanning hospital's local staff.", ref
    )
    ref = await room.local.send("checklist", {"beside_patient": "me", "patient_informed": True})
    assert (await room.local.recv())["payload"]["code"] == "invalid"
    assert await prescan_of(room.cockpit) is None

    await room.local.send("checklist", {"patient_informed": True})
    session = await session_event(room)
    prescan = session["prescan"]
    assert prescan["confirmed_by"] == local
    assert prescan["beside_patient"] == local
    assert (prescan["patient_informed"], prescan["link_level"]) == (True, "off")
    ref = await room.local.send("checklist", {"patient_informed": True})
    assert await room.local.recv() == error(
        "conflict", "The pre-scan checklist is already confirmed.", ref
    )

    await room.operator.send("command", {"name": "start"})
    command = await room.everyone_gets("command", {"name": "start", "args": {}, "by": operator})
    assert await room.scanner.recv() == command
    trail = await audit_trail(room.cockpit)
    confirmed = [data for action, _, data in trail if action == "cockpit.prescan_confirmed"]
    assert confirmed == [
        {
            "booking": room.cockpit.booking_id,
            "beside_patient": world.local_staff.pk,
            "patient_informed": True,
            "link": "off",
            "links": [],
        }
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_the_link_check_of_the_checklist_refuses_a_link_far_too_slow(
    world: World, room: Room, rtt_clock: ManualClock
) -> None:
    await room.open(checklist=False)
    operator = person(world.technologist, "operator")
    # No figures yet for the operator: asked to wait.
    ref = await room.local.send("checklist", {"patient_informed": True})
    assert await room.local.recv() == error(
        "conflict",
        f"The link check has no figures for {operator['name']} yet: confirm again in a few "
        "seconds.",
        ref,
    )
    await round_trip(room.operator, rtt_clock, 450)
    await room.everyone_gets("link", link_event(operator, 450.0, 0.0, "refuse"))
    ref = await room.local.send("checklist", {"patient_informed": True})
    assert await room.local.recv() == error(
        "conflict",
        f"The link check failed: {operator['name']}'s link is too slow or unsteady (450 ms "
        "round trip, 0 ms jitter). The exam cannot be run remotely over it.",
        ref,
    )
    assert await prescan_of(room.cockpit) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_a_warning_link_passes_the_checklist_with_the_warning_kept(
    world: World, room: Room, rtt_clock: ManualClock
) -> None:
    await room.open(checklist=False)
    operator = person(world.technologist, "operator")
    await round_trip(room.operator, rtt_clock, 200)
    await room.everyone_gets("link", link_event(operator, 200.0, 0.0, "warn"))
    await room.local.send("checklist", {"patient_informed": True})
    session = await session_event(room)
    assert session["prescan"]["link_level"] == "warn"
    assert session["prescan"]["links"] == [link_event(operator, 200.0, 0.0, "warn")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_no_sequence_starts_over_a_controllers_link_at_refuse_level(
    world: World, room: Room, rtt_clock: ManualClock
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    await round_trip(room.operator, rtt_clock, 600)
    await room.everyone_gets("link", link_event(operator, 600.0, 0.0, "refuse"))
    ref = await room.operator.send("command", {"name": "start"})
    assert await room.operator.recv() == error(
        "link_refused",
        "Your link to the cockpit is too slow or unsteady to start a sequence (600 ms round "
        "trip, 0 ms jitter): local staff can run it at the scanner.",
        ref,
    )
    await nothing_but_probes(room.scanner)


# --- Link lost: control falls back to local staff ---------------------------------------------


def fallback_message(lost: dict[str, Any], why: str, holder: dict[str, Any] | None) -> str:
    held_by = f" ({holder['name']})" if holder else ""
    return (
        f"{lost['name']} lost their link to the cockpit ({why}): control fell back to local "
        f"staff{held_by}. Nobody remote can command the scanner until local staff grant control "
        "again."
    )


async def expect_fallback(
    sockets: list[Socket],
    lost: dict[str, Any],
    why: str,
    cockpit: CockpitSession,
    *,
    reason: str,
    seconds: float | None = None,
) -> dict[str, Any]:
    """The next event for each of `sockets`: control fell back to local staff, why in words
    (English) and as a reason each page words in its reader's language."""
    frames = [await socket.recv() for socket in sockets]
    control = await control_now(cockpit)
    assert frames[0] == {
        "type": "control",
        "seq": frames[0]["seq"],
        "payload": {
            "action": "fallback",
            "by": None,
            "lost": lost,
            "why": why,
            "reason": reason,
            "seconds": seconds,
            "message": fallback_message(lost, why, control["controller"]),
            **control,
        },
    }
    assert all(frame == frames[0] for frame in frames)
    return control


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_closing_the_controllers_socket_gives_control_to_local_staff_at_once(
    world: World, room: Room
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)

    # A second socket of the operator (another tab) keeps control when the first one closes.
    others = [room.local, room.observer]
    second = await room.relay.person(world.technologist, room.cockpit.pk)
    assert [frame["type"] for frame in await second.recv_many(3)] == [
        "welcome",
        "snapshot",
        "presence",
    ]
    for socket in [room.operator, *others]:
        assert (await socket.recv())["payload"]["joined"] == operator
    await room.operator.disconnect()
    for socket in [second, *others]:
        assert (await socket.recv())["payload"]["left"] == operator
        await socket.silent()
    assert (await control_now(room.cockpit))["controller"] == operator

    await second.disconnect()
    for socket in others:
        frame = await socket.recv()
        assert (frame["type"], frame["payload"]["left"]) == ("presence", operator)
    control = await expect_fallback(
        others, operator, "their connection closed", room.cockpit, reason="closed"
    )
    # Held by the technologist named beside the patient, as after a local STOP.
    assert (control["controller"], control["local_override"]) == (local, True)
    fallback = await database_sync_to_async(
        lambda: AuditEvent.objects.get(action="cockpit.control_fallback")
    )()
    assert fallback.actor is None
    assert fallback.data == {
        "booking": room.cockpit.booking_id,
        "from": world.technologist.pk,
        "why": "their connection closed",
        "to": world.local_staff.pk,
    }
    # Back again, the operator cannot take it over: local staff decide.
    again = await room.relay.person(world.technologist, room.cockpit.pk)
    await again.recv_many(2)
    ref = await again.send("control", {"action": "take_over"})
    frame = await again.recv()
    while frame["type"] != "error":
        frame = await again.recv()
    assert frame["payload"]["ref"] == ref


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_a_controller_silent_for_the_timeout_loses_control_to_local_staff(
    world: World, room: Room, heard_clock: ManualClock
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    # The operator's socket stays open but answers no probe. Just within the timeout: kept.
    heard_clock.now += LINK_TIMEOUT_S - 0.5
    for socket in room.people:
        await nothing_but_probes(socket)
    assert (await control_now(room.cockpit))["controller"] == operator
    # Past it: local staff hold the scanner, and everyone (the operator too) is told.
    heard_clock.now += 1
    silent_s = round(LINK_TIMEOUT_S + 0.5 + link.watchdog_tick_s())
    why = f"nothing heard from them for {silent_s} s"
    control = await expect_fallback(
        room.people, operator, why, room.cockpit, reason="silent", seconds=silent_s
    )
    assert (control["controller"], control["local_override"]) == (local, True)
    # Told once, whichever watchdog (the scanner's, local staff's) saw it first.
    for socket in room.people:
        await nothing_but_probes(socket)
    assert (
        await database_sync_to_async(
            lambda: AuditEvent.objects.filter(action="cockpit.control_fallback").count()
        )()
        == 1
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_a_controller_who_sends_but_answers_no_probe_loses_control(
    world: World, room: Room, heard_clock: ManualClock
) -> None:
    """Only an echo says the link is alive: a page that goes on sending (pings here) but
    answers no probe loses control like a silent one (a trial kept control for 20 s so)."""
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    heard_clock.now += LINK_TIMEOUT_S - 0.5
    await room.operator.send("ping", {})
    assert (await room.operator.recv())["type"] == "pong"
    heard_clock.now += 1
    await room.operator.send("ping", {})
    silent_s = round(LINK_TIMEOUT_S + 0.5 + link.watchdog_tick_s())
    why = f"nothing heard from them for {silent_s} s"
    frames = [await room.operator.recv(), await room.operator.recv()]
    fallback = next(frame for frame in frames if frame["type"] == "control")
    assert (fallback["payload"]["action"], fallback["payload"]["why"]) == ("fallback", why)
    control = await expect_fallback(
        [room.local], operator, why, room.cockpit, reason="silent", seconds=silent_s
    )
    assert (control["controller"], control["local_override"]) == (local, True)


def test_an_unanswered_probe_counts_as_a_round_trip_at_least_its_age() -> None:
    """A link that stops answering does not go on showing its last good figures."""
    meter = LinkMeter()
    meter.due(0.0, give_up_after=5)
    meter.echoed(1, 0.002)
    assert (meter.figures(1.0) or {}).get("level") == "ok"
    meter.due(1.0, give_up_after=5)
    assert (meter.figures(1.1) or {}).get("level") == "ok"
    assert meter.figures(3.0) == {"rtt_ms": 2000.0, "jitter_ms": 0.0, "level": "refuse"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_a_controller_who_echoes_keeps_control_and_local_staff_keep_theirs(
    world: World, room: Room, heard_clock: ManualClock, rtt_clock: ManualClock
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    for step in range(3):
        heard_clock.now += LINK_TIMEOUT_S - 1
        await round_trip(room.operator, rtt_clock, 30)
        if step == 0:
            await room.everyone_gets("link", link_event(operator, 30.0, 0.0, "ok"))
        for socket in room.people:
            await nothing_but_probes(socket, 0.1)
    assert (await control_now(room.cockpit))["controller"] == operator
    # Local staff holding control are beside the scanner: their silence changes nothing.
    await room.local.send("control", {"action": "override"})
    await room.control_event("override", person(world.local_staff, "local"))
    heard_clock.now += 10 * LINK_TIMEOUT_S
    for socket in room.people:
        await nothing_but_probes(socket)
    assert (await control_now(room.cockpit))["local_override"] is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("probes_on")
async def test_control_given_to_someone_never_connected_falls_back_after_the_timeout(
    world: World, relay: Any, heard_clock: ManualClock
) -> None:
    from cockpit import services

    cockpit = await database_sync_to_async(open_cockpit)(world)
    await database_sync_to_async(services.control_grant)(
        actor=world.local_staff, role="local", cockpit=cockpit, to_user_id=world.technologist.pk
    )
    local = await relay.person(world.local_staff, cockpit.pk)
    assert [frame["type"] for frame in await local.recv_many(3)] == [
        "welcome",
        "snapshot",
        "presence",
    ]
    await nothing_but_probes(local)  # the watchdog noted when it first missed them
    heard_clock.now += LINK_TIMEOUT_S - 0.5
    await nothing_but_probes(local)
    heard_clock.now += 1
    why = f"not connected for {LINK_TIMEOUT_S:g} s"
    control = await expect_fallback(
        [local],
        person(world.technologist, "operator"),
        why,
        cockpit,
        reason="absent",
        seconds=LINK_TIMEOUT_S,
    )
    assert (control["controller"], control["local_override"]) == (None, True)

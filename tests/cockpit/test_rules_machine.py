"""The cockpit's rules as a state machine (issue 15): every control action, STOP, command and
approval, by every role (the operator, local staff, two assistants, an observer), in any order,
through the services on the database. After each step:

- who holds control is what a plain model of the moves says (kept here, apart from the code);
- a command is accepted exactly from the person holding control;
- the moves the rule table offers each person are exactly the moves the services accept (each
  tried on a savepoint, then rolled back);
- while local staff hold the scanner nobody remote holds control, and no remote person's command
  is accepted after a STOP unless local staff granted control since.

Deterministic (`derandomize`), and sized to run in seconds: what the services accept is tried
once per distinct room (it depends on nothing else here), and a rule of its own has remote people
try to move control while local staff hold the scanner, so that those steps come often. Checked
against three planted faults (the operator may grant a held scanner; the controller's own STOP
keeps control; a remote request is granted while the scanner is held): each fails it."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cockpit import rules, services
from cockpit.models import CockpitSession
from cockpit.selectors import cockpit_get, room_of
from core.errors import DomainError
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NAMES = ("operator", "local", "assistant_a", "assistant_b", "observer")
REMOTE = ("operator", "assistant")
# Someone by name, or "holder": whoever holds control at that step.
ANYONE = st.sampled_from((*NAMES, "holder", "holder"))
CONTROL = (
    "control.request",
    "control.grant",
    "control.release",
    "control.take_over",
    "control.override",
)
# What a step does (STOP and commands twice as often: the invariant is about them).
STEPS = (*CONTROL, "control.grant_to", "stop", "stop", "command", "command", "approve")
# The moves tried for everyone at every step (a grant naming someone is tried per person named).
TRIED = (
    "control.request",
    "control.grant",
    "control.release",
    "control.take_over",
    "control.override",
    "stop",
    "command",
    "approve",
)


@dataclass(frozen=True)
class Person:
    name: str
    user: Any
    role: str


def attempt(move: str, who: Person, cockpit: CockpitSession, to: Person | None = None) -> None:
    """Make `move` as `who` through its service (raises the service's DomainError)."""
    actor, role = who.user, who.role
    if move == "control.request":
        services.control_request(actor=actor, role=role, cockpit=cockpit)
    elif move == "control.grant":
        services.control_grant(actor=actor, role=role, cockpit=cockpit)
    elif move == "control.grant_to":
        assert to is not None
        services.control_grant(actor=actor, role=role, cockpit=cockpit, to_user_id=to.user.pk)
    elif move == "control.release":
        services.control_release(actor=actor, cockpit=cockpit)
    elif move == "control.take_over":
        services.control_take_over(actor=actor, cockpit=cockpit)
    elif move == "control.override":
        services.control_override(actor=actor, cockpit=cockpit)
    elif move == "stop":
        services.cockpit_stop(actor=actor, role=role, cockpit=cockpit)
    elif move == "command":
        services.command_record(actor=actor, role=role, cockpit=cockpit, name="start", args={})
    elif move == "approve":
        services.cockpit_approve_join(actor=actor, cockpit=cockpit)
    else:  # pragma: no cover
        raise AssertionError(move)


def accepted(move: str, who: Person, cockpit: CockpitSession, to: Person | None = None) -> bool:
    """Whether the service accepts the move now; nothing of it stays."""
    savepoint = transaction.savepoint()
    try:
        attempt(move, who, cockpit, to)
    except DomainError:
        return False
    finally:
        transaction.savepoint_rollback(savepoint)
    return True


class CockpitRules(RuleBasedStateMachine):
    people: dict[str, Person]
    cockpit: CockpitSession
    rooms_tried: set[rules.Room]

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()  # each run starts from the same cockpit
        # The model: who holds control (by name), who asked, whether local staff hold the
        # scanner, whether the operator's join is approved; whether a STOP came with no grant by
        # local staff since.
        self.controller: str | None = None
        self.requested: str | None = None
        self.held = False
        self.approved = False
        self.stopped_without_grant = False

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    # --- The steps ----------------------------------------------------------------------------

    @initialize(
        approved=st.sampled_from((True, True, True, False)),
        holder=st.sampled_from((None, "operator", "operator", "local", "assistant_a")),
    )
    def begin(self, approved: bool, holder: str | None) -> None:
        """Start approved or not, with control held by someone (an assistant: granted by local
        staff) or nobody: the states worth exploring are reached in a few steps."""
        # The pre-scan checklist is done (its own tests are in test_relay_link.py): `command`
        # here is about control alone.
        services.prescan_confirm(
            actor=self.people["local"].user,
            role="local",
            cockpit=self.cockpit,
            beside_patient_id=None,
            patient_informed=True,
            links=None,
        )
        if approved:
            self.act("local", "approve")
        if holder is not None:
            self.act(holder, "control.request")
        if holder == "assistant_a":
            self.act("local", "control.grant")

    @rule(name=ANYONE, move=st.sampled_from(STEPS), to=st.sampled_from(NAMES))
    def step(self, name: str, move: str, to: str) -> None:
        self.act(self.resolve(name), move, to if move == "control.grant_to" else None)

    @precondition(lambda self: self.held)
    @rule(
        name=st.sampled_from(("operator", "assistant_a", "assistant_b")),
        move=st.sampled_from((*CONTROL, "control.grant_to", "command")),
        to=st.sampled_from(NAMES),
    )
    def remote_while_held(self, name: str, move: str, to: str) -> None:
        """A remote person tries to move control (or command) while local staff hold the
        scanner: the steps the invariant is about, made often."""
        self.act(name, move, to if move == "control.grant_to" else None)

    def resolve(self, name: str) -> str:
        """ "holder": whoever holds control now (so that the holder acts often), else anyone."""
        if name == "holder":
            return self.controller or "operator"
        return name

    @rule(name=st.sampled_from(NAMES))
    def approve(self, name: str) -> None:
        self.act(name, "approve")

    def act(self, name: str, move: str, to: str | None = None) -> None:
        who = self.people[name]
        target = self.people[to] if to is not None else None
        refused: DomainError | None = None
        try:
            attempt(move, who, self.cockpit, target)
        except DomainError as error:
            refused = error
        if refused is None:
            self.apply(move, name, to)
            return
        # A refusal is a PermissionDenied or a Conflict (or an invalid target), and changes
        # nothing: the invariants compare the database with the unchanged model.
        assert refused.code in ("forbidden", "conflict", "invalid"), refused
        if move == "command":
            assert self.controller != name

    def apply(self, move: str, name: str, to: str | None) -> None:
        """The model's account of an accepted move."""
        role = self.people[name].role
        if move == "control.request":
            free = self.controller is None
            if free and (role == "local" or (not self.held and role != "assistant")):
                self.give(name)
            else:
                self.requested = name
        elif move in ("control.grant", "control.grant_to"):
            target = self.requested if move == "control.grant" else to
            assert target is not None
            if self.held:
                assert role == "local", "only local staff hand over a held scanner"
            if role == "local":
                self.stopped_without_grant = False
            self.give(target)
        elif move == "control.release":
            assert self.controller == name
            self.controller = None
        elif move == "control.take_over":
            assert not self.held
            self.give(name)
        elif move == "control.override":
            self.give(name)
            self.held = True
        elif move == "stop":
            if role == "local":
                self.give(name)
            else:
                assert self.controller == name
                self.controller = None
            self.held = True
            self.stopped_without_grant = True
        elif move == "command":
            assert self.controller == name
            if role in REMOTE:
                assert not self.stopped_without_grant, "a remote command after a STOP"
        elif move == "approve":
            self.approved = True

    def give(self, name: str) -> None:
        self.controller = name
        if self.requested == name:
            self.requested = None
        if self.people[name].role != "local":
            self.held = False

    # --- After every step -----------------------------------------------------------------------

    @invariant()
    def control_is_as_modelled(self) -> None:
        fresh = cockpit_get(cockpit_id=self.cockpit.pk)
        holder = self.people[self.controller] if self.controller else None
        requested = self.people[self.requested] if self.requested else None
        assert (fresh.controller_id, fresh.controller_role or None) == (
            (holder.user.pk, holder.role) if holder else (None, None)
        )
        assert fresh.control_requested_by_id == (requested.user.pk if requested else None)
        assert (fresh.local_override, fresh.join_approved) == (self.held, self.approved)
        if self.held:
            assert holder is None or holder.role == "local"
        if holder is not None:
            assert holder.role != "observer"
            assert holder.role != "operator" or self.approved

    @invariant()
    def offered_moves_are_exactly_the_accepted_ones(self) -> None:
        room = room_of(cockpit_get(cockpit_id=self.cockpit.pk))
        # What the services accept depends on the session only through what the room holds
        # (the people and the booking stay the same): each room is tried once per test.
        if room in self.rooms_tried:
            return
        for name, who in self.people.items():
            offered = set(rules.moves_for(room, rules.Who(who.role, who.user.pk)))
            for move in TRIED:
                assert (move in offered) == accepted(move, who, self.cockpit), (name, move)
            # Naming someone: offered exactly when the services accept it for someone.
            named = any(
                accepted("control.grant_to", who, self.cockpit, other)
                for other in self.people.values()
                if other.role != "observer"  # never a target: refused for another reason
            )
            assert ("control.grant_to" in offered) == named, name
            # Commands: from the holder, and only them.
            assert ("command" in offered) == (self.controller == name)
            if self.held and who.role in REMOTE:
                assert not offered & {"control.grant", "control.grant_to", "control.take_over"}
        self.rooms_tried.add(room)  # only once it passed: a failure replays the same way


def test_the_rules_hold_in_any_order(world: World) -> None:
    cockpit = open_cockpit(world, approved=False)
    assistant_a = UserFactory(email="assistant-a@example.org")
    assistant_b = UserFactory(email="assistant-b@example.org")
    cockpit.assistants.add(assistant_a, assistant_b)
    people = {
        "operator": Person("operator", world.technologist, "operator"),
        "local": Person("local", world.local_staff, "local"),
        "assistant_a": Person("assistant_a", assistant_a, "assistant"),
        "assistant_b": Person("assistant_b", assistant_b, "assistant"),
        "observer": Person("observer", world.admin, "observer"),
    }

    class Machine(CockpitRules):
        rooms_tried = set()

        def __init__(self) -> None:
            self.people = people
            self.cockpit = cockpit
            super().__init__()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            derandomize=True,
            database=None,
            deadline=None,
            max_examples=40,
            stateful_step_count=20,
            suppress_health_check=[HealthCheck.too_slow],
            # A failure is reported as found: shrinking it would replay the database for minutes.
            phases=[Phase.explicit, Phase.generate],
        ),
    )

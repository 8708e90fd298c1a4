"""The cockpit's rule table on its own (no database): every room a session can be in, every
participant. The safety rules of issue 15 hold in each; a refusal is always a PermissionDenied or
a Conflict with a message; the lists the relay splices into frames are the moves, as JSON."""

import itertools
import json

import pytest

from cockpit import rules
from cockpit.rules import MOVES, Room, Who, moves_for, moves_json, refusal, require, require_any
from core.errors import Conflict, PermissionDenied

OPERATOR, LOCAL, LOCAL_2, ASSISTANT, OBSERVER = 1, 2, 3, 4, 5
PEOPLE = [
    Who("operator", OPERATOR),
    Who("local", LOCAL),
    Who("local", LOCAL_2),
    Who("assistant", ASSISTANT),
    Who("observer", OBSERVER),
]
HOLDERS = [None, *[(who.user_id, who.role) for who in PEOPLE if who.role != "observer"]]
REMOTE = ("operator", "assistant")
MOVE_CONTROL = {"control.grant", "control.grant_to", "control.take_over", "command"}


def rooms() -> list[Room]:
    every = []
    for holder, asker, held, approved, ended, started, assist in itertools.product(
        HOLDERS,
        HOLDERS,
        (False, True),
        (False, True),
        ("", "This cockpit session has ended."),
        (False, True),
        ("", "open", "accepted"),
    ):
        if held and holder is not None and holder[1] != "local":
            continue  # held locally: local staff hold control, or nobody does
        every.append(
            Room(
                controller_id=holder[0] if holder else None,
                controller_role=holder[1] if holder else "",
                requested_by_id=asker[0] if asker else None,
                requested_role=asker[1] if asker else "",
                held=held,
                join_approved=approved,
                ended=ended,
                started=started,
                assist=assist,
                assist_helper_id=ASSISTANT if assist == "accepted" else None,
            )
        )
    return every


ROOMS = rooms()


def test_while_local_staff_hold_the_scanner_nobody_remote_moves_control_or_commands() -> None:
    for room in ROOMS:
        if not room.held:
            continue
        for who in PEOPLE:
            if who.role in REMOTE:
                assert not MOVE_CONTROL & set(moves_for(room, who)), (room, who)
        if not room.ended:
            # Local staff can always hand it over by name, and take it.
            assert "control.grant_to" in moves_for(room, Who("local", LOCAL)), room


def test_only_the_holder_commands_and_local_staff_can_always_stop() -> None:
    for room, who in itertools.product(ROOMS, PEOPLE):
        offered = moves_for(room, who)
        assert ("command" in offered) == (room.holds(who) and not room.ended), (room, who)
        if who.role == "local":
            assert "stop" in offered
        if who.role == "observer":
            assert set(offered) <= {"chat"}


def test_an_unapproved_operator_only_watches() -> None:
    for room in ROOMS:
        if not room.join_approved:
            offered = set(moves_for(room, Who("operator", OPERATOR)))
            assert offered <= {
                "control.release",
                "stop",
                "command",
                "assist.cancel",
                "assist.finish",
            }


def test_every_refusal_is_a_permission_or_a_conflict_with_words() -> None:
    for room, who, move in itertools.product(ROOMS, PEOPLE, MOVES):
        refused = refusal(move, room, who)
        if refused is None:
            assert move in moves_for(room, who)
            continue
        assert refused.error in (PermissionDenied, Conflict)
        assert refused.message.endswith("."), refused
        with pytest.raises(refused.error, match=refused.message[:20]):
            require(move, room, role=who.role, user_id=who.user_id)


def test_the_operators_grant_of_a_held_scanner_is_refused_in_words() -> None:
    held = Room(
        controller_id=LOCAL,
        controller_role="local",
        held=True,
        join_approved=True,
        requested_by_id=ASSISTANT,
        requested_role="assistant",
    )
    with pytest.raises(PermissionDenied, match="Local staff hold the scanner"):
        require("control.grant", held, role="operator", user_id=OPERATOR)
    with pytest.raises(Conflict, match="Local staff have taken the scanner back"):
        require("control.take_over", held, role="operator", user_id=OPERATOR)
    require("control.grant", held, role="local", user_id=LOCAL_2)  # another local: fine


def test_someone_in_several_roles_gets_the_first_that_may() -> None:
    room = Room(join_approved=True)
    assert require_any("approve", Room(), roles=["observer", "local"], user_id=LOCAL) == "local"
    with pytest.raises(PermissionDenied, match="Observers watch"):
        require_any("control.request", room, roles=["observer"], user_id=OBSERVER)


def test_the_moves_as_json_are_the_moves() -> None:
    room = Room(controller_id=OPERATOR, controller_role="operator", join_approved=True)
    who = Who("operator", OPERATOR)
    assert json.loads(moves_json(room, who)) == list(moves_for(room, who))
    assert moves_json(room, who) is moves_json(room, who)  # cached: one string per room and person
    assert "command" in moves_for(room, who)
    assert rules.MOVES["command"].roles == ("operator", "local", "assistant")

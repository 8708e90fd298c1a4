"""Who may do what in a cockpit, written once: the table the services enforce, the relay sends
(`moves` on every frame that can change them) and the console page renders its buttons from.

Pure: no database, no I/O. The input is a `Room` (a small frozen snapshot of the session, made
by `cockpit.selectors.room_of`) and a `Who` (the participant: role and user id); the output is
the moves open to them now (`moves_for`) or, for one move, its refusal (`refusal`), which the
services raise (`require`) under the session's row lock.

The safety invariant (issue 15): once local staff STOP or take the scanner back, and after any
STOP at all (the remote controller's own too), the scanner is *held locally* (`Room.held`, the
session's `local_override`): a local staff member holds control, or nobody does and the scanner
is held at the console by local staff. While it is held:
- only local staff grant control (`control.grant` to the pending request, `control.grant_to` a
  named person); nothing else moves it to a remote person;
- a remote request for control is recorded and waits (`control.request`), never granted;
- the operator's take-over is refused (`control.take_over`), and releasing control keeps the
  scanner held;
- only the controller commands (`command`): with nobody holding control, nobody does.

Each move is one row of `MOVES`: the roles that may make it at all (and the refusal for the
others), then guards in order, each a condition on (room, who) and the refusal when it fails.
Adding a move (say `checklist.confirm` for local staff) is adding a row.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from cockpit.models import ASSIST_REQUESTER_ROLES, CONTROL_ROLES, Role
from core.errors import Conflict, DomainError, PermissionDenied

__all__ = [
    "MOVES",
    "Move",
    "Refusal",
    "Room",
    "Who",
    "moves_for",
    "moves_json",
    "refusal",
    "require",
    "require_any",
]


@dataclass(frozen=True)
class Room:
    """What the rules read of a session, at one moment."""

    controller_id: int | None = None
    controller_role: str = ""
    requested_by_id: int | None = None
    requested_role: str = ""
    held: bool = False  # held locally: the session's `local_override` (after a STOP, or taken back)
    join_approved: bool = False
    ended: str = ""  # why nothing more is done in it (ended, booking cancelled...); "" while open
    window_open: bool = True  # within the cockpit's opening window (asking for help needs it)
    started: bool = False  # the first sequence ran
    assist: str = ""  # the request for help concerned: "", "open", "accepted" or "closed"
    assist_helper_id: int | None = None  # the senior who accepted it
    prescan_done: bool = False  # local staff confirmed the pre-scan checklist
    stopped_by: frozenset[int] = frozenset()  # who pressed the session's STOPs so far

    def holds(self, who: "Who") -> bool:
        return self.controller_id == who.user_id and self.controller_role == who.role


@dataclass(frozen=True)
class Who:
    role: str
    user_id: int | None


@dataclass(frozen=True)
class Refusal:
    error: type[DomainError]  # PermissionDenied (not yours to make) or Conflict (not now)
    message: str | Promise  # lazy: read in the language of whoever is refused

    def exception(self) -> DomainError:
        return self.error(str(self.message))


Check = Callable[[Room, Who], bool]
# A guard's refusal: fixed, or read from the room (why it ended, whether it is held locally).
Because = Refusal | Callable[[Room], Refusal]


@dataclass(frozen=True)
class Move:
    roles: tuple[str, ...]
    not_your_role: Refusal
    guards: tuple[tuple[Check, Because], ...] = ()


def _denied(message: str | Promise) -> Refusal:
    return Refusal(PermissionDenied, message)


def _conflict(message: str | Promise) -> Refusal:
    return Refusal(Conflict, message)


# --- Guards used by several moves ------------------------------------------------------------


def _is_open(room: Room, who: Who) -> bool:
    return not room.ended


def _approved_if_operator(room: Room, who: Who) -> bool:
    return who.role != Role.OPERATOR or room.join_approved


_NOT_APPROVED = _denied(
    _("Local staff have not approved your join yet: you can watch, not control.")
)


def _holds(room: Room, who: Who) -> bool:
    return room.holds(who)


def _may_grant(room: Room, who: Who) -> bool:
    """While the scanner is held locally only local staff hand control over; otherwise the
    holder, local staff or the (approved) operator, who could take it over anyway."""
    if room.held:
        return who.role == Role.LOCAL
    return room.holds(who) or who.role in (Role.LOCAL, Role.OPERATOR)


def _may_not_grant(room: Room) -> Refusal:
    if room.held:
        return _denied(_("Local staff hold the scanner: only they can hand control over."))
    return _denied(_("Only the person holding control, the operator or local staff may grant it."))


def _ended(room: Room) -> Refusal:
    return _conflict(room.ended)


_OPEN_GUARD: tuple[Check, Because] = (_is_open, _ended)

# --- The table -------------------------------------------------------------------------------

_REQUESTERS = tuple(ASSIST_REQUESTER_ROLES)
_PEOPLE = (Role.OPERATOR, Role.LOCAL, Role.ASSISTANT, Role.OBSERVER)

MOVES: dict[str, Move] = {
    # Ask for control. Free control (nobody holds it, not held locally) is given at once except
    # to an assistant; local staff are given it at once while it is held locally with nobody
    # named; anything else waits for a grant.
    "control.request": Move(
        CONTROL_ROLES,
        _denied(_("Observers watch the exam; they cannot hold control.")),
        (
            _OPEN_GUARD,
            (_approved_if_operator, _NOT_APPROVED),
            (lambda r, w: not r.holds(w), _conflict(_("You already hold control."))),
            (
                lambda r, w: not (r.requested_by_id == w.user_id and r.requested_role == w.role),
                _conflict(_("You have already asked for control: it waits for a grant.")),
            ),
        ),
    ),
    # Grant control to whoever asked.
    "control.grant": Move(
        CONTROL_ROLES,
        _denied(_("Observers watch the exam; they cannot hold control.")),
        (
            _OPEN_GUARD,
            (_may_grant, _may_not_grant),
            (_approved_if_operator, _NOT_APPROVED),
            (
                lambda r, w: r.requested_by_id is not None,
                Refusal(Conflict, _("Nobody has asked for control: name whom to grant it to.")),
            ),
            (
                lambda r, w: r.requested_by_id != w.user_id or r.requested_role != w.role,
                _conflict(_("You asked for control yourself: someone else grants it.")),
            ),
        ),
    ),
    # Grant control to a person named (the service checks that they may hold it).
    "control.grant_to": Move(
        CONTROL_ROLES,
        _denied(_("Observers watch the exam; they cannot hold control.")),
        (
            _OPEN_GUARD,
            (_may_grant, _may_not_grant),
            (_approved_if_operator, _NOT_APPROVED),
        ),
    ),
    "control.release": Move(
        CONTROL_ROLES,
        _denied(_("Observers watch the exam; they cannot hold control.")),
        ((_holds, _conflict(_("You do not hold control."))),),
    ),
    "control.take_over": Move(
        (Role.OPERATOR,),
        _denied(_("Only the booked operator may take control over.")),
        (
            _OPEN_GUARD,
            (_approved_if_operator, _NOT_APPROVED),
            (
                lambda r, w: not r.held,
                _conflict(
                    _(
                        "Local staff have taken the scanner back; ask them to hand control "
                        "over to you."
                    )
                ),
            ),
            (lambda r, w: not r.holds(w), _conflict(_("You already hold control."))),
            (
                lambda r, w: r.controller_id is not None,
                _conflict(_("Nobody holds control: ask for it instead.")),
            ),
        ),
    ),
    "control.override": Move(
        (Role.LOCAL,),
        _denied(_("Only local staff of the scanning site may take the scanner back.")),
        (
            _OPEN_GUARD,
            (
                lambda r, w: not (r.held and r.holds(w)),
                _conflict(_("You already hold the scanner.")),
            ),
        ),
    ),
    # STOP: local staff at any time; the controller too. Either way the scanner is held locally
    # afterwards.
    "stop": Move(
        CONTROL_ROLES,
        _denied(_("Only local staff or the person holding control may stop the scan.")),
        (
            (
                lambda r, w: w.role == Role.LOCAL or r.holds(w),
                _denied(_("Only local staff or the person holding control may stop the scan.")),
            ),
        ),
    ),
    "command": Move(
        CONTROL_ROLES,
        _denied(_("Only the person holding control sends commands; observers watch.")),
        (
            _OPEN_GUARD,
            (_holds, _denied(_("You do not hold control: ask for it first."))),
        ),
    ),
    "confirm_contrast": Move(
        (Role.LOCAL,),
        _denied(_("Only local staff beside the patient confirm contrast.")),
        (_OPEN_GUARD,),
    ),
    "approve": Move(
        (Role.LOCAL,),
        _denied(_("Only local staff of the scanning site approve the operator's join.")),
        (
            _OPEN_GUARD,
            (
                lambda r, w: not r.join_approved,
                _conflict(_("The operator's join is already approved.")),
            ),
        ),
    ),
    "close": Move(
        (Role.OPERATOR,),
        _denied(_("Only the booked operator closes the cockpit.")),
        (
            _OPEN_GUARD,
            (_approved_if_operator, _NOT_APPROVED),
            (
                lambda r, w: r.started,
                _conflict(_("The protocol is not finished: run or abort every sequence first.")),
            ),
        ),
    ),
    # Local staff beside the patient confirm the pre-scan checklist, once (the first sequence
    # starts only after it: `cockpit.services.session.prescan_require`).
    "checklist.confirm": Move(
        (Role.LOCAL,),
        _denied(_("Only local staff beside the patient confirm the pre-scan checklist.")),
        (
            _OPEN_GUARD,
            (
                lambda r, w: not r.prescan_done,
                _conflict(_("The pre-scan checklist is already confirmed.")),
            ),
        ),
    ),
    # End an exam that was stopped or cut short (the service also refuses while a sequence is
    # acquiring: that is the console's state, not the room's).
    "end": Move(
        (Role.OPERATOR, Role.LOCAL),
        _denied(_("Only the operator or local staff may end the exam early.")),
        (
            _OPEN_GUARD,
            (_approved_if_operator, _NOT_APPROVED),
            (
                lambda r, w: r.started,
                _conflict(
                    _(
                        "Nothing was scanned yet: there is no exam to end. Cancel the booking from "
                        "its page if it will not take place."
                    )
                ),
            ),
        ),
    ),
    # Say why a STOP was pressed, during the exam or after it: local staff for any STOP, the
    # others for their own (which STOP is the service's to check: `stop_reason_allowed`).
    "stop_reason": Move(
        CONTROL_ROLES,
        _denied(_("Only local staff or whoever pressed the STOP may give its reason.")),
        (
            (lambda r, w: bool(r.stopped_by), _conflict(_("Nobody has pressed STOP here."))),
            (
                lambda r, w: w.role == Role.LOCAL or w.user_id in r.stopped_by,
                _denied(_("Only local staff or whoever pressed the STOP may give its reason.")),
            ),
        ),
    ),
    "assist.request": Move(
        _REQUESTERS,
        _denied(_("Only the operator or local staff ask for help in a cockpit.")),
        (
            _OPEN_GUARD,
            (
                lambda r, w: r.window_open,
                _conflict(
                    _(
                        "This cockpit is not open: ask for help from 15 minutes before the session "
                        "starts until the exam ends."
                    )
                ),
            ),
            (_approved_if_operator, _NOT_APPROVED),
            (
                lambda r, w: r.assist != "open",
                _conflict(
                    _("A request for help is already open in this cockpit; cancel it first.")
                ),
            ),
            (
                lambda r, w: r.assist != "accepted",
                _conflict(
                    _("A senior is helping in this cockpit: end that with “Help done” first.")
                ),
            ),
        ),
    ),
    "assist.cancel": Move(
        _REQUESTERS,
        _denied(_("Only the operator or local staff cancel a request for help.")),
        (
            (
                lambda r, w: r.assist != "accepted",
                _conflict(_("A senior is already helping: end it with “Help done” instead.")),
            ),
            (
                lambda r, w: r.assist == "open",
                _conflict(_("This request is already closed: there is nothing to cancel.")),
            ),
        ),
    ),
    "assist.finish": Move(
        (*_REQUESTERS, Role.ASSISTANT),
        _denied(_("Only the senior, the operator or local staff end the help.")),
        (
            (
                lambda r, w: w.role != Role.ASSISTANT or r.assist_helper_id == w.user_id,
                _denied(_("Only the senior, the operator or local staff end the help.")),
            ),
            (
                lambda r, w: r.assist != "open",
                _conflict(
                    _("No senior has accepted yet: no help is under way. Cancel it if solved.")
                ),
            ),
            (
                lambda r, w: r.assist == "accepted",
                _conflict(_("This request is already closed: no help is under way.")),
            ),
        ),
    ),
    "chat": Move(
        _PEOPLE,
        _denied(_("Only the people in the cockpit chat.")),
        (
            _OPEN_GUARD,
            (
                _approved_if_operator,
                _denied(
                    _(
                        "Local staff have not approved your join yet: the console opens "
                        "when they do."
                    )
                ),
            ),
        ),
    ),
}


def refusal(move: str, room: Room, who: Who) -> Refusal | None:
    """Why `who` may not make `move` in `room` now; None when they may."""
    row = MOVES[move]
    if who.role not in row.roles:
        return row.not_your_role
    for check, because in row.guards:
        if not check(room, who):
            return because if isinstance(because, Refusal) else because(room)
    return None


def require(move: str, room: Room, *, role: str, user_id: int | None) -> None:
    """Raise the move's refusal (PermissionDenied or Conflict), if any: what the services call
    under the session's row lock."""
    refused = refusal(move, room, Who(role, user_id))
    if refused is not None:
        raise refused.exception()


def require_any(move: str, room: Room, *, roles: list[str], user_id: int | None) -> str:
    """For a person who may be in the cockpit in several roles (a page, the API): the first of
    their roles the move is open to; the refusal for their first role otherwise."""
    first: Refusal | None = None
    for role in roles:
        refused = refusal(move, room, Who(role, user_id))
        if refused is None:
            return role
        first = first or refused
    raise (first or MOVES[move].not_your_role).exception()


@lru_cache(maxsize=4096)
def moves_for(room: Room, who: Who) -> tuple[str, ...]:
    """Every move open to `who` now, in the table's order."""
    return tuple(move for move in MOVES if refusal(move, room, who) is None)


@lru_cache(maxsize=4096)
def moves_json(room: Room, who: Who) -> str:
    """`moves_for`, serialised once per (room, who): spliced into envelopes by the relay."""
    return "[" + ",".join(f'"{move}"' for move in moves_for(room, who)) + "]"

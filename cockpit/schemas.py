"""The cockpit relay's wire protocol: every frame is an envelope `{"type", "seq", "payload"}`.

Frames from a client carry the client's own counter in `seq` (any integer, or null); the relay
quotes it back as `payload.ref` in the `error` or `ack` it causes. Frames from the relay are of two
kinds:
- session events, numbered per cockpit session (`seq` = 1, 2, 3, ... shared by every participant
  and every Daphne process): `state`, `command`, `ack`, `stop`, `control` (approval included),
  `chat`, `presence`, `session`, `stops` (every STOP so far, after a STOP or a reason given),
  `assist` (a request for help raised, escalated, taken or ended;
  sent by the assist services once their change commits). A client remembers the highest seq it
  has seen; after a gap or a reconnect it sends `resync` (or connects with `?since=<seq>`) and
  receives the missing events, or a `snapshot` when it is too far behind;
- replies to one socket, with `"seq": null`: `welcome`, `snapshot`, `error`, `pong`, `probe`
  (echo it at once). A `link` event tells everyone a person's link figures when they change
  noticeably.

`moves`: every frame that can change what a person may do carries, beside `type`, `seq` and
`payload`, the moves open to that socket's person now, as `cockpit.rules` decides them (the same
table the services enforce): `{"type": "control", "seq": 12, "payload": {...}, "moves":
["control.request", "chat"]}`. So do `welcome` and `snapshot`, and every `control`, `session`,
`assist` and `presence` event sent live (MOVES_EVENTS); a replayed event (`since`, `resync`) has
none, the `welcome` before it having said what is open now. The page offers exactly these moves.
The store builds an event's text once; each socket splices its person's list into it (cached
per session state and person), so the payload stays the same for everyone. The names:
`control.request`, `control.grant` (to whoever asked), `control.grant_to` (someone named),
`control.release`, `control.take_over`, `control.override` (take the scanner back), `stop`,
`command`, `confirm_contrast`, `approve`, `close`, `assist.request`, `assist.cancel`,
`assist.finish`, `chat`.

A `command` sent while the scanner's socket is not in the session is refused with an `error`
frame (code `scanner_offline`) and not published. The controller's `stop` command is a STOP.

Inbound frames, by type (who may send them is the relay's business, see `cockpit.consumers`):
- people: `ping`, `resync`, `chat`, `command`, `stop`, `confirm_contrast`, `control`, `approve`,
  `close`, `assist` (ask for a senior's help, call it off, or say the help is done), `echo` (the
  answer to the relay's `probe`: the link check, `cockpit.link`), `checklist` (local staff
  confirm the pre-scan checklist), `stop_reason` (why a STOP was pressed, after the fact), `end`
  (end an exam that was stopped or cut short);
- the scanner: `ping`, `state`, `ack`.

Every inbound frame is validated here: its size, nesting and numbers first (`core.frames`), then
the envelope and the payload of its type, whose every free-text field has a maximum length.
Anything else gets an `error` frame (codes: malformed, too_large, too_deep, unknown_type, invalid;
the relay adds rate_limited, with `retry_after`) and the socket stays open.
"""

import re
from typing import Annotated, Any, Literal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator
from pydantic_core import ErrorDetails

from core.errors import FrameError
from core.frames import MAX_FRAME_BYTES, frame_loads

__all__ = ["MAX_FRAME_BYTES", "FrameError", "parse_frame"]

# Session events that carry `moves` when sent live.
MOVES_EVENTS = frozenset({"control", "session", "assist", "presence"})

MAX_CHAT_LENGTH = 1000
MAX_ASSIST_NOTE_LENGTH = 500
MAX_REASON_LENGTH = 500


class _Strict(BaseModel):
    # Numbers arrive finite from `frame_loads`; a model built another way refuses them too.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Envelope(_Strict):
    type: Annotated[str, Field(min_length=1, max_length=32)]
    seq: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


# --- What people send -------------------------------------------------------------------------


class Empty(_Strict):
    pass


class Resync(_Strict):
    since: Annotated[int, Field(ge=0)]


class Chat(_Strict):
    text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_LENGTH)]


CommandName = Literal[
    "start",  # start (or restart) the current sequence
    "pause",
    "resume",
    "abort",  # abort the current sequence
    "next_sequence",
    "adjust",  # args: {"parameter": ..., "value": ...}
    "move_table",  # args: {"position_mm": ...}
    "request_contrast",
    "stop",  # the controller's own stop; local staff use the `stop` frame
]

Parameter = Literal["tr_ms", "te_ms", "flip_angle_deg", "slice_thickness_mm", "slices"]


class AdjustArgs(_Strict):
    parameter: Parameter
    value: float


class MoveTableArgs(_Strict):
    position_mm: float


class Command(_Strict):
    name: CommandName
    args: dict[str, Any] = Field(default_factory=dict)

    def checked_args(self) -> dict[str, Any]:
        """The arguments, checked for the commands that take some (empty for the others)."""
        if self.name == "adjust":
            return AdjustArgs.model_validate(self.args).model_dump()
        if self.name == "move_table":
            return MoveTableArgs.model_validate(self.args).model_dump()
        if self.args:
            raise ValueError(_("'%(command)s' takes no arguments.") % {"command": self.name})
        return {}


ControlAction = Literal[
    "request",  # ask for control
    "grant",  # the holder (or local staff) hands control to `to` (default: whoever asked)
    "release",  # the holder gives control up
    "take_over",  # the booked operator takes control (refused under local override)
    "override",  # local staff take the scanner back
]


class Control(_Strict):
    action: ControlAction
    to: int | None = None  # a user id, for `grant`


AssistAction = Literal[
    "request",  # ask for help: `exam_family` (a code) and a short `note` about the difficulty
    "cancel",  # call off the open request (solved meanwhile)
    "finish",  # the help under way is done
]


class StopReason(_Strict):
    """Why a STOP was pressed, said after the fact (local staff, or whoever pressed it)."""

    stop: Annotated[int, Field(ge=1)]  # the STOP's id (session.stops[].id)
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON_LENGTH)]


class Assist(_Strict):
    action: AssistAction
    exam_family: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    note: Annotated[str, Field(max_length=MAX_ASSIST_NOTE_LENGTH)] = ""

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> "Assist":
        if self.action == "request":
            if self.exam_family is None:
                raise ValueError(_("a request for help names its 'exam_family'."))
        elif self.exam_family is not None or self.note:
            raise ValueError(
                _("'%(action)s' takes no 'exam_family' or 'note'.") % {"action": self.action}
            )
        return self


class Echo(_Strict):
    """A person's answer to the relay's `probe` (the link check): its id, sent back at once."""

    probe: Annotated[int, Field(ge=0)]


class Checklist(_Strict):
    """Local staff confirm the pre-scan checklist: who stands beside the patient (a user id of
    the scanning hospital's local staff; null: the person confirming), and that the patient was
    told the exam is run remotely."""

    beside_patient: Annotated[int, Field(ge=1)] | None = None
    patient_informed: StrictBool  # true or false, not "yes" (nobody ticks a box by a string)


# --- What the scanner sends -------------------------------------------------------------------


class State(_Strict):
    """The console state: `full` with the whole `state`, or a delta whose `changes` replace
    top-level keys of the last full state."""

    full: bool
    state: dict[str, Any] | None = None
    changes: dict[str, Any] | None = None
    sent_at: float | None = None  # the agent's clock (seconds), for latency measurements


class Ack(_Strict):
    ref: int  # the seq of the `command` event it answers
    ok: bool
    reason: Annotated[str, Field(max_length=MAX_REASON_LENGTH)] = ""


PEOPLE_PAYLOADS: dict[str, type[_Strict]] = {
    "ping": Empty,
    "resync": Resync,
    "chat": Chat,
    "command": Command,
    "stop": Empty,
    "confirm_contrast": Empty,
    "control": Control,
    "approve": Empty,
    "close": Empty,
    "assist": Assist,
    "echo": Echo,
    "checklist": Checklist,
    "stop_reason": StopReason,
    "end": Empty,  # end an exam that was stopped or cut short (operator, local staff)
}

SCANNER_PAYLOADS: dict[str, type[_Strict]] = {
    "ping": Empty,
    "resync": Resync,  # back after a lost connection: the STOPs after `since`
    "state": State,
    "ack": Ack,
}


def parse_frame(raw: str | None, *, allowed: dict[str, type[_Strict]]) -> tuple[Envelope, _Strict]:
    """The envelope and its typed payload, or a FrameError naming what is wrong (the size,
    nesting and numbers of the text are checked first, by `core.frames.frame_loads`), in the
    socket's language."""
    try:
        envelope = Envelope.model_validate(frame_loads(raw))
    except ValidationError as error:
        raise FrameError(
            "malformed",
            _("Frames are JSON envelopes: %(problem)s") % {"problem": validation_message(error)},
        ) from None
    if envelope.type not in allowed:
        raise FrameError(
            "unknown_type",
            _("'%(type)s' is not a frame this socket may send; expected one of: %(types)s.")
            % {"type": envelope.type, "types": ", ".join(sorted(allowed))},
            ref=envelope.seq,
        )
    try:
        payload = allowed[envelope.type].model_validate(envelope.payload)
        if isinstance(payload, Command):
            payload.checked_args()
    except ValidationError as error:
        raise FrameError(
            "invalid",
            pgettext("a refused frame: its type, then what is wrong", "%(frame)s: %(problem)s")
            % {"frame": envelope.type, "problem": validation_message(error)},
            ref=envelope.seq,
        ) from None
    except ValueError as error:  # our own checks, already in the socket's language
        raise FrameError("invalid", str(error), ref=envelope.seq) from None
    return envelope, payload


def validation_message(error: ValidationError) -> str:
    """The first problem pydantic found, as one of WeScan's own sentences in the active
    language (pydantic's are English), naming the field by its protocol key and keeping the
    limit it broke. One place for every frame schema."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    if first["type"] == "value_error":  # our own validators' words, already translated
        return str(first.get("ctx", {}).get("error") or first["msg"].removeprefix("Value error, "))
    if not field:
        return _("this frame is not a JSON object.")
    return _field_problem(first, field)


def _field_problem(first: ErrorDetails, field: str) -> str:
    kind = first["type"]
    ctx = first.get("ctx", {})
    values: dict[str, Any] = {"field": field}
    if kind == "missing":
        return _("'%(field)s' is required.") % values
    if kind == "extra_forbidden":
        return _("'%(field)s' is not expected here.") % values
    if kind in ("string_too_short", "too_short"):
        limit = int(ctx.get("min_length", 1))
        return ngettext(
            "'%(field)s' must have at least %(limit)s character.",
            "'%(field)s' must have at least %(limit)s characters.",
            limit,
        ) % {**values, "limit": limit}
    if kind in ("string_too_long", "too_long"):
        limit = int(ctx.get("max_length", 0))
        return ngettext(
            "'%(field)s' must have at most %(limit)s character.",
            "'%(field)s' must have at most %(limit)s characters.",
            limit,
        ) % {**values, "limit": limit}
    if kind == "string_type":
        return _("'%(field)s' must be text.") % values
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return _("'%(field)s' must be a whole number.") % values
    if kind in ("float_parsing", "float_type", "finite_number"):
        return _("'%(field)s' must be a number.") % values
    if kind in ("bool_type", "bool_parsing"):
        return _("'%(field)s' must be true or false.") % values
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("'%(field)s' must be a JSON object.") % values
    if kind == "json_invalid":
        return _("'%(field)s' is not valid JSON.") % values
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()), "")  # written the language's way ("0,5" in nl and fr)
        shown = number_format(bound) if isinstance(bound, int | float) else str(bound)
        sentence = {
            "greater_than": _("'%(field)s' must be greater than %(limit)s."),
            "greater_than_equal": _("'%(field)s' must be at least %(limit)s."),
            "less_than": _("'%(field)s' must be less than %(limit)s."),
            "less_than_equal": _("'%(field)s' must be at most %(limit)s."),
        }[kind]
        return sentence % {**values, "limit": shown}
    if kind == "literal_error":
        # pydantic's `expected` reads "'a', 'b' or 'c'": keep the values, not its English "or".
        expected = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        return _("'%(field)s' must be one of: %(expected)s.") % {
            **values,
            "expected": ", ".join(expected),
        }
    return _("'%(field)s' is not valid.") % values


def frame(frame_type: str, seq: int | None, payload: dict[str, Any]) -> dict[str, Any]:
    """An outbound envelope."""
    return {"type": frame_type, "seq": seq, "payload": payload}

"""Reading a websocket frame a client sent, the same way on every socket.

A frame is checked in the order that keeps the work bounded by what the socket allows, before
any of it is believed: its size (a cap per socket), then how deep it nests (one linear pass over
its quotes and brackets, so that the JSON parser never recurses past MAX_FRAME_DEPTH), then the
JSON itself, in which every number must be one a browser can read back: no NaN or infinities
(`1e999` parses to an infinity that no JSON column, and no `JSON.parse`, takes) and no integer
beyond JavaScript's safe range (each is length-checked before it is converted: `int()` of
thousands of digits is slow, and past 4300 digits raises); a text with no number long enough to
be refused skips those per-number checks (orjson reads it). Each refusal is a FrameError: the
socket answers it (like any DomainError, `error_payload`) with an `error` frame and stays open.
"""

import contextlib
import json
import math
import re
from itertools import accumulate
from typing import Any

import orjson
from django.utils.translation import gettext as _

from core.errors import DomainError, FrameError, RateLimited

MAX_FRAME_BYTES = 64 * 1024
MAX_FRAME_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1

# A string, to its closing quote or, unterminated, to the end of the text (so that a match never
# fails at a quote and the search never goes back over the text: linear whatever the frame holds).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+\\?(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def frame_loads(
    raw: str | None, *, max_bytes: int = MAX_FRAME_BYTES, max_depth: int = MAX_FRAME_DEPTH
) -> Any:
    """The JSON value of a text frame, or a FrameError saying what is wrong with it."""
    if raw is None:
        raise FrameError("malformed", _("Frames are JSON text, not binary."))
    if len(raw) > max_bytes or (not raw.isascii() and len(raw.encode()) > max_bytes):
        raise FrameError(
            "too_large", _("Frames are at most %(bytes)s bytes.") % {"bytes": max_bytes}
        )
    if nests_deeper_than(raw, max_depth):
        raise FrameError(
            "too_deep", _("Frames nest at most %(levels)s levels deep.") % {"levels": max_depth}
        )
    if _NUMBER_TO_CHECK.search(raw) is None:
        # Most frames hold only short numbers: orjson reads them as the checking decoder would,
        # without a call into Python for each number (a text it refuses, such as one holding
        # a lone surrogate, is read by the standard library below, and then refused by
        # `is_text`).
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(raw)
        decoder = _PLAIN_DECODER
    else:
        decoder = _DECODER
    try:
        value = decoder.decode(raw)
    except json.JSONDecodeError as error:  # the parser's own detail is English: say it ourselves
        raise FrameError(
            "malformed",
            _(
                "Frames are JSON envelopes: this text is not JSON "
                "(line %(line)s, column %(column)s)."
            )
            % {"line": error.lineno, "column": error.colno},
        ) from None
    except ValueError as error:  # a number refused above, in the socket's language
        raise FrameError(
            "malformed", _("Frames are JSON envelopes: %(problem)s.") % {"problem": error}
        ) from None
    if _SURROGATE_ESCAPE.search(raw) and not is_text(value):
        raise FrameError(
            "malformed",
            _(
                "Frames are JSON envelopes: a \\u escape names half of a character (a lone "
                "surrogate), which is not text."
            ),
        )
    return value


def is_text(value: Any) -> bool:
    """Whether every string of a value read from JSON (keys included) is text: a `\\ud800`
    escape without its other half reads as a lone surrogate, which no UTF-8 holds (the store,
    the database and every socket would fail on it later)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_count(text: str) -> int | None:
    """A count or seq read from a query string: 0 to MAX_SAFE_INTEGER in plain ASCII digits;
    None for anything else (its length is checked before it is converted)."""
    if not (0 < len(text) <= 16 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_SAFE_INTEGER else None


def error_payload(error: DomainError, *, ref: int | None = None) -> dict[str, Any]:
    """The payload of the `error` frame that answers a DomainError on any socket: its code and
    message, `ref` (the client's seq of the frame it answers), and for a rate-limited client
    `retry_after`, the seconds until its next frame is taken."""
    if isinstance(error, FrameError) and error.ref is not None:
        ref = error.ref
    payload: dict[str, Any] = {"code": error.code, "message": str(error.message), "ref": ref}
    if isinstance(error, RateLimited):
        payload["retry_after"] = error.retry_after
    return payload


def nests_deeper_than(raw: str, limit: int) -> bool:
    """Whether the arrays and objects of `raw` nest deeper than `limit` (brackets inside strings
    do not count), in linear time: two regular-expression passes, then a running sum in C."""
    if raw.count("[") + raw.count("{") <= limit:
        return False  # too few brackets to nest that deep: the usual frame costs two counts
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", raw))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def refuse_constant(name: str) -> Any:
    raise ValueError(_("%(name)s is not a number JSON allows") % {"name": name})


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(_("%(number)s is too large a number") % {"number": text})
    return value


def _safe_int(text: str) -> int:
    # The length first: converting thousands of digits is the costly part.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise ValueError(
            _("integers are at most %(largest)s in size") % {"largest": MAX_SAFE_INTEGER}
        )
    return value


# Made once: `json.loads` with these hooks built a decoder for every frame.
_DECODER = json.JSONDecoder(
    parse_constant=refuse_constant, parse_float=finite_float, parse_int=_safe_int
)
_PLAIN_DECODER = json.JSONDecoder(parse_constant=refuse_constant)
# Where a number may be one to refuse: 16 digits in a row (an integer past MAX_SAFE_INTEGER has
# at least 16; a float that overflows without an exponent, over 300) or an exponent of three
# digits (1e999). A text with neither (anywhere, strings included) has no such number, and
# orjson reads it (the plain decoder when orjson refuses it); a text with either goes through
# the checks. One pass, linear.
_NUMBER_TO_CHECK = re.compile(r"[0-9]{16}|[eE][-+]?[0-9]{3}")
# A \u escape of a surrogate (d800-dfff): the text may hold half of a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

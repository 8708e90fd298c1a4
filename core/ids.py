"""What an object's id looks like wherever a user can type one: a whole number from 1 to
2^63 - 1 (a BigAutoField). Anything else names nothing, and must not reach the database, where an
integer beyond 64 bits is an OverflowError (SQLite) rather than "no such row".

- In a path (pages and API alike), the `id` converter, registered once by `CoreConfig.ready`:
  `path("scanners/<id:scanner_id>/", ...)`. An id out of range does not match, so the address is
  a 404 like any unknown one.
- In a query or body parameter, `core.api.IdField` and `core.api.query_id`: a 400 that names the
  parameter.
- In a service or `access_*` helper that is handed an id from elsewhere, `as_id`: a NotFound.
"""

from typing import Any

from django.utils.translation import gettext as _

from core.errors import NotFound

MAX_ID = 2**63 - 1
# How the OpenAPI schema describes one (path converter override, query parameters).
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}


def is_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not is_id(number):
            raise ValueError(value)  # the pattern does not match: 404 like any unknown address
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def whole_number(text: str, *, digits: int = 19) -> int | None:
    """`text` as a whole number of at most `digits` ASCII digits, else None. The length is
    checked before `int()` reads the text: past 4,300 digits int() raises (a 500 where nobody
    caught it), and a long number is costly to convert before that."""
    if not text or len(text) > digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def as_id(value: Any, *, message: str | None = None) -> int:
    """`value` as an id, or a NotFound saying `message`."""
    message = message or _("No such object.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(message) from None
    if not is_id(number):
        raise NotFound(message)
    return number

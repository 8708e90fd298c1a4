"""The Content Security Policy: the one per-request addition to the policy in settings, and the
reading of the violation reports browsers send back.

The policy itself is `CONTENT_SECURITY_POLICY` in `wescan.settings.base`: scripts, styles,
fonts and connections from this site only, no inline code at all (no nonce is needed: every
script and style is a file under /static/), and no framing. This module adds what settings cannot
know: the websocket origin of the host the request came to.

A violation report is untrusted input from anyone: it is bounded (`CSP_REPORT_MAX_BYTES`) before
it is parsed, each field is cut to a length and stripped of control characters, and each
violation is one log line on the `wescan.csp` logger.
"""

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase

from core.errors import ValidationFailed

logger = logging.getLogger("wescan.csp")

# The media types violation reports arrive in: `report-uri` (CSP level 2; some browsers say
# plain JSON), and the Reporting API's `report-to`.
REPORT_URI_TYPES = frozenset({"application/csp-report", "application/json"})
REPORTING_API_TYPE = "application/reports+json"
REPORT_TYPES = REPORT_URI_TYPES | {REPORTING_API_TYPE}
# The most violations read from one body (a Reporting API batch is a list).
MAX_VIOLATIONS_PER_REPORT = 50
FIELD_MAX_LENGTH = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Keywords a browser puts in blocked-uri instead of an address.
_BLOCKED_KEYWORDS = frozenset(
    {
        "inline",
        "eval",
        "wasm-eval",
        "data",
        "blob",
        "self",
        "trusted-types-policy",
        "trusted-types-sink",
    }
)


class SiteCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's own websocket origin added to `connect-src`.

    CSP level 3 lets 'self' match ws:/wss: on the page's own host and port (Chromium, Firefox
    and Safari do), but browsers that predate that rule block the cockpit's and the
    notifications' sockets under 'self' alone. The origin named is the one this request came to
    (its Host, already checked against ALLOWED_HOSTS) in the page's own security: `wss:` for an
    https page, never another host.
    """

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        origin = websocket_origin(request)
        if origin is not None:
            update = dict(parts.update or {})
            update["connect-src"] = [*_as_list(update.get("connect-src")), origin]
            parts.update = update
        return parts


def websocket_origin(request: HttpRequest) -> str | None:
    """`wss://host[:port]` (or `ws://` for a plain http page) of the host this request came to;
    None when the Host is not one of ours (that request is answered 400 anyway)."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


# --- Violation reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """What one violation report says, as far as it helps find the page and the code at fault:
    the page's path, the directive, what was blocked and the file and line that tried. No
    query strings (they may carry tokens)."""

    document: str
    directive: str
    blocked: str
    source: str
    disposition: str

    def log_line(self) -> str:
        fields = " ".join(f"{name}={json.dumps(value)}" for name, value in asdict(self).items())
        return f"csp-violation {fields}"


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def violations_parse(body: bytes, *, content_type: str) -> list[Violation]:
    """The violations in a report body of `content_type` (one of REPORT_TYPES).

    Raises ValidationFailed for a body that is not JSON or not shaped like a report.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValidationFailed(f"The report is not valid JSON: {_clean(str(error))}.") from error
    kind = media_type(content_type)
    if kind == REPORTING_API_TYPE:
        bodies = list(_reporting_api_bodies(data))
    elif isinstance(data, Mapping) and isinstance(data.get("csp-report"), Mapping):
        bodies = [_from_report_uri(data["csp-report"])]
    else:
        raise ValidationFailed('A CSP report is a JSON object with a "csp-report" object in it.')
    return [_violation(fields) for fields in bodies[:MAX_VIOLATIONS_PER_REPORT]]


def violations_log(violations: list[Violation]) -> None:
    for violation in violations:
        logger.warning(violation.log_line(), extra={"csp_violation": asdict(violation)})


def _reporting_api_bodies(data: Any) -> Iterator[dict[str, Any]]:
    """The Reporting API's batch: a list of `{"type": ..., "url": ..., "body": {...}}`, of which
    only the CSP violations are read (a browser may send other kinds to the same endpoint)."""
    if not isinstance(data, list):
        raise ValidationFailed("A Reporting API body is a JSON list of reports.")
    for report in data:
        if not isinstance(report, Mapping) or not isinstance(report.get("body"), Mapping):
            raise ValidationFailed('Each report in the list is an object with a "body" object.')
        if report.get("type") != "csp-violation":
            continue
        body = report["body"]
        yield {
            "document": body.get("documentURL", report.get("url")),
            "directive": body.get("effectiveDirective"),
            "blocked": body.get("blockedURL"),
            "source": body.get("sourceFile"),
            "line": body.get("lineNumber"),
            "column": body.get("columnNumber"),
            "disposition": body.get("disposition"),
        }


def _from_report_uri(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "document": report.get("document-uri"),
        "directive": report.get("effective-directive") or report.get("violated-directive"),
        "blocked": report.get("blocked-uri"),
        "source": report.get("source-file"),
        "line": report.get("line-number"),
        "column": report.get("column-number"),
        "disposition": report.get("disposition"),
    }


def _violation(fields: Mapping[str, Any]) -> Violation:
    source = _address(fields.get("source"))
    line = _number(fields.get("line"))
    if source and line is not None:
        column = _number(fields.get("column"))
        source = f"{source}:{line}" + (f":{column}" if column is not None else "")
    return Violation(
        document=_path(fields.get("document")),
        directive=_clean(fields.get("directive")),
        blocked=_address(fields.get("blocked")),
        source=source,
        disposition=_clean(fields.get("disposition")) or "enforce",
    )


def _address(value: object) -> str:
    """An address as the log keeps it: a keyword (`inline`, `eval`) as it is; a URL without
    its query and fragment (the path for this site's own pages, origin and path elsewhere)."""
    text = _clean(value)
    if not text or text in _BLOCKED_KEYWORDS:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("?", 1)[0].split("#", 1)[0]
    if parts.scheme in {"data", "blob"}:
        return parts.scheme
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}{parts.path}"
    return parts.path


def _path(value: object) -> str:
    """The page's path: the document is always one of this site's pages."""
    text = _clean(value)
    try:
        return urlsplit(text).path
    except ValueError:
        return ""


def _number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 <= value < 10**9:
        return None
    return int(value)


def _clean(value: object) -> str:
    """A field as one safe piece of a log line: a string, cut to length, no control
    characters (a newline in a report must not forge a second log line)."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value[: FIELD_MAX_LENGTH * 2])[:FIELD_MAX_LENGTH]

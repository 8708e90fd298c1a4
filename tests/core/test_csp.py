"""The Content Security Policy on every response, and the endpoint that browsers report
violations to: what a browser is told, what the log keeps, and what a stranger's junk gets
(a 4xx saying why, never a 500). The pages themselves are held to the policy in real Chromium by
tests/browser/test_csp.py; here, also every template and script file is read for inline code,
including the branches the demo world does not reach."""

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from core.views import report_buckets

pytestmark = pytest.mark.django_db

REPORT_URI = "/csp-report/"
# What Chromium sends to a report-uri.
CHROMIUM_REPORT = {
    "csp-report": {
        "document-uri": "http://127.0.0.1:8000/me/availability/?week=2026-12-07",
        "referrer": "",
        "violated-directive": "style-src-attr",
        "effective-directive": "style-src-attr",
        "original-policy": "default-src 'self'; report-uri /csp-report/",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "column-number": 7,
        "source-file": "http://127.0.0.1:8000/static/js/week.js?v=1",
        "status-code": 200,
        "script-sample": "",
    }
}
# What the Reporting API (report-to) sends: a batch, in which other kinds of report may come.
REPORTING_API_BATCH = [
    {
        "type": "csp-violation",
        "age": 10,
        "url": "https://wescan.example.org/cockpit/4/",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://wescan.example.org/cockpit/4/",
            "referrer": "",
            "blockedURL": "wss://elsewhere.example.com/socket?token=secret",
            "effectiveDirective": "connect-src",
            "originalPolicy": "connect-src 'self'",
            "sourceFile": "https://wescan.example.org/static/js/cockpit.js",
            "sample": "",
            "disposition": "enforce",
            "statusCode": 200,
            "lineNumber": 156,
            "columnNumber": 14,
        },
    },
    {"type": "deprecation", "age": 3, "url": "https://wescan.example.org/", "body": {}},
]


@pytest.fixture(autouse=True)
def _fresh_buckets() -> None:
    report_buckets.reset()


def _report(body: bytes | str, content_type: str = "application/csp-report", **extra: Any) -> Any:
    data = body.encode() if isinstance(body, str) else body
    return Client().post(REPORT_URI, data=data, content_type=content_type, **extra)


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wescan.csp"]


# --- The policy ----------------------------------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_every_page_carries_the_strict_policy() -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", "ws://testserver"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [REPORT_URI],
    }
    # Nothing inline is let through, so no page needs (or gets) a nonce.
    header = response["Content-Security-Policy"]
    assert "unsafe" not in header
    assert "nonce-" not in header
    assert reverse("csp_report") == REPORT_URI


def test_the_websocket_source_is_the_host_asked_in_the_page_s_own_security() -> None:
    secure = Client().get("/accounts/login/", secure=True, HTTP_HOST="localhost:8443")
    assert _directives(secure["Content-Security-Policy"])["connect-src"] == [
        "'self'",
        "wss://localhost:8443",
    ]


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_the_production_proxy_an_https_page_gets_wss_only() -> None:
    response = Client().get(
        "/accounts/login/", HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https"
    )
    connect = _directives(response["Content-Security-Policy"])["connect-src"]
    assert connect == ["'self'", "wss://localhost"]


def test_a_host_that_is_not_ours_gets_a_400_and_no_websocket_source() -> None:
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "evil" not in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-page/",
        "/api/v1/no-such-thing/",
        "/api/docs/",
        "/api/docs/?part=postings",
        REPORT_URI,
    ],
)
def test_error_pages_api_answers_and_the_docs_carry_it_too(path: str) -> None:
    header = Client().get(path)["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in header
    assert "script-src 'self';" in header + ";"


def test_the_api_docs_are_a_page_without_code_of_their_own() -> None:
    for path in ["/api/docs/", "/api/docs/?part=postings", "/api/docs/?part=schemas"]:
        page = Client().get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script"
        assert "<style" not in page
        assert " style=" not in page


def test_the_browsable_api_has_no_inline_code(world: Any) -> None:
    client = Client()
    client.force_login(world.manager)
    # A list (with its POST form) and a detail with extra actions (the menu DRF styles inline).
    for path in [
        "/api/v1/postings/",
        "/api/v1/bookings/",
        f"/api/v1/hospitals/{world.hospital.pk}/",
    ]:
        page = client.get(path, HTTP_ACCEPT="text/html").content.decode()
        assert "<html" in page
        assert_no_inline_code(page, path)


# --- Templates and scripts read for inline code ----------------------------------------------

ROOT = Path(settings.BASE_DIR)
# E-mails are read by mail programs, not under the site's policy (their styles must be inline).
EMAIL_TEMPLATES = re.compile(r"/email/")
INLINE_HTML = {
    "an inline <script>": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
    ),
    "a <style> element": re.compile(r"<style[\s>]", re.I),
    "a style attribute": re.compile(r"\sstyle\s*=", re.I),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "a javascript: address": re.compile(r"(?:href|src|action)\s*=\s*[\"']\s*javascript:", re.I),
}
INLINE_JS = {
    "a style attribute set": re.compile(r"setAttribute\(\s*[\"']style[\"']"),
    "HTML with a style attribute": re.compile(r"style\s*=\s*\\?[\"']"),
    "an inline handler set": re.compile(r"setAttribute\(\s*[\"']on[a-z]+[\"']"),
    "code from a string": re.compile(r"\beval\(|new Function\(|set(?:Timeout|Interval)\(\s*[\"']"),
}


def assert_no_inline_code(html: str, where: str) -> None:
    for what, pattern in INLINE_HTML.items():
        found = pattern.search(html)
        assert found is None, (
            f"{where}: {what}: {html[max(0, found.start() - 60) : found.end() + 60]}"
        )


def _templates() -> list[Path]:
    return [
        path
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if not EMAIL_TEMPLATES.search(path.as_posix())
    ]


def test_no_template_holds_inline_code() -> None:
    templates = _templates()
    assert len(templates) > 40
    for path in templates:
        text = path.read_text(encoding="utf-8")
        # A comment may name what it avoids; a template tag's arguments are not HTML.
        text = re.sub(r"{% comment %}.*?{% endcomment %}|{#.*?#}", "", text, flags=re.S)
        text = re.sub(r"{%.*?%}", "", text)
        assert_no_inline_code(text, str(path.relative_to(ROOT)))


def test_no_script_writes_inline_styles_handlers_or_code_from_strings() -> None:
    scripts = sorted((ROOT / "static" / "js").rglob("*.js"))
    assert scripts
    for path in scripts:
        # Comments may name what the code avoids.
        text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.M)
        for what, pattern in INLINE_JS.items():
            found = pattern.search(text)
            assert found is None, f"{path.relative_to(ROOT)}: {what}: {found and found.group()}"


# --- The report endpoint -----------------------------------------------------------------------


def test_a_report_is_logged_as_one_line_and_answered_204(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wescan.csp"):
        response = _report(json.dumps(CHROMIUM_REPORT))
    assert response.status_code == 204
    assert response.content == b""
    assert _logged(caplog) == [
        'csp-violation document="/me/availability/" directive="style-src-attr" '
        'blocked="inline" source="http://127.0.0.1:8000/static/js/week.js:12:7" '
        'disposition="enforce"'
    ]
    (record,) = [r for r in caplog.records if r.name == "wescan.csp"]
    assert record.levelno == logging.WARNING
    assert record.csp_violation["directive"] == "style-src-attr"  # type: ignore[attr-defined]


def test_a_reporting_api_batch_logs_its_csp_violations_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="wescan.csp"):
        response = _report(json.dumps(REPORTING_API_BATCH), "application/reports+json")
    assert response.status_code == 204
    # The query string (a token, here) is not kept.
    assert _logged(caplog) == [
        'csp-violation document="/cockpit/4/" directive="connect-src" '
        'blocked="wss://elsewhere.example.com/socket" '
        'source="https://wescan.example.org/static/js/cockpit.js:156:14" disposition="enforce"'
    ]


def test_control_characters_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    forged = {
        "csp-report": {
            "document-uri": 'https://wescan.example.org/x\r\ncsp-violation document="/admin/"',
            "effective-directive": "script-src\u2028forged",
            "blocked-uri": "https://cdn.example.com/a.js\x1b[31m" + "a" * 5000,
        }
    }
    with caplog.at_level(logging.INFO, logger="wescan.csp"):
        assert _report(json.dumps(forged)).status_code == 204
    (line,) = _logged(caplog)
    assert "\n" not in line
    assert "\r" not in line
    assert "\u2028" not in line
    assert "\x1b" not in line
    assert 'directive="script-srcforged"' in line
    assert len(line) < 1000


def test_an_oversized_report_is_refused_413_before_it_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    padding = "x" * settings.CSP_REPORT_MAX_BYTES
    big = json.dumps({"csp-report": {**CHROMIUM_REPORT["csp-report"], "script-sample": padding}})
    with caplog.at_level(logging.INFO, logger="wescan.csp"):
        response = _report(big)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "A report is at most 16 KiB.",
        "fields": {},
    }
    assert _logged(caplog) == []


def test_a_body_longer_than_it_says_is_still_cut_at_the_limit() -> None:
    big = json.dumps({"csp-report": {"script-sample": "x" * settings.CSP_REPORT_MAX_BYTES}})
    response = _report(big, CONTENT_LENGTH="100")
    assert response.status_code in {400, 413}  # read no further than the limit, never parsed whole


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("{not json", "application/csp-report", "The report is not valid JSON"),
        ("\xff\xfe", "application/csp-report", "The report is not valid JSON"),
        ("[1, 2]", "application/csp-report", 'A CSP report is a JSON object with a "csp-report"'),
        ('{"csp-report": "inline"}', "application/csp-report", 'with a "csp-report" object'),
        ('{"csp-report": {}}', "application/reports+json", "A Reporting API body is a JSON list"),
        ("[1]", "application/reports+json", 'Each report in the list is an object with a "body"'),
        ("[" * 5000 + "]" * 5000, "application/csp-report", "The report is not valid JSON"),
    ],
)
def test_a_malformed_report_is_a_400_that_says_why(
    body: str, content_type: str, message: str
) -> None:
    response = _report(body.encode("latin-1") if body == "\xff\xfe" else body, content_type)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert message in error["message"]


def test_a_report_of_another_media_type_is_a_415() -> None:
    response = _report(json.dumps(CHROMIUM_REPORT), "text/plain")
    assert response.status_code == 415
    assert "application/csp-report" in response.json()["error"]["message"]


def test_the_endpoint_takes_posts_only() -> None:
    assert Client().get(REPORT_URI).status_code == 405


def test_reports_are_taken_without_a_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        REPORT_URI, data=json.dumps(CHROMIUM_REPORT), content_type="application/csp-report"
    )
    assert response.status_code == 204


@override_settings(CSP_REPORTS_PER_ADDRESS={"per_second": 0.5, "burst": 3})
def test_one_address_flooding_reports_is_held_back(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps(CHROMIUM_REPORT)
    with caplog.at_level(logging.INFO, logger="wescan.csp"):
        answers = [_report(body, REMOTE_ADDR="198.51.100.7").status_code for _ in range(5)]
        other = _report(body, REMOTE_ADDR="198.51.100.8").status_code
    assert answers == [204, 204, 204, 429, 429]
    assert other == 204
    assert len(_logged(caplog)) == 4
    refused = _report(body, REMOTE_ADDR="198.51.100.7")
    assert refused["Retry-After"] == "2"
    assert refused.json()["error"]["code"] == "rate_limited"

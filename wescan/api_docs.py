"""The API's reference page (/api/docs/): drf-spectacular's schema drawn by the server.

Swagger UI drew the schema in the browser, in English only, with controls nested in controls
and colours too faint to read. This page is plain HTML from the same schema: a contents list by
resource, each operation with its method, path, description, parameters, request body,
responses, how it authenticates and a curl example, then the schemas the bodies refer to. The
page's own words are translated in the template, and so is its table of the errors most
operations share (`core.schema.ERRORS`, the page's text as much as the schema's); the schema's
other descriptions stay the English the code writes, marked so (`lang="en"`). The schema is
generated once per process (the URLconf and the serializers do not change while it runs), under
English, whatever the first visitor speaks.
"""

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from drf_spectacular.generators import SchemaGenerator

from accounts.tokens import SECRET_PREFIX
from core.schema import ERRORS, error_description

METHODS = ("get", "post", "put", "patch", "delete")
API_PREFIX = "/api/v1/"
SECURITY_SCHEMES = {"tokenAuth": "token", "cookieAuth": "session"}
# Example values of a request body's required fields, by type (and format).
EXAMPLES: dict[str, object] = {
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
    "date-time": "2026-03-02T08:00:00Z",
    "date": "2026-03-02",
    "time": "08:00",
    "email": "name@example.org",
}
# An error answer given in the same words by this many operations is described once.
SHARED_ERROR_MIN = 5
TOKEN_EXAMPLE = f"{SECRET_PREFIX}…"
_CODE = re.compile(r"`([^`]+)`")


def text_html(text: str) -> SafeString:
    """The schema's Markdown-ish text as HTML: paragraphs, `*` lists and `code`, all else
    escaped."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith("* ") for line in lines):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append(f"<p>{_inline(' '.join(lines))}</p>")
    return mark_safe("".join(blocks))  # noqa: S308 — every piece escaped by _inline


def _inline(text: str) -> str:
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text)))


@dataclass
class Field:
    name: str
    type: str
    ref: str | None
    required: bool
    description: SafeString
    values: list[str]


@dataclass
class Parameter:
    name: str
    location: str
    type: str
    required: bool
    description: SafeString
    values: list[str]


@dataclass
class Response:
    status: str
    description: SafeString
    media_type: str
    type: str
    ref: str | None


@dataclass
class Operation:
    id: str
    group: str
    method: str
    path: str
    description: SafeString
    parameters: list[Parameter]
    body_type: str
    body_ref: str | None
    body_fields: list[Field]
    responses: list[Response]
    # The shared errors this operation may answer (`Reference.errors`), by status.
    errors: list[str]
    token: bool
    session: bool
    curl_tail: str


@dataclass
class Group:
    name: str
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Schema:
    name: str
    description: SafeString
    fields: list[Field]
    values: list[str]


@dataclass
class Reference:
    title: str
    version: str
    description: SafeString
    groups: list[Group]
    schemas: list[Schema]
    # The answers most operations share (401, 403, …): described once, on the first page.
    errors: list[Response]

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


@dataclass
class SharedError:
    """A row of the first page's errors table, as a reader of `lang` (None: the page's own
    language) reads it."""

    status: str
    description: SafeString
    lang: str | None


def shared_errors(docs: Reference) -> list[SharedError]:
    """The errors most operations share, in the active language: the schema's own words for a
    status (`core.schema.ERRORS`) are translated; words a view wrote itself stay English, said
    so."""
    shown = []
    for r in docs.errors:
        status = int(r.status) if r.status.isdigit() else 0
        if status in ERRORS and r.description == text_html(error_description(status)):
            text = text_html(error_description(status, translated=True))
            shown.append(SharedError(r.status, text, None))
        else:
            shown.append(SharedError(r.status, r.description, "en"))
    return shown


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def describe(schema: dict[str, Any]) -> tuple[str, str | None]:
    """A field's type as the page writes it, and the schema it refers to (for a link)."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return name, name
    for combined in ("allOf", "oneOf", "anyOf"):
        options = [o for o in schema.get(combined, []) if o.get("type") != "null"]
        if options:
            label, ref = describe(options[0])
            return label, ref
    kind = schema.get("type", "object")
    if kind == "array":
        label, ref = describe(schema.get("items", {}))
        return f"{label}[]", ref
    if "format" in schema:
        return f"{kind} ({schema['format']})", None
    return str(kind), None


def _values(schema: dict[str, Any]) -> list[str]:
    return [str(v) for v in schema.get("enum", []) if v is not None]


def _fields(schema: dict[str, Any], *, writable: bool) -> list[Field]:
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        if writable and spec.get("readOnly"):
            continue
        label, ref = describe(spec)
        fields.append(
            Field(
                name=name,
                type=label,
                ref=ref,
                required=name in required,
                description=text_html(spec.get("description", "")),
                values=_values(spec),
            )
        )
    return fields


def _example(fields: list[Field], components: dict[str, Any]) -> dict[str, object]:
    body: dict[str, object] = {}
    for f in fields:
        if not f.required:
            continue
        if f.values:
            body[f.name] = f.values[0]
        elif f.ref is not None and not f.type.endswith("[]"):
            values = _values(components.get(f.ref, {}))
            body[f.name] = values[0] if values else {}
        else:
            kind = "array" if f.type.endswith("[]") else f.type.split(" ", 1)[0]
            fmt = f.type.partition("(")[2].rstrip(")")
            body[f.name] = EXAMPLES.get(fmt, EXAMPLES.get(kind, "…"))
    return body


def _curl_tail(token: bool, body: dict[str, object] | None) -> str:
    """A curl command's options after its address (which the page writes with its own host)."""
    lines = [""]
    if token:
        lines.append(f'  -H "Authorization: Token {TOKEN_EXAMPLE}"')
    if body is not None:
        lines.append('  -H "Content-Type: application/json"')
        lines.append(f"  -d '{json.dumps(body, ensure_ascii=False)}'")
    return " \\\n".join(lines) if len(lines) > 1 else ""


def _group_name(path: str) -> str:
    rest = path.removeprefix(API_PREFIX).strip("/")
    return rest.split("/", 1)[0] or "api"


def _operation(
    path: str, method: str, spec: dict[str, Any], components: dict[str, Any]
) -> Operation:
    parameters = [
        Parameter(
            name=p["name"],
            location=p["in"],
            type=describe(p.get("schema", {}))[0],
            required=bool(p.get("required")),
            description=text_html(p.get("description", "")),
            values=_values(p.get("schema", {})),
        )
        for p in spec.get("parameters", [])
    ]
    body_type, body_ref, body_fields = "", None, []
    example: dict[str, object] | None = None
    content = spec.get("requestBody", {}).get("content", {})
    if content:
        media_type, media = next(iter(content.items()))
        body_schema = media.get("schema", {})
        body_type, body_ref = describe(body_schema)
        resolved = components.get(body_ref, {}) if body_ref else body_schema
        body_fields = _fields(resolved, writable=True)
        example = _example(body_fields, components) if media_type == "application/json" else {}
    responses = []
    for status, answer in spec.get("responses", {}).items():
        contents: dict[str, dict[str, Any]] = answer.get("content", {})
        media_type, media = next(iter(contents.items()), ("", {}))
        label, ref = describe(media.get("schema", {})) if media_type else ("", None)
        responses.append(
            Response(
                status=status,
                description=text_html(answer.get("description", "")),
                media_type=media_type,
                type=label,
                ref=ref,
            )
        )
    schemes = {name for requirement in spec.get("security", []) for name in requirement}
    token = "tokenAuth" in schemes
    return Operation(
        id=spec["operationId"],
        group=_group_name(path),
        method=method.upper(),
        path=path,
        description=text_html(spec.get("description", "")),
        parameters=parameters,
        body_type=body_type,
        body_ref=body_ref,
        body_fields=body_fields,
        responses=responses,
        errors=[],
        token=token,
        session="cookieAuth" in schemes,
        curl_tail=_curl_tail(token, example),
    )


def build(schema: dict[str, Any]) -> Reference:
    components = schema.get("components", {}).get("schemas", {})
    groups: dict[str, Group] = {}
    for path, operations in schema["paths"].items():
        for method in METHODS:
            if method in operations:
                name = _group_name(path)
                group = groups.setdefault(name, Group(name))
                group.operations.append(_operation(path, method, operations[method], components))
    schemas = [
        Schema(
            name=name,
            description=text_html(spec.get("description", "")),
            fields=_fields(spec, writable=False),
            values=_values(spec),
        )
        for name, spec in sorted(components.items())
    ]
    errors = _shared_errors([op for g in groups.values() for op in g.operations])
    info = schema.get("info", {})
    return Reference(
        title=info.get("title", ""),
        version=info.get("version", ""),
        description=text_html(info.get("description", "")),
        groups=sorted(groups.values(), key=lambda g: g.name),
        schemas=schemas,
        errors=errors,
    )


def _shared_errors(operations: list[Operation]) -> list[Response]:
    """The error answers that many operations give in the same words: taken out of each
    operation's responses (which name them by status) into one list."""
    counts: dict[tuple[str, str], int] = {}
    for op in operations:
        for r in op.responses:
            if r.status.startswith(("4", "5")):
                counts[(r.status, r.description)] = counts.get((r.status, r.description), 0) + 1
    shared = {key for key, count in counts.items() if count >= SHARED_ERROR_MIN}
    errors: dict[str, Response] = {}
    for op in operations:
        kept = []
        for r in op.responses:
            if (r.status, r.description) in shared:
                errors.setdefault(r.status, r)
                op.errors.append(r.status)
            else:
                kept.append(r)
        op.responses = kept
    return sorted(errors.values(), key=lambda r: r.status)


@functools.cache
def reference() -> Reference:
    """The schema as the page draws it: generated once per process, in English."""
    with translation.override("en"):
        schema = SchemaGenerator().get_schema(request=None, public=True)
        return build(schema)


SCHEMAS_PART = "schemas"


def api_docs(request: HttpRequest) -> HttpResponse:
    """The reference in parts a phone can hold: the first page (how to begin, the shared errors,
    the contents), one page per resource (`?part=postings`), and the schemas
    (`?part=schemas`)."""
    docs = reference()
    part = request.GET.get("part", "")
    group = docs.group(part) if part else None
    if part and part != SCHEMAS_PART and group is None:
        # A page's 404 (raised under /api/, it would be the API's JSON 500).
        return render(request, "404.html", status=404)
    names = [g.name for g in docs.groups]
    context = {
        "reference": docs,
        "errors": [] if part else shared_errors(docs),
        "part": part,
        "group": group,
        "schemas_part": SCHEMAS_PART,
        "base_url": request.build_absolute_uri("/").rstrip("/"),
    }
    if group is not None:
        at = names.index(group.name)
        context["previous"] = names[at - 1] if at > 0 else None
        context["next"] = names[at + 1] if at + 1 < len(names) else SCHEMAS_PART
    return render(request, "core/api_docs.html", context)


def part_urls() -> list[str]:
    """The address of each part after the first page (for the tests' crawl)."""
    base = reverse("api_docs")
    return [f"{base}?part={g.name}" for g in reference().groups] + [f"{base}?part={SCHEMAS_PART}"]

"""The OpenAPI schema as the API behaves.

- Every operation lists each error status it can answer, all in the one error shape
  (`core.api.ErrorSerializer`). Written once here instead of on every view: a rule per status,
  from what the operation is (its method, parameters, body, authentication, throttles).
- A request body read by a strict serializer (`core.api.StrictSerializerMixin`) allows no other
  property.
- An optional query parameter may be sent empty: it then counts as absent (allowEmptyValue).
"""

from typing import Any

from django.conf import settings
from django.utils.translation import gettext, gettext_noop
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from core.api import StrictSerializerMixin

# What core.api.error_body builds, for the schema.
ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(
                    help_text="Stable, for programs: e.g. `invalid`, `not_found`, `conflict`."
                ),
                "message": serializers.CharField(help_text="For people: what and why."),
                "fields": serializers.DictField(
                    help_text="Each refused field or query parameter with what is wrong with "
                    "it; empty when the refusal is about the whole request."
                ),
            },
        )
    },
)

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# The schema's words for each error (English, as all its descriptions: `gettext_noop` only marks
# them for the catalogue). The API reference's first page shows them in its reader's language
# (`error_description(..., translated=True)`): they are that page's own text, its errors table.
ERRORS = {
    400: gettext_noop(
        "The request is not valid: `fields` names each refused field or query parameter."
    ),
    401: gettext_noop("Not signed in, or the token is unknown."),
    403: gettext_noop("Signed in, but your role may not do this here."),
    404: gettext_noop(
        "No such object among those you may see (another hospital's objects answer 404 "
        "too), or no such page of a list."
    ),
    409: gettext_noop("The object's current state does not allow this: `message` says why."),
    413: gettext_noop("The request body is larger than {limit} KiB."),
    415: gettext_noop("The body is not JSON (`Content-Type: application/json`)."),
    429: gettext_noop("Too many requests: try again after the `Retry-After` header's seconds."),
}


def error_description(status: int, *, translated: bool = False) -> str:
    """The schema's description of an error status: English, or in the active language."""
    text = gettext(ERRORS[status]) if translated else ERRORS[status]
    return text.format(limit=(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // 1024)


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(force_instance(serializer), StrictSerializerMixin):
            # Unknown fields are refused (a typo must not look saved): say so.
            schema["additionalProperties"] = False
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and not parameter.get("required"):
                # `?hospital=` is no filter, as a form left blank: empty counts as absent.
                parameter["allowEmptyValue"] = True
        responses = operation.setdefault("responses", {})
        ref = self.resolve_serializer(ErrorSerializer, "response").ref
        for status in self.error_statuses(operation):
            responses.setdefault(
                str(status),
                {
                    "description": error_description(status),
                    "content": {"application/json": {"schema": ref}},
                },
            )
        for status, response in responses.items():
            # A view that describes an error in its own words still answers in the one shape.
            if status >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": ref}}
        return operation

    def error_statuses(self, operation: dict[str, Any]) -> list[int]:
        view = self.view
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        authenticates = bool(view.authentication_classes)
        open_to_all = all(
            isinstance(p, type) and issubclass(p, AllowAny) for p in view.permission_classes
        )
        statuses = []
        if parameters or has_body:
            statuses.append(400)
        if authenticates:  # a wrong token is refused even where no sign-in is needed
            statuses.append(401)
        if not open_to_all or (self.method in WRITES and authenticates):  # roles; CSRF
            statuses.append(403)
        # Objects in the path, in a body or a filter, a page past the last, one's own profile
        # not made yet: any operation can be told that something does not exist.
        statuses.append(404)
        if self.method in WRITES:
            statuses.append(409)
        if self.method in {"POST", "PUT", "PATCH"}:  # core.middleware.ApiRequestSizeLimit
            statuses.append(413)
        if has_body:
            statuses.append(415)
        if view.throttle_classes:
            statuses.append(429)
        return statuses

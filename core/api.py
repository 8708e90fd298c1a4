"""What every API view shares: the one error shape, pagination, ids in paths, queries and
bodies, and serializers that refuse fields they do not know."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, routers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, ValidationFailed
from core.ids import MAX_ID, is_id, whole_number

_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every refusal, DRF's or the domain's, to `{"error": {code, message, fields}}`."""
    if isinstance(exc, DomainError):
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=exc.headers
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = detail
            message = _("Some fields are not valid.")
            general = fields.pop("non_field_errors", None)
            if general:
                message = " ".join(str(m) for m in general)
        else:
            fields = {}
            message = " ".join(str(m) for m in detail) if isinstance(detail, list) else str(detail)
        response.data = error_body(code, message, fields)
    else:
        response.data = error_body(code, str(exc.detail))
    return response


# --- Ids ----------------------------------------------------------------------------------------


class IdField(serializers.IntegerField):
    """An object's id in a query or a body: 1 to 2^63 - 1, else a field error (core.ids)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


def query_id(request: Request, name: str) -> int | None:
    """The id in query parameter `name` (None when absent or empty); anything else is a 400
    naming it."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        if len(raw) > 30:  # int() of thousands of digits raises, and is costly before that
            raise ValueError(raw)
        number = int(raw)
    except ValueError:
        raise ValidationFailed(
            _("'%(name)s' must be a whole number.") % {"name": name},
            fields={name: [_("A whole number.")]},
        ) from None
    if not is_id(number):
        raise ValidationFailed(
            _("'%(name)s' must be an id, from 1 to %(max)s.") % {"name": name, "max": MAX_ID},
            fields={name: [_("An id from 1 to %(max)s.") % {"max": MAX_ID}]},
        )
    return number


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in {"true", "1", "yes"}:
        return True
    if raw.lower() in {"false", "0", "no"}:
        return False
    raise ValidationFailed(
        _("'%(name)s' must be true or false.") % {"name": name},
        fields={name: [_("true or false.")]},
    )


def query_filters(serializer_class: Any, request: Request) -> dict[str, Any]:
    """Query parameters read through a serializer: a bad value is a 400 naming the parameter.
    Empty values count as absent."""
    given = {key: value for key, value in request.query_params.items() if value != ""}
    serializer = serializer_class(data=given)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def valid_body(serializer_class: Any, request: Request, **kwargs: Any) -> dict[str, Any]:
    """The request body read through a serializer: what is wrong is a 400 naming the fields."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def for_schema(view: Any) -> bool:
    """drf-spectacular builds the schema with an anonymous fake request: no scoping to do."""
    return bool(getattr(view, "swagger_fake_view", False))


def request_user_id(request: Request | HttpRequest) -> int:
    """The id of the person signed in on a request that passed authentication. Core sits below
    accounts, so it reads the user as Django's auth knows it (AUTH_USER_MODEL), not as
    `accounts.requests.request_user` does."""
    user = request.user
    if user is None or not user.is_authenticated:
        # Unreachable behind login_required and IsAuthenticated; fail loudly, never act as nobody.
        raise TypeError("request_user_id() needs an authenticated request")
    return int(user.pk)


class Router(routers.DefaultRouter):
    """Every object in an API path is named by its id, through the `id` converter: an id out
    of range is an unknown address (404), never a query. No `.json` suffix routes: JSON is
    the default, and `?format=` picks another renderer where a view has one."""

    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__(use_regex_path=False)

    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        return f"<id:{lookup_prefix}{kwarg}>"


# --- Pagination ---------------------------------------------------------------------------------


class BoundedListField(serializers.ListField):
    """A list in a request body, its length checked before any item is: DRF's ListField
    validates every item first and counts them after (a 1 MB list of 500,000 bad vendors took
    12 s and answered 20 MB of errors, one per item). Give every such field a `max_length`."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class Pagination(pagination.PageNumberPagination):
    """`page` from 1 and `page_size` from 1 (more than 200 gives 200). Anything else, `null`
    included, is a 400 naming the parameter, not silently the first page."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        for name in (self.page_query_param, self.page_size_query_param):
            raw = request.query_params.get(name) or ""  # empty counts as absent, as everywhere
            number = whole_number(raw)
            if raw and (number is None or number < 1):
                raise ValidationFailed(
                    _("'%(name)s' must be a whole number from 1.") % {"name": name},
                    fields={name: [_("A whole number from 1.")]},
                )
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Rows per page, {self.page_size} unless given (more than "
                    f"{self.max_page_size} gives {self.max_page_size})."
                )
        return parameters


def _json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """What is wrong with the JSON type of `value` for `field`, if anything. DRF reads
    `"cockpit_ready": 0` as false and `"last_name": 0` as "0"; a JSON body says what it means,
    and the schema promises a boolean and a string."""
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return _("Must be true or false.")
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return _("Must be a string.")
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        problems = {_json_type_problem(field.child, item) for item in value} - {None}
        return problems.pop() if problems else None
    return None


class StrictSerializerMixin:
    """A JSON body means what it says: unknown fields are refused instead of silently dropped
    (a typo must not look saved), and so are values of the wrong JSON type. For bodies only:
    query parameters are strings, read by plain serializers."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            known = {name for name, field in fields.items() if not field.read_only}
            unknown = sorted(set(data) - known)
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
            wrong = {
                name: [problem]
                for name, value in data.items()
                if (problem := _json_type_problem(fields[name], value))
            }
            if wrong:  # named together with whatever else is wrong, each field once
                rest = {name: value for name, value in data.items() if name not in wrong}
                try:
                    super().to_internal_value(rest)  # type: ignore[misc]
                except serializers.ValidationError as error:
                    if isinstance(error.detail, dict):
                        raise serializers.ValidationError({**error.detail, **wrong}) from None
                raise serializers.ValidationError(wrong)
        elif data is not None:
            raise serializers.ValidationError({"non_field_errors": [_("Expected a JSON object.")]})
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictSerializerMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    pass

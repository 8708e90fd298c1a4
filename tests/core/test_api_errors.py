"""Every answer an API client gets is in the one error shape, in every mode, and the schema says
which errors each operation can answer; no id a user can type reaches the database unbounded."""

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.ids import IdConverter
from tests.conftest import World, api_as, client_for

pytestmark = pytest.mark.django_db

BEYOND_64_BITS = "99999999999999999999"


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return dict(body["error"])


# --- Ids in paths -------------------------------------------------------------------------------


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every route of the URLconf as (route, its converters)."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, dict(pattern.pattern.converters)


def _id_routes() -> list[str]:
    return sorted(
        {
            route
            for route, converters in _routes(get_resolver().url_patterns)
            if any(isinstance(c, IdConverter) for c in converters.values())
        }
    )


def test_no_route_takes_an_unbounded_integer() -> None:
    unbounded = [
        route
        for route, converters in _routes(get_resolver().url_patterns)
        if any(isinstance(c, IntConverter) for c in converters.values())
    ]
    assert unbounded == []
    assert len(_id_routes()) > 50  # pages and API alike


def _with_ids(route: str, value: str) -> str:
    filled = re.sub(r"<id:\w+>", value, route)
    filled = re.sub(r"<str:month>", "2026-01", filled)
    filled = re.sub(r"<(str|slug):\w+>", "accept", filled)
    return "/" + filled


@pytest.mark.parametrize("value", [BEYOND_64_BITS, "0", "9223372036854775808"])
def test_every_address_with_an_id_out_of_range_is_not_found(world: World, value: str) -> None:
    page, api = client_for(world.admin), api_as(world.admin)
    for route in _id_routes():
        path = _with_ids(route, value)
        client = api if path.startswith("/api/") else page
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code == 404, (method, path, response.status_code)
            if path.startswith("/api/"):
                assert _error(response, 404)["code"] == "not_found"


def test_the_largest_id_is_an_id(world: World) -> None:
    response = api_as(world.manager).get(f"/api/v1/scanners/{2**63 - 1}/")
    assert _error(response, 404)["message"] == "No such scanner."


# --- JSON errors in every mode ------------------------------------------------------------------


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_address_answers_json_in_every_mode(
    world: World, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    for path in ("/api/v1/nothing-here/", "/api/v1/scanners/abc/", "/api/v2/"):
        for method in ("get", "post", "delete"):
            response = getattr(api_as(world.manager), method)(path)
            assert _error(response, 404)["code"] == "not_found"


def test_an_unknown_api_address_answers_json_even_to_a_csrf_less_browser(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.manager)  # a session cookie, and no CSRF token
    for method in ("post", "delete", "patch"):
        response = getattr(client, method)(f"/api/v1/scanners/{BEYOND_64_BITS}/")
        assert _error(response, 404)["code"] == "not_found"


def test_a_failed_csrf_check_under_the_api_answers_json(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.manager)
    response = client.post("/api/v1/notifications/read-all/", {}, content_type="application/json")
    error = _error(response, 403)
    assert error["code"] == "forbidden"
    assert "CSRF" in error["message"]


def test_marking_notices_read_refuses_a_null_body(world: World) -> None:
    client = api_as(world.manager)
    response = client.generic(
        "POST", "/api/v1/notifications/read-all/", "null", content_type="application/json"
    )
    assert _error(response, 400)["code"] == "invalid"
    assert client.post("/api/v1/notifications/read-all/").status_code == 200  # no body: all


@pytest.mark.parametrize("debug", [True, False])
def test_an_unexpected_failure_answers_json_and_is_logged(
    world: World, settings: Any, debug: bool, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings.DEBUG = debug

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("marketplace.api.selectors.hospital_list", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.manager)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/v1/hospitals/")
    error = _error(response, 500)
    assert error == {
        "code": "server_error",
        "message": "Something went wrong on our side.",
        "fields": {},
    }
    assert "the disk is on fire" not in response.content.decode()
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert [str(r.exc_info[1]) for r in logged] == ["the disk is on fire"]  # type: ignore[index]


def test_a_page_failure_keeps_the_sites_error_page(world: World, monkeypatch: Any) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("operations.views.selectors.hospital_list", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world.manager)
    response = client.get("/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


# --- The schema documents every answer ----------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return dict(SchemaGenerator().get_schema(request=None, public=True))


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


ERROR_REF = {"$ref": "#/components/schemas/Error"}


def test_every_operation_documents_its_errors_in_the_one_shape(schema: dict[str, Any]) -> None:
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "fields"}
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        errors = {code for code in responses if code >= "400"}
        for code in errors:
            assert responses[code]["content"]["application/json"]["schema"] == ERROR_REF
        assert "404" in errors, (method, path)
        if path != "/api/v1/auth/token/":
            assert {"401", "403"} <= errors, (method, path)
        if method != "GET":
            assert "409" in errors, (method, path)
        if method in {"POST", "PATCH"}:
            assert "413" in errors, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in errors, (method, path)
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert {"400", "429"} <= set(token)


def test_request_bodies_allow_no_unknown_property(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for name in ("ScannerRequest", "PatchedScannerUpdateRequest", "BookingCreateRequest"):
        assert components[name]["additionalProperties"] is False, name


def test_ids_and_pages_are_documented_with_their_range(schema: dict[str, Any]) -> None:
    scanners = schema["paths"]["/api/v1/scanners/"]["get"]["parameters"]
    assert all(p["allowEmptyValue"] for p in scanners)  # empty counts as absent
    by_name = {p["name"]: p["schema"] for p in scanners}
    assert by_name["hospital"]["minimum"] == 1
    assert by_name["hospital"]["maximum"] == 2**63 - 1
    assert by_name["page"]["minimum"] == 1
    assert by_name["page_size"]["minimum"] == 1
    path_id = schema["paths"]["/api/v1/scanners/{id}/"]["get"]["parameters"][0]["schema"]
    assert (path_id["minimum"], path_id["maximum"]) == (1, 2**63 - 1)


def test_a_booking_that_nobody_cancelled_has_a_null_cancelled_side(
    schema: dict[str, Any],
) -> None:
    side = schema["components"]["schemas"]["Booking"]["properties"]["cancelled_side"]
    assert side["nullable"] is True or {"$ref": "#/components/schemas/NullEnum"} in side.get(
        "oneOf", []
    )


def test_one_availability_window_documents_only_the_parameter_it_reads(
    schema: dict[str, Any],
) -> None:
    parameters = schema["paths"]["/api/v1/availability/{id}/"]["get"]["parameters"]
    assert sorted(p["name"] for p in parameters if p["in"] == "query") == ["tz"]

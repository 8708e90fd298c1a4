"""Every answer an API client gets is in the one error shape, in every mode, and the schema says
which errors each operation can answer; no id a user can type reaches the database unbounded."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

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



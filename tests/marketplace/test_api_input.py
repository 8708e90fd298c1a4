"""Bad input gets a 4xx in the one error shape and changes nothing."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from rest_framework.test import APIClient

from core.models import AuditEvent
from marketplace.models import Scanner, Site
from tests.conftest import World, api_as
from tests.factories_supply import PostingFactory

pytestmark = pytest.mark.django_db

SCANNER = {
    "name": "MR 9",
    "modality": "MRI",
    "vendor": "siemens",
    "model_name": "MAGNETOM Sola",
    "field_strength_tesla": "1.50",
    "cockpit_ready": True,
}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def untouched(world: World) -> Any:
    """Whatever a refused request did, the database holds what it held before."""
    before = (Scanner.objects.count(), Site.objects.count(), AuditEvent.objects.count())
    yield
    assert (Scanner.objects.count(), Site.objects.count(), AuditEvent.objects.count()) == before


def test_malformed_json(world: World, untouched: None) -> None:
    response = api_as(world.manager).generic(
        "POST", "/api/v1/scanners/", "{not json", content_type="application/json"
    )
    assert _error(response, 400)["code"] == "malformed_request"


def test_a_body_that_is_not_an_object(world: World, untouched: None) -> None:
    response = api_as(world.manager).post("/api/v1/scanners/", [SCANNER], format="json")
    assert _error(response, 400)["code"] == "invalid"


def test_wrong_types_name_each_field(world: World, untouched: None) -> None:
    body = {**SCANNER, "site": "north", "field_strength_tesla": "strong", "cockpit_ready": "maybe"}
    error = _error(api_as(world.manager).post("/api/v1/scanners/", body, format="json"), 400)
    assert set(error["fields"]) == {"site", "field_strength_tesla", "cockpit_ready"}


def test_unknown_fields_are_refused_not_dropped(world: World, untouched: None) -> None:
    body = {**SCANNER, "site": world.site.pk, "feild_strength": "3.0"}
    error = _error(api_as(world.manager).post("/api/v1/scanners/", body, format="json"), 400)
    assert error["fields"] == {"feild_strength": ["Unknown field."]}


def test_an_mri_scanner_needs_a_field_strength(world: World, untouched: None) -> None:
    body = {**SCANNER, "site": world.site.pk, "field_strength_tesla": None}
    error = _error(api_as(world.manager).post("/api/v1/scanners/", body, format="json"), 400)
    assert "field_strength_tesla" in error["fields"]


def test_a_scanner_under_another_hospitals_site(world: World, untouched: None) -> None:
    body = {**SCANNER, "site": world.other_site.pk}
    error = _error(api_as(world.manager).post("/api/v1/scanners/", body, format="json"), 400)
    assert error["fields"] == {"site": ["No such site."]}


def test_moving_a_scanner_to_another_hospitals_site(world: World, untouched: None) -> None:
    response = api_as(world.manager).patch(
        f"/api/v1/scanners/{world.scanner.pk}/", {"site": world.other_site.pk}, format="json"
    )
    assert _error(response, 400)["fields"] == {"site": ["No such site."]}
    world.scanner.refresh_from_db()
    assert world.scanner.site == world.site


def test_an_unknown_time_zone(world: World, untouched: None) -> None:
    body = {"hospital": world.hospital.pk, "name": "Annexe", "time_zone": "Europe/Bruxelles"}
    error = _error(api_as(world.manager).post("/api/v1/sites/", body, format="json"), 400)
    assert "time_zone" in error["fields"]


def test_a_five_megabyte_body(world: World, untouched: None) -> None:
    body = json.dumps({**SCANNER, "site": world.site.pk, "model_name": "x" * 5_000_000})
    response = api_as(world.manager).generic(
        "POST", "/api/v1/scanners/", body, content_type="application/json"
    )
    assert _error(response, 413)["code"] == "request_too_large"


def test_a_non_numeric_filter(world: World) -> None:
    response = api_as(world.manager).get("/api/v1/scanners/", {"hospital": "one"})
    assert _error(response, 400)["fields"] == {"hospital": ["A whole number."]}


def test_a_non_numeric_id_is_not_found(world: World) -> None:
    assert _error(api_as(world.manager).get("/api/v1/scanners/abc/"), 404)["code"] == "not_found"


def test_an_unknown_address_under_the_api_answers_json(world: World) -> None:
    assert _error(api_as(world.manager).get("/api/v1/nothing-here/"), 404)["code"] == "not_found"


def test_an_unknown_role(world: World, untouched: None) -> None:
    membership = world.technologist.memberships.get()
    response = api_as(world.manager).patch(
        f"/api/v1/memberships/{membership.pk}/", {"role": "surgeon"}, format="json"
    )
    assert "role" in _error(response, 400)["fields"]
    membership.refresh_from_db()
    assert membership.role == "technologist"


def test_an_invitation_to_an_invalid_address(world: World) -> None:
    response = api_as(world.manager).post(
        "/api/v1/invitations/",
        {"hospital": world.hospital.pk, "email": "not-an-address", "role": "technologist"},
        format="json",
    )
    assert "email" in _error(response, 400)["fields"]


def test_deleting_a_site_that_still_has_scanners(world: World, untouched: None) -> None:
    response = api_as(world.manager).delete(f"/api/v1/sites/{world.site.pk}/")
    assert _error(response, 409)["code"] == "conflict"


def test_anonymous_callers_are_asked_to_authenticate(db: None) -> None:
    error = _error(APIClient().get("/api/v1/scanners/"), 401)
    assert error["code"] == "not_authenticated"


def test_a_wrong_token(db: None) -> None:
    client = APIClient(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert _error(client.get("/api/v1/scanners/"), 401)["code"] == "authentication_failed"


def test_token_login_with_a_wrong_password(world: World) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"email": world.manager.email, "password": "nope"}, format="json"
    )
    assert _error(response, 400)["message"]


def test_token_login_then_use(world: World) -> None:
    from tests.factories import PASSWORD

    # A technologist who has not set up a second factor yet (their password is then enough).
    Authenticator.objects.filter(user=world.technologist).delete()

    response = APIClient().post(
        "/api/v1/auth/token/",
        {"email": world.technologist.email, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    client = APIClient(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/v1/me/").json()
    assert me["email"] == world.technologist.email


def test_a_managers_password_alone_gets_no_token(world: World) -> None:
    from tests.factories import PASSWORD

    response = APIClient().post(
        "/api/v1/auth/token/", {"email": world.manager.email, "password": PASSWORD}, format="json"
    )
    error = _error(response, 403)
    assert error["code"] == "second_factor_required"
    assert "/account/tokens/" in error["message"]


def test_token_login_is_throttled(world: World) -> None:
    client = APIClient()
    statuses = [
        client.post(
            "/api/v1/auth/token/", {"email": world.manager.email, "password": "x"}, format="json"
        ).status_code
        for _ in range(12)
    ]
    assert statuses[0] == 400
    assert statuses[-1] == 429


# --- Issue 14: every promise holds under attack (found by schemathesis) -----------------------

BEYOND_64_BITS = "99999999999999999999"


def test_deleting_a_scanner_with_postings_says_why_and_keeps_it(world: World) -> None:
    PostingFactory(scanner=world.scanner, starts_at=datetime(2026, 1, 5, 8, tzinfo=UTC))
    before = AuditEvent.objects.count()
    response = api_as(world.manager).delete(f"/api/v1/scanners/{world.scanner.pk}/")
    error = _error(response, 409)
    assert error["code"] == "conflict"
    assert error["message"] == (
        "MR 1 cannot be deleted: 1 session posting is on it, and their history keeps the "
        "scanner. To stop operating it remotely, set cockpit_ready to false instead."
    )
    assert Scanner.objects.filter(pk=world.scanner.pk).exists()
    assert AuditEvent.objects.count() == before


def test_a_scanner_nothing_was_posted_on_is_deleted(world: World) -> None:
    response = api_as(world.manager).delete(f"/api/v1/scanners/{world.scanner.pk}/")
    assert response.status_code == 204
    assert not Scanner.objects.filter(pk=world.scanner.pk).exists()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/scanners/", "hospital"),
        ("/api/v1/scanners/", "site"),
        ("/api/v1/sites/", "hospital"),
        ("/api/v1/memberships/", "hospital"),
        ("/api/v1/invitations/", "hospital"),
        ("/api/v1/technologists/", "hospital"),
        ("/api/v1/postings/", "hospital"),
        ("/api/v1/postings/", "site"),
        ("/api/v1/bookings/", "posting"),
        ("/api/v1/bookings/", "hospital"),
        ("/api/v1/bookings/", "technologist"),
        ("/api/v1/availability/", "technologist"),
    ],
)
@pytest.mark.parametrize("value", [BEYOND_64_BITS, "0", "-3"])
def test_an_id_filter_out_of_range_is_a_400_naming_it(
    world: World, path: str, name: str, value: str
) -> None:
    error = _error(api_as(world.manager).get(path, {name: value}), 400)
    assert list(error["fields"]) == [name]


def test_an_id_in_a_body_beyond_64_bits_is_a_field_error(world: World, untouched: None) -> None:
    body = {**SCANNER, "site": int(BEYOND_64_BITS)}
    error = _error(api_as(world.manager).post("/api/v1/scanners/", body, format="json"), 400)
    assert list(error["fields"]) == ["site"]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/scanners/{BEYOND_64_BITS}/",
        f"/api/v1/technologists/{BEYOND_64_BITS}/verify-licence/",
        f"/api/v1/postings/{BEYOND_64_BITS}/candidates/",
        f"/api/v1/hospitals/{BEYOND_64_BITS}/ledger/2026-01/",
        "/api/v1/scanners/0/",
    ],
)
def test_an_id_in_an_api_path_beyond_64_bits_is_not_found(world: World, path: str) -> None:
    client = api_as(world.admin)
    for response in (client.get(path), client.post(path)):
        assert _error(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"page_size": "null"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "-5"}, "page_size"),
        ({"page_size": "²"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "first"}, "page"),
    ],
)
def test_a_page_or_page_size_that_is_not_a_number_from_1_is_refused(
    world: World, params: dict[str, str], name: str
) -> None:
    for path in ("/api/v1/hospitals/", "/api/v1/exam-families/", "/api/v1/postings/open/"):
        error = _error(api_as(world.manager).get(path, params), 400)
        assert error["fields"] == {name: ["A whole number from 1."]}


@pytest.mark.parametrize(
    ("path", "body", "field", "problem"),
    [
        ("scanner", {"cockpit_ready": 0}, "cockpit_ready", "Must be true or false."),
        ("scanner", {"cockpit_ready": "yes"}, "cockpit_ready", "Must be true or false."),
        ("scanner", {"name": 7}, "name", "Must be a string."),
        ("me", {"last_name": 0}, "last_name", "Must be a string."),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_converted(
    world: World, path: str, body: dict[str, Any], field: str, problem: str
) -> None:
    url = f"/api/v1/scanners/{world.scanner.pk}/" if path == "scanner" else "/api/v1/me/"
    response = api_as(world.manager).patch(url, body, format="json")
    assert _error(response, 400)["fields"] == {field: [problem]}
    world.scanner.refresh_from_db()
    world.manager.refresh_from_db()
    assert (world.scanner.name, world.scanner.cockpit_ready) == ("MR 1", True)
    assert world.manager.last_name != "0"


def test_an_empty_query_parameter_counts_as_absent(world: World) -> None:
    for params in ({"page": "", "page_size": ""}, {"hospital": ""}, {"cockpit_ready": ""}):
        response = api_as(world.manager).get("/api/v1/scanners/", params)
        assert response.status_code == 200, (params, response.content)
        assert [s["name"] for s in response.json()["results"]] == ["MR 1"]

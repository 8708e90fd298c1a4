"""What a tester attacking a live `make run` found after the first round of issue 14: each is a
clear 4xx now, never a 500, and nothing slow; and the admin's sign-in is WeScan's own, with its
limits on guessing."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace.models import ExamFamily, TechnologistProfile
from marketplace.serializers import MAX_CODES
from tests.conftest import World, api_as, client_for
from tests.factories import UserFactory
from tests.factories_supply import LicensedTechnologistFactory, PostingFactory

pytestmark = pytest.mark.django_db

DIGITS_5000 = "1" * 5000  # int() refuses more than 4,300 digits: once a 500 wherever it was read


def _nested(depth: int) -> str:
    return '{"reason": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("method", "path", "anonymous"),
    [
        ("post", "/api/v1/auth/token/", True),
        ("patch", "/api/v1/me/", False),
        ("post", "/api/v1/notifications/read-all/", False),
    ],
)
def test_a_body_nested_a_thousand_deep_is_a_400(
    world: World, method: str, path: str, anonymous: bool
) -> None:
    client = api_as(None if anonymous else world.manager)
    response = getattr(client, method)(path, _nested(1000), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "malformed_request",
        "message": "JSON parse error - the body nests deeper than 32 levels.",
        "fields": {},
    }


def test_infinities_and_numbers_beyond_4300_digits_in_a_body_are_a_400(world: World) -> None:
    client = api_as(world.manager)
    for body in ('{"up_to": 1e999}', '{"up_to": NaN}', '{"up_to": ' + DIGITS_5000 + "}"):
        response = client.post(
            "/api/v1/notifications/read-all/", body, content_type="application/json"
        )
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("name", ["page", "page_size"])
def test_a_page_number_of_5000_digits_is_a_400(world: World, name: str) -> None:
    response = api_as(world.manager).get("/api/v1/bookings/", {name: DIGITS_5000})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {name: ["A whole number from 1."]}


def test_a_ledger_counterpart_of_5000_digits_is_not_found(world: World) -> None:
    hospital = world.hospital.pk
    for key in (f"h{DIGITS_5000}", f"t{DIGITS_5000}"):
        api = api_as(world.manager).get(
            f"/api/v1/hospitals/{hospital}/ledger/2026-11/", {"counterpart": key}
        )
        assert api.status_code == 404
        assert api.json()["error"]["code"] == "not_found"
        for extra in ({}, {"format": "csv"}):
            page = client_for(world.manager).get(
                f"/hospitals/{hospital}/ledger/2026-11/", {"counterpart": key, **extra}
            )
            assert page.status_code == 404


@pytest.mark.parametrize("raw", [DIGITS_5000, "99999999999999999999", "-1", "x"])
def test_a_page_form_with_a_bad_id_is_refused_not_a_500(world: World, raw: str) -> None:
    client = client_for(world.manager)
    read_all = client.post("/notifications/read-all/", {"up_to": raw})
    assert read_all.status_code == 400
    assert "must be a notification id" in read_all.content.decode()
    posting = PostingFactory(hospital=world.hospital, scanner=world.scanner, status="open")
    invited = client.post(f"/postings/{posting.pk}/invite/", {"technologist": raw}, follow=True)
    assert "Choose a technologist to invite." in invited.content.decode()


# --- Lists of vocabulary codes --------------------------------------------------------------


def test_a_list_of_codes_is_bounded_and_read_in_one_query(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    client = api_as(world.technologist)
    codes = list(ExamFamily.objects.values_list("code", flat=True))

    too_many = client.patch(
        "/api/v1/technologists/me/", {"exam_families": ["neuro"] * 115_000}, format="json"
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["fields"] == {
        "exam_families": [f"Ensure this field has no more than {MAX_CODES} elements."]
    }
    unknown = client.patch(
        "/api/v1/technologists/me/", {"exam_families": ["neuro", "nope", "zz"]}, format="json"
    )
    assert unknown.json()["error"]["fields"] == {
        "exam_families": ["Not an exam family code: nope.", "Not an exam family code: zz."]
    }

    with CaptureQueriesContext(connection) as few:
        client.patch("/api/v1/technologists/me/", {"exam_families": codes[:1]}, format="json")
    with CaptureQueriesContext(connection) as many:
        response = client.patch(
            "/api/v1/technologists/me/", {"exam_families": codes * 3}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["exam_families"]) == sorted(codes)
    assert len(many.captured_queries) <= len(few.captured_queries) + 2  # not one per code
    profile = TechnologistProfile.objects.get(user=world.technologist)
    assert profile.exam_families.count() == len(codes)


# --- Pages ----------------------------------------------------------------------------------


def test_the_admin_signs_in_through_wescans_own_sign_in(world: World) -> None:
    anonymous = Client()
    shown = anonymous.get("/admin/login/?next=/admin/marketplace/hospital/")
    assert shown.status_code == 302
    assert shown["Location"] == "/accounts/login/?next=/admin/marketplace/hospital/"
    # The admin's own form no longer takes a password: guesses there are impossible.
    posted = anonymous.post(
        "/admin/login/", {"username": world.admin.email, "password": "wrong-guess"}
    )
    assert posted.status_code == 302
    assert posted["Location"].startswith("/accounts/login/")
    assert anonymous.get("/admin/").status_code == 302

    elsewhere = anonymous.get("/admin/login/?next=https://evil.example/")
    assert elsewhere["Location"] == "/accounts/login/?next=/admin/"
    assert client_for(world.admin).get("/admin/login/")["Location"] == "/admin/"
    refused = client_for(world.manager).get("/admin/login/")
    assert refused.status_code == 403
    assert "The admin is for platform staff" in refused.content.decode()


def test_a_form_from_elsewhere_gets_a_page_that_says_what_to_do(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.manager)
    response = client.post("/notifications/read-all/", {})
    assert response.status_code == 403
    assert "This form had expired or came from another site" in response.content.decode()


def test_a_page_body_over_the_limit_is_a_413_that_says_so(world: World, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client_for(world.manager).post(
        "/notifications/read-all/", {"up_to": "1", "padding": "x" * 2000}
    )
    assert response.status_code == 413
    assert "What you sent is larger than 1 KiB." in response.content.decode()


def test_a_person_without_staff_rights_is_not_shown_the_admin(world: World) -> None:
    person = UserFactory()
    response = client_for(person).get("/admin/", follow=True)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "field", "item", "limit"),
    [
        ("/api/v1/technologists/me/", "vendors", 0, 20),
        ("/api/v1/technologists/me/", "languages", "nl", MAX_CODES),
    ],
)
def test_a_long_list_is_counted_before_its_items_are_read(
    world: World, path: str, field: str, item: Any, limit: int
) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    response = api_as(world.technologist).patch(path, {field: [item] * 100_000}, format="json")
    assert response.status_code == 400
    # One error for the list, not one per item (once 20 MB of them).
    assert response.json()["error"]["fields"] == {
        field: [f"Ensure this field has no more than {limit} elements."]
    }

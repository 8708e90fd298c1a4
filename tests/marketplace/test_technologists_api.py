"""Technologists through the API: who sees whose profile, editing one's own, and the licence
check by platform admins that makes someone bookable."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from marketplace.models import Role, TechnologistProfile
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import MembershipFactory, UserFactory
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = pytest.mark.django_db


def _url(world: World, suffix: str = "") -> str:
    return f"/api/v1/technologists/{world.technologist.pk}/{suffix}"


# --- Vocabularies ----------------------------------------------------------------------------


@pytest.mark.parametrize("person", PEOPLE)
def test_vocabularies_are_open_to_anyone_signed_in(world: World, person: str) -> None:
    client = api_as(who(world, person))
    families = client.get("/api/v1/exam-families/")
    languages = client.get("/api/v1/languages/", {"page_size": 200})
    if person == "anonymous":
        assert (families.status_code, languages.status_code) == (401, 401)
        return
    assert {"code": "cardiac", "name": "Cardiac"} in families.json()["results"]
    assert {"code": "nl", "name": "Dutch"} in languages.json()["results"]
    assert languages.json()["count"] > 150  # every ISO 639-1 language


# --- Reading profiles ------------------------------------------------------------------------

READ = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 200,  # their own
    "local_staff": 404,
    "manager": 200,  # a technologist of their hospital
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_reading_a_technologists_profile(world: World, person: str) -> None:
    LicensedTechnologistFactory(user=world.technologist, exam_families=["neuro", "cardiac"])
    response = api_as(who(world, person)).get(_url(world))
    assert response.status_code == READ[person]
    if response.status_code == 200:
        body = response.json()
        assert body["id"] == world.technologist.pk
        assert body["email"] == "technologist@example.org"
        assert body["exam_families"] == ["neuro", "cardiac"]
        assert body["vendors"] == ["canon", "ge", "philips", "siemens"]
        assert (body["eligible"], body["ineligibility_reasons"]) == (True, [])
    else:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("outsider", {"independent@example.org"}),
        ("technologist", {"technologist@example.org"}),
        ("local_staff", set()),
        ("manager", {"technologist@example.org"}),
        ("other_manager", {"schelde-tech@example.org"}),
        (
            "admin",
            {"technologist@example.org", "schelde-tech@example.org", "independent@example.org"},
        ),
    ],
)
def test_the_list_holds_only_the_technologists_one_may_see(
    world: World, person: str, expected: set[str]
) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    LicensedTechnologistFactory(user=world.outsider)
    other = UserFactory(email="schelde-tech@example.org")
    MembershipFactory(user=other, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
    LicensedTechnologistFactory(user=other)
    rows = api_as(getattr(world, person)).get("/api/v1/technologists/").json()["results"]
    assert {row["email"] for row in rows} == expected


def test_filtering_by_hospital_and_verification(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    pending = UserFactory(email="pending@example.org")
    MembershipFactory(user=pending, hospital=world.hospital, role=Role.TECHNOLOGIST)
    LicensedTechnologistFactory(user=pending, unverified=True)
    LicensedTechnologistFactory(user=world.outsider)
    client = api_as(world.admin)

    def emails(**params: Any) -> set[str]:
        response = client.get("/api/v1/technologists/", params)
        assert response.status_code == 200, response.content
        return {row["email"] for row in response.json()["results"]}

    assert emails(hospital=world.hospital.pk) == {"technologist@example.org", "pending@example.org"}
    assert emails(hospital=world.hospital.pk, verified="false") == {"pending@example.org"}
    assert emails(verified="true") == {"technologist@example.org", "independent@example.org"}


@pytest.mark.parametrize(
    ("params", "field"), [({"verified": "maybe"}, "verified"), ({"hospital": "one"}, "hospital")]
)
def test_a_bad_filter_value_is_refused(world: World, params: dict[str, str], field: str) -> None:
    response = api_as(world.admin).get("/api/v1/technologists/", params)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {field}


def test_listing_takes_the_same_queries_for_one_or_twelve_profiles(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = api_as(world.admin)
    LicensedTechnologistFactory()
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/technologists/").json()["count"] == 1
    LicensedTechnologistFactory.create_batch(11)
    with django_assert_max_num_queries(len(one)):
        rows = client.get("/api/v1/technologists/").json()["results"]
    assert len(rows) == 12
    assert all(row["exam_families"] == ["neuro", "msk"] for row in rows)


# --- One's own profile -----------------------------------------------------------------------


def test_a_new_profile_is_created_by_the_first_patch_and_says_why_it_is_not_bookable(
    world: World,
) -> None:
    client = api_as(world.outsider)
    missing = client.get("/api/v1/technologists/me/")
    assert missing.status_code == 404
    assert "no technologist profile" in missing.json()["error"]["message"]
    response = client.patch(
        "/api/v1/technologists/me/",
        {
            "seniority": "senior",
            "years_experience": 14,
            "exam_families": ["cardiac", "neuro"],
            "languages": ["nl", "en"],
            "vendors": ["siemens", "philips"],
            "home_time_zone": "Europe/Amsterdam",
            "licence_number": "NL-BIG-1234567",
            "licence_authority": "BIG-register",
            "licence_valid_until": str(timezone.localdate() + timedelta(days=300)),
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["seniority"] == "senior"
    assert sorted(body["exam_families"]) == ["cardiac", "neuro"]
    assert sorted(body["languages"]) == ["en", "nl"]
    assert body["vendors"] == ["philips", "siemens"]
    assert body["eligible"] is False
    assert body["ineligibility_reasons"] == ["Your licence has not been verified by WeScan yet."]
    assert client.get("/api/v1/technologists/me/").json() == body


def test_a_profile_without_a_licence_says_so(world: World) -> None:
    body = (
        api_as(world.outsider)
        .patch("/api/v1/technologists/me/", {"seniority": "junior"}, format="json")
        .json()
    )
    assert body["ineligibility_reasons"] == [
        "No licence on file: add your licence number and issuing authority."
    ]


def test_changing_the_licence_number_withdraws_the_verification(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    client = api_as(world.technologist)
    kept = client.patch("/api/v1/technologists/me/", {"years_experience": 9}, format="json")
    assert (kept.json()["licence_verified"], kept.json()["eligible"]) == (True, True)
    changed = client.patch(
        "/api/v1/technologists/me/", {"licence_number": "BE-RT-999999"}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["licence_verified"], changed.json()["eligible"]) == (False, False)
    assert changed.json()["ineligibility_reasons"] == [
        "Your licence has not been verified by WeScan yet."
    ]


def test_an_expired_licence_makes_one_ineligible_and_says_when(world: World) -> None:
    expired_on = timezone.localdate() - timedelta(days=1)
    LicensedTechnologistFactory(user=world.technologist, licence_valid_until=expired_on)
    body = api_as(world.manager).get(_url(world)).json()
    assert body["eligible"] is False
    assert body["ineligibility_reasons"] == [f"Your licence expired on {expired_on:%d %B %Y}."]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exam_families": ["neuro", "telepathy"]}, "exam_families"),
        ({"languages": ["xx"]}, "languages"),
        ({"vendors": ["acme"]}, "vendors"),
        ({"home_time_zone": "Mars/Olympus"}, "home_time_zone"),
        ({"seniority": "grandmaster"}, "seniority"),
        ({"years_experience": 99}, "years_experience"),
        ({"licence_no": "BE-1"}, "licence_no"),
    ],
)
def test_a_bad_profile_field_is_named_and_nothing_is_saved(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = api_as(world.outsider).patch("/api/v1/technologists/me/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {field}
    assert not TechnologistProfile.objects.exists()
    assert not AuditEvent.objects.exists()


# --- Licence verification --------------------------------------------------------------------

VERIFY = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 403,  # sees their own profile but may not verify it
    "local_staff": 404,
    "manager": 403,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_verifying_a_licence(world: World, person: str) -> None:
    LicensedTechnologistFactory(user=world.technologist, unverified=True)
    response = api_as(who(world, person)).post(_url(world, "verify-licence/"))
    assert response.status_code == VERIFY[person]
    events = AuditEvent.objects.filter(action="technologist.licence_verified")
    if VERIFY[person] == 200:
        assert (response.json()["eligible"], response.json()["licence_verified"]) == (True, True)
        assert [e.actor for e in events] == [world.admin]
        # The manager now sees a bookable technologist.
        assert api_as(world.manager).get(_url(world)).json()["eligible"] is True
    else:
        assert not events.exists()
        assert api_as(world.manager).get(_url(world)).json()["eligible"] is False


def test_a_licence_with_nothing_to_verify_is_a_conflict(world: World) -> None:
    api_as(world.technologist).patch(
        "/api/v1/technologists/me/", {"seniority": "junior"}, format="json"
    )
    response = api_as(world.admin).post(_url(world, "verify-licence/"))
    assert response.status_code == 409
    assert "no licence number" in response.json()["error"]["message"]
    assert not AuditEvent.objects.filter(action="technologist.licence_verified").exists()


def test_someone_without_a_profile_is_not_found(world: World) -> None:
    response = api_as(world.admin).get(_url(world))
    assert response.status_code == 404
    assert api_as(world.admin).get("/api/v1/technologists/abc/").status_code == 404

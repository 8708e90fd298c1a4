"""The matching API: a posting's ranked candidates for its managers, and a technologist's ranked
open postings; who may ask, what bad parameters get, and the reasons in the answers."""

from typing import Any

import pytest

from accounts.models import User
from marketplace.models import ExamFamily, Language, Scanner, SessionPosting, Vendor
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import MembershipFactory, UserFactory
from tests.scheduling.support import Clock, available, licensed, local, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanner(world: World) -> Scanner:
    world.scanner.vendor = Vendor.SIEMENS
    world.scanner.save(update_fields=["vendor"])
    return world.scanner


@pytest.fixture
def tech(world: World, clock: Clock, scanner: Scanner) -> User:
    licensed(world.technologist)
    available(world.technologist)
    return world.technologist


@pytest.fixture
def posting(world: World, tech: User) -> SessionPosting:
    """Monday 30 November 08:00–12:00 Brussels: neuro, in Dutch."""
    return post(
        world.manager,
        world.scanner,
        local(11, 30, 8),
        required_exam_families=ExamFamily.objects.filter(code="neuro"),
        languages=Language.objects.filter(code="nl"),
        urgency="priority",
    )


def candidates_url(posting_id: Any) -> str:
    return f"/api/v1/postings/{posting_id}/candidates/"


# --- A posting's candidates -------------------------------------------------------------------

CANDIDATES = {
    "anonymous": 401,
    "outsider": 404,
    "other_manager": 404,
    # Members see the posting but do not manage it, as for its other manager-only actions.
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_who_sees_a_postings_candidates(world: World, posting: SessionPosting, person: str) -> None:
    response = api_as(who(world, person)).get(candidates_url(posting.pk))
    assert response.status_code == CANDIDATES[person], response.content
    if response.status_code == 200:
        assert [row["technologist"]["id"] for row in response.json()["results"]] == [
            world.technologist.pk
        ]
    elif response.status_code != 401:
        assert "results" not in response.json()
        assert response.json()["error"]["code"] in {"not_found", "forbidden"}


def test_candidates_answer_with_scores_and_reasons(world: World, posting: SessionPosting) -> None:
    response = api_as(world.manager).get(candidates_url(posting.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["posting"] == posting.pk
    [row] = body["results"]
    assert row["technologist"] == {
        "id": world.technologist.pk,
        "name": world.technologist.display_name,
        "seniority": "experienced",
    }
    assert row["hours_this_week"] == "0.00"
    assert row["lending_hospital"] is None
    assert row["score"] == 20.0  # priority 10 + fairness 10
    reasons = {reason["term"]: reason for reason in row["reasons"]}
    assert reasons["families"] == {"term": "families", "text": "neuro ✓", "points": 0.0}
    assert reasons["language"]["text"] == "speaks nl ✓"
    assert reasons["availability"]["text"] == "available 06:00–22:00 ✓"
    assert reasons["urgency"] == {"term": "urgency", "text": "priority session", "points": 10.0}
    assert reasons["fairness"]["text"] == "0 of 38 h booked this week"


def test_a_lent_candidate_names_the_lending_hospital(
    world: World, clock: Clock, scanner: Scanner
) -> None:
    lent = UserFactory(email="lent@example.org")
    MembershipFactory(user=lent, hospital=world.other_hospital)
    licensed(lent)
    available(lent, actor=world.other_manager, lending_hospital=world.other_hospital)
    posting = post(world.manager, scanner, local(11, 30, 8))
    [row] = api_as(world.manager).get(candidates_url(posting.pk)).json()["results"]
    assert row["lending_hospital"] == {
        "id": world.other_hospital.pk,
        "name": "Ziekenhuis Scheldeland",
    }


@pytest.mark.parametrize("limit", ["0", "101", "many", "-3"])
def test_a_bad_limit_is_a_field_error(world: World, posting: SessionPosting, limit: str) -> None:
    response = api_as(world.manager).get(candidates_url(posting.pk), {"limit": limit})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["limit"]


def test_the_limit_is_kept(world: World, posting: SessionPosting) -> None:
    for i in range(3):
        other = UserFactory(email=f"more{i}@example.org")
        licensed(other)
        available(other)
    client = api_as(world.manager)
    assert len(client.get(candidates_url(posting.pk), {"limit": "2"}).json()["results"]) == 2
    assert len(client.get(candidates_url(posting.pk)).json()["results"]) == 4


def test_an_unknown_posting_is_404(world: World) -> None:
    assert api_as(world.manager).get(candidates_url(999999)).status_code == 404


# --- My matches -------------------------------------------------------------------------------

MATCHES_URL = "/api/v1/me/matches/"


def test_matches_need_a_signed_in_technologist(world: World, tech: User) -> None:
    assert api_as(None).get(MATCHES_URL).status_code == 401
    response = api_as(world.manager).get(MATCHES_URL)
    assert response.status_code == 404
    assert "no technologist profile" in response.json()["error"]["message"]


def test_my_matches_with_scores_and_reasons(world: World, posting: SessionPosting) -> None:
    post(world.manager, world.scanner, local(11, 30, 14), urgency="urgent")
    cardiac = post(
        world.manager,
        world.scanner,
        local(12, 1, 8),
        required_exam_families=ExamFamily.objects.filter(code="cardiac"),
    )
    response = api_as(world.technologist).get(MATCHES_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["ineligibility_reasons"] == []
    assert [row["urgency"] for row in body["results"]] == ["urgent", "priority"]
    assert cardiac.pk not in [row["id"] for row in body["results"]]
    row = body["results"][1]
    assert row["id"] == posting.pk
    assert row["hospital_name"] == "Hôpital Sainte-Claire"
    assert row["required_exam_families"] == ["neuro"]
    assert row["status"] == "open"
    assert row["score"] == 20.0
    texts = [reason["text"] for reason in row["reasons"]]
    assert "speaks nl ✓" in texts
    assert "available 06:00–22:00 ✓" in texts
    assert "0 of 38 h booked in the week of 30 Nov" in texts


def test_my_matches_filters(world: World, posting: SessionPosting) -> None:
    post(world.manager, world.scanner, local(11, 30, 14), urgency="urgent")
    client = api_as(world.technologist)
    urgent = client.get(MATCHES_URL, {"urgency": "urgent"}).json()["results"]
    assert [row["urgency"] for row in urgent] == ["urgent"]
    neuro = client.get(MATCHES_URL, {"exam_family": "neuro"}).json()["results"]
    assert [row["id"] for row in neuro] == [posting.pk]
    assert len(client.get(MATCHES_URL, {"limit": "1"}).json()["results"]) == 1


@pytest.mark.parametrize(
    ("param", "value"),
    [("urgency", "asap"), ("exam_family", "astrology"), ("limit", "0"), ("limit", "x")],
)
def test_bad_match_filters_are_field_errors(
    world: World, posting: SessionPosting, param: str, value: str
) -> None:
    response = api_as(world.technologist).get(MATCHES_URL, {param: value})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [param]


def test_an_ineligible_technologist_is_told_why(world: World, posting: SessionPosting) -> None:
    profile = world.technologist.technologist_profile
    profile.licence_verified_at = None
    profile.save(update_fields=["licence_verified_at"])
    body = api_as(world.technologist).get(MATCHES_URL).json()
    assert body["results"] == []
    assert body["ineligibility_reasons"] == ["Your licence has not been verified by WeScan yet."]

"""Session postings through the API: managers post, change, publish and cancel their
hospital's sessions; technologists see the open ones they qualify for; bad input is refused
field by field and saves nothing."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from marketplace.models import PostingStatus, Role, SessionPosting
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import MembershipFactory, ScannerFactory, SiteFactory
from tests.factories_supply import LicensedTechnologistFactory, PostingFactory

pytestmark = pytest.mark.django_db


def _in(days: float, hours: float = 0) -> str:
    moment = timezone.now() + timedelta(days=days, hours=hours)
    return moment.replace(microsecond=0).isoformat()


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "hospital": world.hospital.pk,
        "scanner": world.scanner.pk,
        "starts_at": _in(3),
        "ends_at": _in(3, 4),
        "required_exam_families": ["neuro"],
        "languages": ["fr", "nl"],
        "min_seniority": "experienced",
        "urgency": "priority",
        "compensation": "hourly_rate",
        "hourly_rate_eur": "62.50",
        "notes": "Neuro list, 6 exams, contrast nurse on site",
        **overrides,
    }


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.fixture
def untouched(world: World) -> Any:
    """Whatever a refused request did, no posting and no audit event were written."""
    before = (SessionPosting.objects.count(), AuditEvent.objects.count())
    yield
    assert (SessionPosting.objects.count(), AuditEvent.objects.count()) == before


# --- Creating --------------------------------------------------------------------------------

CREATE = {
    "anonymous": 401,
    # Naming a hospital one does not belong to is a field error in the body.
    "outsider": 400,
    "technologist": 403,
    "local_staff": 403,
    "manager": 201,
    "other_manager": 400,
    "admin": 201,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_posting_a_session(world: World, person: str) -> None:
    response = api_as(who(world, person)).post("/api/v1/postings/", _body(world), format="json")
    assert response.status_code == CREATE[person], response.content
    assert SessionPosting.objects.exists() is (CREATE[person] == 201)
    if CREATE[person] == 400:
        assert response.json()["error"]["fields"] == {"hospital": ["No such hospital."]}


def test_a_new_posting_reads_back_as_codes_names_and_utc(world: World) -> None:
    body = _body(world, starts_at="2027-03-22T08:00:00+01:00", ends_at="2027-03-22T11:30:00+01:00")
    response = api_as(world.manager).post("/api/v1/postings/", body, format="json")
    assert response.status_code == 201, response.content
    posting = response.json()
    assert posting["status"] == "draft"
    assert (posting["starts_at"], posting["ends_at"]) == (
        "2027-03-22T07:00:00Z",
        "2027-03-22T10:30:00Z",
    )
    assert posting["duration_hours"] == "3.50"
    assert (posting["hospital_name"], posting["site_name"], posting["scanner_name"]) == (
        "Hôpital Sainte-Claire",
        "Campus Nord",
        "MR 1",
    )
    assert posting["vendor"] == world.scanner.vendor
    assert posting["required_exam_families"] == ["neuro"]
    assert sorted(posting["languages"]) == ["fr", "nl"]
    assert (posting["compensation"], posting["hourly_rate_eur"]) == ("hourly_rate", "62.50")
    event = AuditEvent.objects.get(action="posting.created")
    assert event.actor == world.manager


def test_times_are_given_in_utc_whatever_zone_is_active(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    with timezone.override("Asia/Tokyo"):
        body = api_as(world.manager).get(f"/api/v1/postings/{posting.pk}/").json()
    assert body["starts_at"] == posting.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["created_at"].endswith("Z")


def test_publishing_at_once(world: World) -> None:
    response = api_as(world.manager).post(
        "/api/v1/postings/", _body(world, publish=True), format="json"
    )
    assert response.json()["status"] == "open"
    assert response.json()["published_at"] is not None


# --- Refused input ---------------------------------------------------------------------------


def test_another_hospitals_scanner_is_a_field_error(world: World, untouched: None) -> None:
    body = _body(world, scanner=world.other_scanner.pk)
    error = _error(api_as(world.manager).post("/api/v1/postings/", body, format="json"), 400)
    assert error["fields"] == {"scanner": ["No such scanner."]}


def test_a_scanner_of_another_of_ones_hospitals_is_refused_too(
    world: World, untouched: None
) -> None:
    MembershipFactory(user=world.manager, hospital=world.other_hospital, role=Role.MANAGER)
    body = _body(world, scanner=world.other_scanner.pk)
    error = _error(api_as(world.manager).post("/api/v1/postings/", body, format="json"), 400)
    assert error["fields"] == {"scanner": ["No such scanner in this hospital."]}


def test_an_unknown_scanner(world: World, untouched: None) -> None:
    body = _body(world, scanner=999_999)
    error = _error(api_as(world.manager).post("/api/v1/postings/", body, format="json"), 400)
    assert error["fields"] == {"scanner": ["No such scanner."]}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"ends_at": _in(2)}, "ends_at", "The session must end after it starts."),
        ({"ends_at": _in(3, 13)}, "ends_at", "A session lasts at most 12 hours."),
        (
            {"starts_at": _in(0, -1), "ends_at": _in(0, 2)},
            "starts_at",
            "The session cannot start in the past.",
        ),
        ({"compensation": "reciprocity"}, "hourly_rate_eur", "Reciprocity credits carry"),
        ({"hourly_rate_eur": None}, "hourly_rate_eur", "Give the hourly rate in EUR."),
        ({"starts_at": "2027-03-22T08:00:00"}, "starts_at", "Give the time zone offset"),
        ({"starts_at": "next tuesday"}, "starts_at", "Datetime has wrong format"),
        ({"required_exam_families": ["neuro", "tarot"]}, "required_exam_families", "tarot"),
        ({"languages": ["klingon"]}, "languages", "klingon"),
        ({"urgency": "whenever"}, "urgency", "not a valid choice"),
        ({"scanner_id": 1}, "scanner_id", "Unknown field."),
    ],
)
def test_refused_postings_name_the_field_and_save_nothing(
    world: World, untouched: None, overrides: dict[str, Any], field: str, message: str
) -> None:
    body = _body(world, **overrides)
    error = _error(api_as(world.manager).post("/api/v1/postings/", body, format="json"), 400)
    assert set(error["fields"]) == {field}
    assert message in " ".join(error["fields"][field])


@pytest.mark.parametrize(
    "notes",
    [
        "Patient born 12/03/1957, claustrophobic",
        "Ring the ward on +32 2 555 12 34",
        "NRN 57.03.12-123.45",
        "Questions: j.peeters@example.be",
    ],
)
def test_identifier_like_notes_are_refused_with_a_clear_message(
    world: World, untouched: None, notes: str
) -> None:
    body = _body(world, notes=notes)
    error = _error(api_as(world.manager).post("/api/v1/postings/", body, format="json"), 400)
    assert "Describe the work, never the patient" in error["message"]
    assert set(error["fields"]) == {"notes"}


# --- Reading ---------------------------------------------------------------------------------

READ_DRAFT = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 200,  # a member of the hospital
    "local_staff": 200,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_reading_a_draft(world: World, person: str) -> None:
    posting = PostingFactory(scanner=world.scanner, status=PostingStatus.DRAFT)
    response = api_as(who(world, person)).get(f"/api/v1/postings/{posting.pk}/")
    assert response.status_code == READ_DRAFT[person]


def test_an_open_posting_is_on_the_market_for_every_technologist(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    url = f"/api/v1/postings/{posting.pk}/"
    assert api_as(world.outsider).get(url).status_code == 404  # not a technologist
    LicensedTechnologistFactory(user=world.outsider)
    assert api_as(world.outsider).get(url).json()["id"] == posting.pk


@pytest.mark.parametrize(
    ("person", "count"),
    [
        ("technologist", 0),
        ("local_staff", 0),
        ("manager", 2),
        ("other_manager", 1),
        ("admin", 3),
    ],
)
def test_the_list_holds_the_postings_of_the_hospitals_one_manages(
    world: World, person: str, count: int
) -> None:
    PostingFactory.create_batch(2, scanner=world.scanner)
    PostingFactory(scanner=world.other_scanner)
    assert api_as(getattr(world, person)).get("/api/v1/postings/").json()["count"] == count


def test_list_filters(world: World) -> None:
    other_site = SiteFactory(hospital=world.hospital, name="Campus Sud")
    south_scanner = ScannerFactory(site=other_site, name="MR S")
    soon = PostingFactory(
        scanner=world.scanner, urgency="urgent", required_exam_families=["cardiac"]
    )
    later = PostingFactory(
        scanner=world.scanner,
        starts_at=soon.starts_at + timedelta(days=10),
        ends_at=soon.starts_at + timedelta(days=10, hours=2),
        required_exam_families=["neuro"],
    )
    draft = PostingFactory(scanner=south_scanner, status=PostingStatus.DRAFT)
    cancelled = PostingFactory(scanner=world.scanner, status=PostingStatus.CANCELLED)
    client = api_as(world.manager)

    def ids(**params: Any) -> set[int]:
        response = client.get("/api/v1/postings/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {soon.pk, later.pk, draft.pk, cancelled.pk}
    assert ids(site=other_site.pk) == {draft.pk}
    assert ids(status="open") == {soon.pk, later.pk}
    assert ids(status="cancelled") == {cancelled.pk}
    assert ids(urgency="urgent") == {soon.pk}
    assert ids(exam_family="neuro") == {later.pk}
    cut = (soon.starts_at + timedelta(days=5)).isoformat()
    assert ids(starts_after=cut) == {later.pk}
    assert later.pk not in ids(starts_before=cut)
    assert ids(hospital=world.other_hospital.pk) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"urgency": "asap"}, "urgency"),
        ({"exam_family": "tarot"}, "exam_family"),
        ({"starts_after": "tomorrow"}, "starts_after"),
        ({"site": "north"}, "site"),
    ],
)
def test_a_bad_filter_value_is_refused(world: World, params: dict[str, str], field: str) -> None:
    error = _error(api_as(world.manager).get("/api/v1/postings/", params), 400)
    assert set(error["fields"]) == {field}


def test_listing_takes_the_same_queries_for_one_or_twelve_postings(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = api_as(world.manager)
    PostingFactory(scanner=world.scanner, required_exam_families=["neuro"], languages=["fr"])
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/postings/").json()["count"] == 1
    PostingFactory.create_batch(
        11, scanner=world.scanner, required_exam_families=["neuro"], languages=["fr"]
    )
    with django_assert_max_num_queries(len(one)):
        rows = client.get("/api/v1/postings/").json()["results"]
    assert len(rows) == 12
    assert {(row["site_name"], tuple(row["required_exam_families"])) for row in rows} == {
        ("Campus Nord", ("neuro",))
    }


# --- Changing, publishing, cancelling --------------------------------------------------------

WRITE = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_changing_a_posting(world: World, person: str) -> None:
    posting = PostingFactory(scanner=world.scanner)
    response = api_as(who(world, person)).patch(
        f"/api/v1/postings/{posting.pk}/",
        {"urgency": "urgent", "required_exam_families": ["cardiac"]},
        format="json",
    )
    assert response.status_code == WRITE[person]
    posting.refresh_from_db()
    assert (posting.urgency == "urgent") is (WRITE[person] == 200)
    if WRITE[person] == 200:
        assert response.json()["required_exam_families"] == ["cardiac"]


@pytest.mark.parametrize("person", PEOPLE)
def test_publishing_a_draft(world: World, person: str) -> None:
    posting = PostingFactory(scanner=world.scanner, status=PostingStatus.DRAFT)
    response = api_as(who(world, person)).post(f"/api/v1/postings/{posting.pk}/publish/")
    assert response.status_code == WRITE[person]
    posting.refresh_from_db()
    assert (posting.status == "open") is (WRITE[person] == 200)


@pytest.mark.parametrize("person", PEOPLE)
def test_cancelling_a_posting(world: World, person: str) -> None:
    posting = PostingFactory(scanner=world.scanner)
    response = api_as(who(world, person)).post(
        f"/api/v1/postings/{posting.pk}/cancel/", {"reason": "Scanner down"}, format="json"
    )
    assert response.status_code == WRITE[person]
    posting.refresh_from_db()
    assert (posting.status == "cancelled") is (WRITE[person] == 200)


def test_moving_a_posting_to_another_hospitals_scanner_changes_nothing(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    response = api_as(world.manager).patch(
        f"/api/v1/postings/{posting.pk}/", {"scanner": world.other_scanner.pk}, format="json"
    )
    assert _error(response, 400)["fields"] == {"scanner": ["No such scanner."]}
    posting.refresh_from_db()
    assert posting.scanner == world.scanner


def test_moving_a_posting_to_another_scanner_of_its_hospital(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    other_site = SiteFactory(hospital=world.hospital, name="Campus Sud")
    south = ScannerFactory(site=other_site, name="MR S", vendor="philips")
    response = api_as(world.manager).patch(
        f"/api/v1/postings/{posting.pk}/", {"scanner": south.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["site_name"], response.json()["vendor"]) == ("Campus Sud", "philips")


def test_an_edit_with_identifier_like_notes_changes_nothing(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    response = api_as(world.manager).patch(
        f"/api/v1/postings/{posting.pk}/",
        {"notes": "ring 0475 12 34 56", "urgency": "urgent"},
        format="json",
    )
    assert "Describe the work, never the patient" in _error(response, 400)["message"]
    posting.refresh_from_db()
    assert (posting.notes, posting.urgency) == ("Neuro list, 6 exams", "routine")


@pytest.mark.parametrize("closed", ["cancelled", "filled", "expired"])
def test_a_closed_posting_can_no_longer_change(world: World, closed: str) -> None:
    posting = PostingFactory(scanner=world.scanner, status=closed)
    client = api_as(world.manager)
    url = f"/api/v1/postings/{posting.pk}/"
    assert _error(client.patch(url, {"urgency": "urgent"}, format="json"), 409)["message"]
    assert _error(client.post(f"{url}cancel/", {}, format="json"), 409)["code"] == "conflict"
    assert _error(client.post(f"{url}publish/"), 409)["code"] == "conflict"
    posting.refresh_from_db()
    assert (posting.status, posting.urgency) == (closed, "routine")


def test_a_cancellation_reason_must_not_identify_a_patient(world: World) -> None:
    posting = PostingFactory(scanner=world.scanner)
    response = api_as(world.manager).post(
        f"/api/v1/postings/{posting.pk}/cancel/",
        {"reason": "Patient DOB 1957-03-12 cancelled"},
        format="json",
    )
    assert set(_error(response, 400)["fields"]) == {"reason"}
    posting.refresh_from_db()
    assert posting.status == "open"


def test_draft_publish_cancel_is_audited_with_the_reason(world: World) -> None:
    client = api_as(world.manager)
    posting_id = client.post("/api/v1/postings/", _body(world), format="json").json()["id"]
    assert client.post(f"/api/v1/postings/{posting_id}/publish/").json()["status"] == "open"
    cancelled = client.post(
        f"/api/v1/postings/{posting_id}/cancel/", {"reason": "Scanner down"}, format="json"
    ).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["closed_at"] is not None
    events = AuditEvent.objects.order_by("pk")
    assert [e.action for e in events] == [
        "posting.created",
        "posting.published",
        "posting.cancelled",
    ]
    assert events.last().data["reason"] == "Scanner down"  # type: ignore[union-attr]


# --- Open postings for a technologist --------------------------------------------------------


def _open_ids(user: Any, **params: Any) -> set[int]:
    response = api_as(user).get("/api/v1/postings/open/", params)
    assert response.status_code == 200, response.content
    assert response.json()["ineligibility_reasons"] == []
    return {row["id"] for row in response.json()["results"]}


def test_open_postings_match_competencies_languages_vendor_and_seniority(world: World) -> None:
    LicensedTechnologistFactory(
        user=world.technologist,
        seniority="experienced",
        exam_families=["neuro", "msk"],
        languages=["fr", "nl"],
        vendors=[world.other_scanner.vendor],
    )
    scanner = world.other_scanner
    neuro = PostingFactory(scanner=scanner, required_exam_families=["neuro"])
    neuro_msk = PostingFactory(scanner=scanner, required_exam_families=["neuro", "msk"])
    cardiac = PostingFactory(scanner=scanner, required_exam_families=["cardiac"])
    dutch_or_german = PostingFactory(scanner=scanner, languages=["nl", "de"])
    german = PostingFactory(scanner=scanner, languages=["de"])
    senior = PostingFactory(scanner=scanner, min_seniority="senior")
    junior = PostingFactory(scanner=scanner, min_seniority="junior")
    unknown_vendor = PostingFactory(
        scanner=ScannerFactory(site=world.other_site, vendor="united_imaging")
    )
    PostingFactory(scanner=scanner, status=PostingStatus.DRAFT)
    PostingFactory(scanner=scanner, status=PostingStatus.CANCELLED)
    shown = _open_ids(world.technologist)
    assert shown == {neuro.pk, neuro_msk.pk, dutch_or_german.pk, junior.pk}
    assert not {cardiac.pk, german.pk, senior.pk, unknown_vendor.pk} & shown


def test_open_postings_filters(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist, exam_families=["neuro", "msk"])
    urgent = PostingFactory(scanner=world.other_scanner, urgency="urgent")
    msk = PostingFactory(
        scanner=world.other_scanner,
        required_exam_families=["msk"],
        starts_at=urgent.starts_at + timedelta(days=7),
        ends_at=urgent.starts_at + timedelta(days=7, hours=3),
    )
    assert _open_ids(world.technologist, urgency="urgent") == {urgent.pk}
    assert _open_ids(world.technologist, exam_family="msk") == {msk.pk}
    cut = (urgent.starts_at + timedelta(days=1)).isoformat()
    assert _open_ids(world.technologist, starts_after=cut) == {msk.pk}
    assert _open_ids(world.technologist, starts_before=cut) == {urgent.pk}
    bad = api_as(world.technologist).get("/api/v1/postings/open/", {"urgency": "asap"})
    assert set(_error(bad, 400)["fields"]) == {"urgency"}


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (None, "You have no technologist profile yet"),
        ({"unverified": True}, "Your licence has not been verified by WeScan yet."),
        ({"licence_valid_until": timezone.localdate() - timedelta(days=3)}, "expired on"),
    ],
)
def test_an_ineligible_technologist_sees_an_empty_list_and_why(
    world: World, profile: dict[str, Any] | None, reason: str
) -> None:
    if profile is not None:
        LicensedTechnologistFactory(user=world.technologist, **profile)
    PostingFactory(scanner=world.other_scanner)
    response = api_as(world.technologist).get("/api/v1/postings/open/")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["results"]) == (0, [])
    assert len(body["ineligibility_reasons"]) == 1
    assert reason in body["ineligibility_reasons"][0]


def test_open_postings_take_the_same_queries_for_one_or_twelve(
    world: World, django_assert_max_num_queries: Any
) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    client = api_as(world.technologist)
    PostingFactory(scanner=world.other_scanner, required_exam_families=["neuro"])
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/postings/open/").json()["count"] == 1
    PostingFactory.create_batch(11, scanner=world.other_scanner, required_exam_families=["neuro"])
    with django_assert_max_num_queries(len(one)):
        rows = client.get("/api/v1/postings/open/").json()["results"]
    assert [row["hospital_name"] for row in rows] == ["Ziekenhuis Scheldeland"] * 12

"""The posting pages of a hospital's managers, and the technologist's profile and the postings
they qualify for: who may see what, what a refused form says, and times in the site's zone."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from marketplace import services
from marketplace.models import (
    ExamFamily,
    PostingStatus,
    SessionPosting,
    TechnologistProfile,
    Urgency,
)
from tests.conftest import MANAGER_PAGE, PEOPLE, World, client_for, who
from tests.factories import ScannerFactory, SiteFactory

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture(autouse=True)
def _vocabulary(vocabulary: None) -> None:
    """Seeded by a migration, but a live-server test's flush empties the tables after it."""


def local_day(days: int) -> date:
    return timezone.now().astimezone(BRUSSELS).date() + timedelta(days=days)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = BRUSSELS) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def make_posting(world: World, *, days: int = 5, publish: bool = False, **kwargs) -> SessionPosting:
    day = local_day(days)
    options = {
        "actor": world.manager,
        "hospital": world.hospital,
        "scanner": world.scanner,
        "starts_at": at(day, 8),
        "ends_at": at(day, 12),
        "publish": publish,
        **kwargs,
    }
    return services.posting_create(**options)


def licensed(user: User, *, verified_by: User | None = None, **changes) -> TechnologistProfile:
    """A technologist profile through the services, verified when `verified_by` is given."""
    options = {
        "seniority": "experienced",
        "years_experience": 6,
        "exam_families": ExamFamily.objects.filter(code__in=["neuro", "msk"]),
        "vendors": ["siemens", "ge", "philips", "canon"],
        "home_time_zone": "Europe/Brussels",
        "licence_number": "BE-RT-001234",
        "licence_authority": "SPF Santé publique",
        "licence_valid_until": timezone.localdate() + timedelta(days=400),
        **changes,
    }
    profile = services.technologist_profile_update(actor=user, user=user, **options)
    if verified_by is not None:
        profile = services.technologist_licence_verify(actor=verified_by, profile=profile)
    return profile


def form_data(world: World, **overrides: str | list[str]) -> dict[str, str | list[str]]:
    day = local_day(6)
    data: dict[str, str | list[str]] = {
        "scanner": str(world.scanner.pk),
        "starts_at": f"{day.isoformat()}T08:00",
        "ends_at": f"{day.isoformat()}T12:30",
        "required_exam_families": [str(ExamFamily.objects.get(code="neuro").pk)],
        "languages": ["fr"],
        "min_seniority": "experienced",
        "urgency": "priority",
        "compensation": "reciprocity",
        "hourly_rate_eur": "",
        "notes": "Neuro protocol with contrast; local staff handle the injection.",
    }
    data.update(overrides)
    return data


# --- Who may see which page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["/hospitals/{hospital}/postings/", "/hospitals/{hospital}/postings/new/"]
)
@pytest.mark.parametrize("role", PEOPLE)
def test_hospital_posting_pages_are_for_its_managers(world: World, page: str, role: str) -> None:
    url = page.format(hospital=world.hospital.pk)
    response = client_for(who(world, role)).get(url)
    assert response.status_code == MANAGER_PAGE[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    if MANAGER_PAGE[role] == 404:
        assert "Hôpital Sainte-Claire" not in response.content.decode()


@pytest.mark.parametrize("role", PEOPLE)
def test_a_draft_is_seen_by_its_hospital_and_edited_by_its_managers(
    world: World, role: str
) -> None:
    posting = make_posting(world)
    client = client_for(who(world, role))
    detail = client.get(f"/postings/{posting.pk}/")
    edit = client.get(f"/postings/{posting.pk}/edit/")
    members = {"technologist": 200, "local_staff": 200}
    assert detail.status_code == members.get(role, MANAGER_PAGE[role])
    assert edit.status_code == MANAGER_PAGE[role]
    if detail.status_code == 200:
        page = detail.content.decode()
        assert ("Cancel posting" in page) == (role in {"manager", "admin"})


@pytest.mark.parametrize("action", ["publish", "cancel"])
@pytest.mark.parametrize("role", PEOPLE)
def test_publishing_and_cancelling_are_for_its_managers(
    world: World, action: str, role: str
) -> None:
    posting = make_posting(world)
    response = client_for(who(world, role)).post(f"/postings/{posting.pk}/{action}/")
    expected = {**MANAGER_PAGE, "manager": 302, "admin": 302}[role]
    assert response.status_code == expected
    posting.refresh_from_db()
    changed = {"publish": PostingStatus.OPEN, "cancel": PostingStatus.CANCELLED}[action]
    assert (posting.status == changed) == (expected == 302 and role != "anonymous")


@pytest.mark.parametrize("page", ["/me/technologist/", "/me/postings/"])
@pytest.mark.parametrize("role", PEOPLE)
def test_technologist_pages_are_personal(world: World, page: str, role: str) -> None:
    response = client_for(who(world, role)).get(page)
    assert response.status_code == (302 if role == "anonymous" else 200)


def test_an_open_posting_is_on_the_market_for_technologists_only(world: World) -> None:
    posting = make_posting(world, publish=True)
    licensed(world.outsider)
    assert client_for(world.outsider).get(f"/postings/{posting.pk}/").status_code == 200
    # Another hospital's manager is no technologist: the posting does not exist for them.
    assert client_for(world.other_manager).get(f"/postings/{posting.pk}/").status_code == 404
    assert client_for(world.outsider).get(f"/postings/{posting.pk}/edit/").status_code == 403


# --- Creating, editing, publishing ----------------------------------------------------------------


def test_a_manager_posts_a_session_in_the_sites_local_time(world: World) -> None:
    manager = client_for(world.manager)
    response = manager.post(f"/hospitals/{world.hospital.pk}/postings/new/", form_data(world))
    posting = SessionPosting.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/postings/{posting.pk}/"
    day = local_day(6)
    assert posting.starts_at == at(day, 8)
    assert posting.ends_at == at(day, 12, 30)
    assert posting.status == PostingStatus.DRAFT
    assert [f.code for f in posting.required_exam_families.all()] == ["neuro"]
    assert [lang.code for lang in posting.languages.all()] == ["fr"]

    page = manager.get(response["Location"]).content.decode()
    assert "Posting saved as a draft" in page
    assert f"{day:%a} {day.day} {day:%b %Y}, 08:00" in page
    assert "12:30" in page
    assert "Europe/Brussels" in page


def test_times_are_read_in_the_zone_of_the_scanners_site(world: World) -> None:
    lisbon = SiteFactory(hospital=world.hospital, name="Lisboa", time_zone="Europe/Lisbon")
    scanner = ScannerFactory(site=lisbon, name="MR Lisboa")
    manager = client_for(world.manager)
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        {**form_data(world, scanner=str(scanner.pk)), "publish": "1"},
    )
    assert response.status_code == 302
    posting = SessionPosting.objects.get()
    assert posting.status == PostingStatus.OPEN
    assert posting.starts_at == at(local_day(6), 8, zone=ZoneInfo("Europe/Lisbon"))
    listing = manager.get(f"/hospitals/{world.hospital.pk}/postings/").content.decode()
    assert "Europe/Lisbon" in listing
    assert "08:00" in listing


def _refused(response, field: str) -> str:
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert not SessionPosting.objects.exists()
    return " ".join(errors[field])


def test_another_hospitals_scanner_is_neither_offered_nor_accepted(world: World) -> None:
    manager = client_for(world.manager)
    page = manager.get(f"/hospitals/{world.hospital.pk}/postings/new/").content.decode()
    assert "MR 1" in page
    assert "MRI A" not in page
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        form_data(world, scanner=str(world.other_scanner.pk)),
    )
    assert "Select a valid choice" in _refused(response, "scanner")


def test_a_session_that_ends_before_it_starts_is_refused(world: World) -> None:
    day = local_day(6).isoformat()
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        form_data(world, starts_at=f"{day}T12:00", ends_at=f"{day}T09:00"),
    )
    assert "must end after it starts" in _refused(response, "ends_at")


def test_a_session_in_the_past_is_refused(world: World) -> None:
    day = local_day(-2).isoformat()
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        form_data(world, starts_at=f"{day}T08:00", ends_at=f"{day}T10:00"),
    )
    assert "cannot start in the past" in _refused(response, "starts_at")


@pytest.mark.parametrize(
    "notes",
    ["Patient DOB 12/03/1957, claustrophobic", "Call 0471 23 45 67 before", "NN 57.03.12-123.45"],
)
def test_notes_that_look_like_a_patient_identifier_are_refused(world: World, notes: str) -> None:
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/postings/new/", form_data(world, notes=notes)
    )
    message = _refused(response, "notes")
    assert "Describe the work, never the patient" in message
    # The manager's other input is kept for them to correct.
    assert 'value="experienced" selected' in response.content.decode()


def test_a_time_the_clocks_skip_is_refused(world: World) -> None:
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        form_data(world, starts_at="2027-03-28T02:30", ends_at="2027-03-28T05:00"),
    )
    assert "does not exist" in _refused(response, "starts_at")


def test_an_hourly_rate_must_be_given_with_hourly_pay(world: World) -> None:
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/postings/new/",
        form_data(world, compensation="hourly_rate"),
    )
    assert "hourly rate" in _refused(response, "hourly_rate_eur")


def test_editing_a_posting_keeps_it_in_the_sites_time(world: World) -> None:
    posting = make_posting(world)
    manager = client_for(world.manager)
    form = manager.get(f"/postings/{posting.pk}/edit/").content.decode()
    assert f'value="{local_day(5).isoformat()}T08:00"' in form
    day = local_day(7).isoformat()
    response = manager.post(
        f"/postings/{posting.pk}/edit/",
        form_data(world, starts_at=f"{day}T14:00", ends_at=f"{day}T18:00", urgency="urgent"),
    )
    assert response.status_code == 302
    posting.refresh_from_db()
    assert posting.starts_at == at(local_day(7), 14)
    assert posting.urgency == Urgency.URGENT


def test_a_refused_edit_changes_nothing(world: World) -> None:
    posting = make_posting(world, notes="Routine knee")
    response = client_for(world.manager).post(
        f"/postings/{posting.pk}/edit/", form_data(world, notes="Mr Peeters, DOB 12/03/1957")
    )
    assert response.status_code == 400
    assert "notes" in response.context["form"].errors
    posting.refresh_from_db()
    assert posting.notes == "Routine knee"


def test_a_cancelled_posting_is_no_longer_edited(world: World) -> None:
    posting = make_posting(world)
    services.posting_cancel(actor=world.manager, posting=posting)
    manager = client_for(world.manager)
    response = manager.get(f"/postings/{posting.pk}/edit/", follow=True)
    assert "This posting is cancelled: it stays as it is." in response.content.decode()
    response = manager.post(f"/postings/{posting.pk}/publish/")
    assert response.status_code == 409


def test_publishing_from_the_list_comes_back_to_the_list(world: World) -> None:
    posting = make_posting(world)
    url = f"/hospitals/{world.hospital.pk}/postings/?status=draft"
    response = client_for(world.manager).post(
        f"/postings/{posting.pk}/publish/", {"next": url}, follow=True
    )
    assert response.redirect_chain[-1][0] == url
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN
    # An address elsewhere is not followed.
    other = make_posting(world, days=6)
    response = client_for(world.manager).post(
        f"/postings/{other.pk}/publish/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/postings/{other.pk}/"


def test_a_cancellation_reason_with_patient_data_is_refused(world: World) -> None:
    posting = make_posting(world, publish=True)
    response = client_for(world.manager).post(
        f"/postings/{posting.pk}/cancel/", {"reason": "patient born 12/03/1957 cancelled"}
    )
    assert response.status_code == 400
    assert "reason" in response.context["cancel_form"].errors
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN


def test_the_list_filters(world: World) -> None:
    annexe = SiteFactory(hospital=world.hospital, name="Annexe")
    annexe_scanner = ScannerFactory(site=annexe, name="MR Annexe")
    cardiac = ExamFamily.objects.filter(code="cardiac")
    soon = make_posting(world, days=2, publish=True, urgency="urgent")
    later = make_posting(world, days=9, required_exam_families=cardiac)
    elsewhere = make_posting(world, days=4, scanner=annexe_scanner, publish=True)
    make_posting(world, days=3, publish=False)
    services.posting_create(  # another hospital's posting is never listed
        actor=world.other_manager,
        hospital=world.other_hospital,
        scanner=world.other_scanner,
        starts_at=at(local_day(3), 8),
        ends_at=at(local_day(3), 9),
    )
    manager = client_for(world.manager)

    def listed(**query: str) -> list[SessionPosting]:
        response = manager.get(f"/hospitals/{world.hospital.pk}/postings/", query)
        assert response.status_code == 200, response.context["form"].errors
        return list(response.context["postings"])

    assert len(listed()) == 4
    assert listed(status="open") == [soon, elsewhere]
    assert listed(urgency="urgent") == [soon]
    assert listed(exam_family="cardiac") == [later]
    assert listed(site=str(annexe.pk)) == [elsewhere]
    assert listed(starts_from=local_day(4).isoformat(), starts_until=local_day(9).isoformat()) == [
        elsewhere,
        later,
    ]
    response = manager.get(
        f"/hospitals/{world.hospital.pk}/postings/",
        {"site": str(world.other_site.pk), "starts_until": "soon"},
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"site", "starts_until"}


# --- The technologist's side ----------------------------------------------------------------------


def test_an_unverified_technologist_is_told_why_instead_of_an_empty_list(world: World) -> None:
    make_posting(
        world, publish=True, required_exam_families=ExamFamily.objects.filter(code="neuro")
    )
    licensed(world.technologist)
    page = client_for(world.technologist).get("/me/postings/").content.decode()
    assert "Not eligible yet" in page
    assert "Your licence has not been verified by WeScan yet." in page
    assert "No open posting matches" not in page


def test_an_expired_licence_makes_a_technologist_ineligible(world: World) -> None:
    profile = licensed(world.technologist, verified_by=world.admin)
    TechnologistProfile.objects.filter(pk=profile.pk).update(
        licence_valid_until=timezone.localdate() - timedelta(days=1)
    )
    client = client_for(world.technologist)
    for page in ("/me/technologist/", "/me/postings/"):
        text = client.get(page).content.decode()
        assert "Not eligible yet" in text
        assert "Your licence expired on" in text


def test_a_verified_technologist_sees_what_they_qualify_for(world: World) -> None:
    neuro = ExamFamily.objects.filter(code="neuro")
    fits = make_posting(world, publish=True, required_exam_families=neuro, urgency="urgent")
    routine = make_posting(world, days=8, publish=True, required_exam_families=neuro)
    make_posting(  # cardiac is not theirs
        world,
        days=6,
        publish=True,
        required_exam_families=ExamFamily.objects.filter(code="cardiac"),
    )
    make_posting(world, days=4, required_exam_families=neuro)  # a draft is not on the market
    licensed(world.technologist, verified_by=world.admin)
    client = client_for(world.technologist)

    # Without availability they qualify but cannot be booked yet: listed apart, nothing ranked.
    def shown(**query: str) -> list[SessionPosting]:
        response = client.get("/me/postings/", query)
        assert response.context["matches"] == []
        return list(response.context["others"])

    assert shown() == [fits, routine]
    assert "publish availability" in client.get("/me/postings/").content.decode()
    assert shown(urgency="urgent") == [fits]
    assert shown(starts_from=local_day(6).isoformat()) == [routine]
    assert shown(exam_family="msk") == []


def test_the_profile_page_saves_competencies_and_shows_the_verification(world: World) -> None:
    client = client_for(world.technologist)
    neuro = ExamFamily.objects.get(code="neuro")
    response = client.post(
        "/me/technologist/",
        {
            "seniority": "senior",
            "years_experience": "12",
            "exam_families": [str(neuro.pk)],
            "vendors": ["siemens", "philips"],
            "languages": ["fr", "en"],
            "home_time_zone": "Europe/Lisbon",
            "licence_number": "BE-RT-777",
            "licence_authority": "SPF Santé publique",
            "licence_valid_until": (timezone.localdate() + timedelta(days=300)).isoformat(),
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Your technologist profile is saved." in page
    assert "Your licence has not been verified by WeScan yet." in page
    profile = TechnologistProfile.objects.get(user=world.technologist)
    assert profile.seniority == "senior"
    assert profile.home_time_zone == "Europe/Lisbon"
    assert sorted(v.vendor for v in profile.vendor_familiarities.all()) == ["philips", "siemens"]

    services.technologist_licence_verify(actor=world.admin, profile=profile)
    page = client.get("/me/technologist/").content.decode()
    assert "Eligible:" in page
    assert f"by {world.admin.display_name} on" in page
    assert "Europe/Lisbon" in page


def test_changing_a_verified_licence_says_it_is_checked_again(world: World) -> None:
    licensed(world.technologist, verified_by=world.admin)
    client = client_for(world.technologist)
    data = {
        "seniority": "experienced",
        "years_experience": "6",
        "home_time_zone": "Europe/Brussels",
        "licence_number": "BE-RT-999999",
        "licence_authority": "SPF Santé publique",
        "licence_valid_until": (timezone.localdate() + timedelta(days=400)).isoformat(),
    }
    page = client.post("/me/technologist/", data, follow=True).content.decode()
    assert "WeScan verifies them again" in page
    assert "Not eligible yet" in page


def test_a_licence_number_without_its_date_is_refused(world: World) -> None:
    response = client_for(world.technologist).post(
        "/me/technologist/",
        {
            "seniority": "junior",
            "years_experience": "1",
            "home_time_zone": "Europe/Brussels",
            "licence_number": "BE-RT-1",
            "licence_authority": "",
            "licence_valid_until": "",
        },
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"licence_valid_until", "licence_authority"}
    assert not TechnologistProfile.objects.exists()

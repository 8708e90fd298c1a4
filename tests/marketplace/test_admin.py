"""The Django admin for platform staff: licence verification as an action, and a usable list of
every model of the supply and demand side."""

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.utils import timezone

from core.models import AuditEvent
from marketplace import services
from marketplace.admin import ExamFamilyAdmin
from marketplace.models import (
    ExamFamily,
    Language,
    PostingStatus,
    SessionPosting,
    TechnologistProfile,
)
from scheduling.models import AvailabilityWindow
from scheduling.services import availability_create
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/marketplace/technologistprofile/"


def _admin_client(world: World) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def _profile(
    name: str,
    *,
    valid_until: date | None,
    number: str = "BE-RT-1001",
    vendors: tuple[str, ...] = (),
) -> TechnologistProfile:
    user = UserFactory(first_name=name, last_name="Tech", email=f"{name.lower()}@example.org")
    return services.technologist_profile_update(
        actor=user,
        user=user,
        seniority="experienced",
        exam_families=ExamFamily.objects.filter(code__in=["neuro", "msk"]),
        languages=Language.objects.filter(code__in=["nl", "fr"]),
        vendors=vendors,
        licence_number=number,
        licence_authority="SPF Santé publique (BE)" if number else "",
        licence_valid_until=valid_until,
    )


def _messages(response: object) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def test_verify_licence_action_verifies_and_refuses_with_messages(world: World) -> None:
    today = timezone.localdate()
    current = _profile("Lotte", valid_until=today + timedelta(days=400))
    expired = _profile("Karim", valid_until=today - timedelta(days=1), number="BE-RT-0999")
    missing = _profile("Julie", valid_until=None, number="")

    response = _admin_client(world).post(
        CHANGELIST,
        {"action": "verify_licence", "_selected_action": [current.pk, expired.pk, missing.pk]},
        follow=True,
    )

    assert response.status_code == 200
    shown = _messages(response)
    assert ("success", "Licence verified for 1 technologist: Lotte Tech.") in shown
    errors = [text for level, text in shown if level == "error"]
    assert len(errors) == 2
    karim = [text for text in errors if text.startswith("Karim Tech: not verified.")]
    assert len(karim) == 1
    assert "expired" in karim[0]
    assert any(text.startswith("Julie Tech: not verified.") for text in errors)

    current.refresh_from_db()
    assert current.licence_verified_by == world.admin
    assert current.licence_verified_at is not None
    assert current.ineligibility_reasons() == []
    expired.refresh_from_db()
    assert expired.licence_verified_at is None
    event = AuditEvent.objects.get(action="technologist.licence_verified")
    assert (event.actor, event.target_id) == (world.admin, str(current.pk))
    assert event.data["licence_number"] == "BE-RT-1001"


def test_saving_a_changed_licence_in_the_admin_withdraws_its_verification(world: World) -> None:
    profile = _profile(
        "Lotte", valid_until=timezone.localdate() + timedelta(days=400), vendors=("siemens",)
    )
    services.technologist_licence_verify(actor=world.admin, profile=profile)
    familiarity = profile.vendor_familiarities.get()
    client = _admin_client(world)
    url = f"{CHANGELIST}{profile.pk}/change/"
    assert client.get(url).status_code == 200

    response = client.post(
        url,
        {
            "seniority": "senior",
            "years_experience": "19",
            "home_time_zone": "Europe/Brussels",
            "exam_families": [ExamFamily.objects.get(code="cardiac").pk],
            "languages": ["en"],
            "licence_number": "BE-RT-2002",
            "licence_authority": "SPF Santé publique (BE)",
            "licence_valid_until": (timezone.localdate() + timedelta(days=800)).isoformat(),
            "vendor_familiarities-TOTAL_FORMS": "2",
            "vendor_familiarities-INITIAL_FORMS": "1",
            "vendor_familiarities-MIN_NUM_FORMS": "0",
            "vendor_familiarities-MAX_NUM_FORMS": "1000",
            "vendor_familiarities-0-id": familiarity.pk,
            "vendor_familiarities-0-profile": profile.pk,
            "vendor_familiarities-0-vendor": "siemens",
            "vendor_familiarities-1-profile": profile.pk,
            "vendor_familiarities-1-vendor": "ge",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert (profile.seniority, profile.licence_number) == ("senior", "BE-RT-2002")
    assert profile.licence_verified_at is None  # a new licence is checked again
    assert [f.code for f in profile.exam_families.all()] == ["cardiac"]
    assert [lang.code for lang in profile.languages.all()] == ["en"]
    assert sorted(profile.vendor_familiarities.values_list("vendor", flat=True)) == [
        "ge",
        "siemens",
    ]
    event = AuditEvent.objects.filter(action="technologist.profile_updated").latest("id")
    assert (event.actor, event.data) == (world.admin, {"licence_changed": True})


def test_every_new_admin_changelist_loads_with_a_search(world: World) -> None:
    profile = _profile(
        "Lotte", valid_until=timezone.localdate() + timedelta(days=10), vendors=("siemens",)
    )
    services.technologist_licence_verify(actor=world.admin, profile=profile)
    starts = timezone.now() + timedelta(days=2)
    posting = services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        required_exam_families=ExamFamily.objects.filter(code="neuro"),
        languages=Language.objects.filter(code="fr"),
        urgency="urgent",
        notes="Neuro list with contrast.",
        publish=True,
    )
    window = availability_create(
        actor=world.manager,
        technologist=world.technologist,
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
        time_zone="Europe/Brussels",
        rrule="FREQ=WEEKLY;COUNT=4",
    )
    client = _admin_client(world)
    searches = {
        "/admin/marketplace/examfamily/": ("neuro", "Neuro"),
        "/admin/marketplace/language/": ("fr", "French"),
        "/admin/marketplace/technologistprofile/": ("lotte", "BE-RT-1001"),
        "/admin/marketplace/sessionposting/": ("Sainte-Claire", "Campus Nord"),
        "/admin/scheduling/availabilitywindow/": ("technologist@", "Hôpital Sainte-Claire"),
    }
    for url, (query, expected) in searches.items():
        response = client.get(url, {"q": query})
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
        assert client.get(url, {"q": "no-such-thing-xyz"}).status_code == 200, url

    assert "verified, expiring soon" in client.get(CHANGELIST).content.decode()
    for query in ("verified", "unverified", "expiring", "expired", "missing"):
        assert client.get(CHANGELIST, {"licence": query}).status_code == 200
    for url in (
        f"{CHANGELIST}add/",
        f"{CHANGELIST}{profile.pk}/change/",
        f"/admin/marketplace/sessionposting/{posting.pk}/change/",
        f"/admin/scheduling/availabilitywindow/{window.pk}/change/",
        "/admin/marketplace/examfamily/add/",
    ):
        assert client.get(url).status_code == 200, url


def test_postings_are_read_only_in_the_admin(world: World) -> None:
    starts = timezone.now() + timedelta(days=2)
    posting = services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        publish=True,
    )
    client = _admin_client(world)
    url = f"/admin/marketplace/sessionposting/{posting.pk}/change/"
    assert client.post(url, {"status": "cancelled"}).status_code == 403
    assert client.post(url.replace("change", "delete"), {"post": "yes"}).status_code == 403
    assert SessionPosting.objects.get(pk=posting.pk).status == PostingStatus.OPEN


def test_deleting_a_window_in_the_admin_is_audited(world: World) -> None:
    starts = timezone.now() + timedelta(days=1)
    window = availability_create(
        actor=world.technologist,
        technologist=world.technologist,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        time_zone="Europe/Brussels",
    )
    response = _admin_client(world).post(
        f"/admin/scheduling/availabilitywindow/{window.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not AvailabilityWindow.objects.exists()
    event = AuditEvent.objects.get(action="availability.deleted")
    assert event.actor == world.admin


def test_an_exam_family_in_use_cannot_be_deleted(world: World) -> None:
    _profile("Lotte", valid_until=timezone.localdate() + timedelta(days=100))
    neuro = ExamFamily.objects.get(code="neuro")
    unused = ExamFamily.objects.get(code="breast")
    client = _admin_client(world)
    assert client.get(f"/admin/marketplace/examfamily/{neuro.pk}/delete/").status_code == 403
    assert client.get(f"/admin/marketplace/examfamily/{unused.pk}/delete/").status_code == 200
    assert ExamFamily.objects.filter(pk=neuro.pk).exists()


def test_only_staff_reach_the_admin(world: World) -> None:
    client = Client()
    client.force_login(world.manager)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_exam_families_count_their_technologists_and_postings(world: World) -> None:
    _profile("Lotte", valid_until=timezone.localdate() + timedelta(days=100))
    _profile("Karim", valid_until=timezone.localdate() + timedelta(days=100), number="BE-RT-2")
    starts = timezone.now() + timedelta(days=2)
    services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        required_exam_families=ExamFamily.objects.filter(code__in=["neuro", "cardiac"]),
    )
    request = RequestFactory().get("/admin/marketplace/examfamily/")
    request.user = world.admin
    rows = ExamFamilyAdmin(ExamFamily, admin.site).get_queryset(request)
    counts = {f.code: (f.n_technologists, f.n_postings) for f in rows}  # type: ignore[attr-defined]
    assert counts["neuro"] == (2, 1)
    assert counts["msk"] == (2, 0)
    assert counts["cardiac"] == (0, 1)
    assert counts["breast"] == (0, 0)

"""Technologist profiles: licence verification decides eligibility, and eligibility and
competencies decide which open postings someone is shown."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, PermissionDenied
from core.models import AuditEvent
from marketplace import selectors, services
from marketplace.models import ExamFamily, Language, SessionPosting, TechnologistProfile
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _profile(world: World, **overrides: object) -> TechnologistProfile:
    options: dict[str, object] = {
        "actor": world.technologist,
        "user": world.technologist,
        "seniority": "experienced",
        "years_experience": 8,
        "exam_families": ExamFamily.objects.filter(code__in=["neuro", "msk"]),
        "languages": Language.objects.filter(code__in=["fr", "nl"]),
        "vendors": ["siemens", "ge", "philips", "canon"],
        "licence_number": "BE-RT-004512",
        "licence_authority": "SPF Santé publique",
        "licence_valid_until": timezone.localdate() + timedelta(days=400),
        **overrides,
    }
    return services.technologist_profile_update(**options)  # type: ignore[arg-type]


def _verified(world: World, **overrides: object) -> TechnologistProfile:
    return services.technologist_licence_verify(
        actor=world.admin, profile=_profile(world, **overrides)
    )


def test_a_new_profile_is_not_eligible_until_verified(world: World) -> None:
    profile = _profile(world)
    assert profile.ineligibility_reasons() == ["Your licence has not been verified by WeScan yet."]
    profile = services.technologist_licence_verify(actor=world.admin, profile=profile)
    assert profile.ineligibility_reasons() == []
    event = AuditEvent.objects.get(action="technologist.licence_verified")
    assert (event.actor, event.data["licence_number"]) == (world.admin, "BE-RT-004512")


def test_an_expired_licence_makes_one_ineligible_with_its_reason(world: World) -> None:
    profile = _verified(world)
    later = profile.licence_valid_until + timedelta(days=1)
    assert profile.ineligibility_reasons(today=later) == [
        f"Your licence expired on {profile.licence_valid_until:%d %B %Y}."
    ]


def test_changing_the_licence_withdraws_the_verification(world: World) -> None:
    _verified(world)
    profile = _profile(world, licence_number="BE-RT-999999")
    assert profile.licence_verified_at is None
    # Other changes keep it.
    profile = _verified(world)
    profile = _profile(world, years_experience=9)
    assert profile.licence_verified_at is not None


def test_only_platform_admins_verify(world: World) -> None:
    profile = _profile(world)
    with pytest.raises(PermissionDenied):
        services.technologist_licence_verify(actor=world.manager, profile=profile)


def test_an_expired_or_missing_licence_cannot_be_verified(world: World) -> None:
    profile = _profile(world, licence_valid_until=date(2020, 1, 1))
    with pytest.raises(Conflict):
        services.technologist_licence_verify(actor=world.admin, profile=profile)
    profile = _profile(world, licence_number="")
    with pytest.raises(Conflict):
        services.technologist_licence_verify(actor=world.admin, profile=profile)


def test_one_edits_only_ones_own_profile(world: World) -> None:
    with pytest.raises(PermissionDenied):
        _profile(world, actor=world.manager)


# --- Open postings one qualifies for ---------------------------------------------------------


_slots = iter(range(1000))


def _posting(world: World, **overrides: object) -> SessionPosting:
    # Each on its own morning: one scanner cannot have two sessions posted at once.
    start = timezone.now() + timedelta(days=2 + next(_slots))
    options: dict[str, object] = {
        "actor": world.other_manager,
        "hospital": world.other_hospital,
        "scanner": world.other_scanner,
        "starts_at": start,
        "ends_at": start + timedelta(hours=3),
        "publish": True,
        **overrides,
    }
    return services.posting_create(**options)  # type: ignore[arg-type]


def _shown(profile: TechnologistProfile) -> set[int]:
    return set(selectors.open_postings_for(profile=profile).values_list("pk", flat=True))


def test_qualifying_open_postings(world: World) -> None:
    profile = _verified(world)
    neuro = _posting(world, required_exam_families=ExamFamily.objects.filter(code="neuro"))
    neuro_msk = _posting(
        world, required_exam_families=ExamFamily.objects.filter(code__in=["neuro", "msk"])
    )
    cardiac = _posting(world, required_exam_families=ExamFamily.objects.filter(code="cardiac"))
    dutch_or_german = _posting(world, languages=Language.objects.filter(code__in=["nl", "de"]))
    german_only = _posting(world, languages=Language.objects.filter(code="de"))
    senior = _posting(world, min_seniority="senior")
    draft = _posting(world, publish=False)
    assert _shown(profile) == {neuro.pk, neuro_msk.pk, dutch_or_german.pk}
    assert not {cardiac.pk, german_only.pk, senior.pk, draft.pk} & _shown(profile)


def test_the_scanner_vendor_must_be_familiar(world: World) -> None:
    profile = _verified(world, vendors=["canon"])
    posting = _posting(world)
    shown = _shown(profile)
    assert (posting.pk in shown) is (world.other_scanner.vendor == "canon")


def test_an_ineligible_technologist_is_shown_nothing(world: World) -> None:
    profile = _profile(world)  # never verified
    _posting(world)
    assert _shown(profile) == set()


def test_the_list_takes_the_same_queries_whatever_its_length(
    world: World, django_assert_max_num_queries: object
) -> None:
    profile = _verified(world)
    for _ in range(8):
        _posting(world, required_exam_families=ExamFamily.objects.filter(code="neuro"))
    profile = TechnologistProfile.objects.get(pk=profile.pk)
    # The profile's three competency lists, the postings, their families and languages.
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        rows = list(selectors.open_postings_for(profile=profile))
        assert [p.hospital.name for p in rows] == ["Ziekenhuis Scheldeland"] * 8
        assert {f.code for p in rows for f in p.family_list} == {"neuro"}

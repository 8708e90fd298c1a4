"""Factories for the supply and demand side: technologists with a licence, and postings."""

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from marketplace.models import (
    ExamFamily,
    Language,
    PostingStatus,
    Seniority,
    SessionPosting,
    TechnologistProfile,
    VendorFamiliarity,
)
from tests.factories import ScannerFactory, UserFactory


class LicensedTechnologistFactory(DjangoModelFactory):
    """A bookable technologist: verified, unexpired licence. Competencies are given by code:
    `exam_families=["neuro"]`, `languages=["fr"]`, `vendors=["siemens"]`."""

    class Meta:
        model = TechnologistProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    seniority = Seniority.EXPERIENCED
    years_experience = 8
    home_time_zone = "Europe/Brussels"
    licence_number = factory.Sequence(lambda n: f"BE-RT-{n:06d}")
    licence_authority = "SPF Santé publique"
    licence_valid_until = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=400))
    licence_verified_at = factory.LazyFunction(timezone.now)

    class Params:
        unverified = factory.Trait(licence_verified_at=None)

    @factory.post_generation
    def exam_families(obj: TechnologistProfile, create: bool, extracted: Any, **kwargs: Any):
        codes = ["neuro", "msk"] if extracted is None else extracted
        obj.exam_families.set(ExamFamily.objects.filter(code__in=codes))

    @factory.post_generation
    def languages(obj: TechnologistProfile, create: bool, extracted: Any, **kwargs: Any):
        codes = ["fr", "nl"] if extracted is None else extracted
        obj.languages.set(Language.objects.filter(code__in=codes))

    @factory.post_generation
    def vendors(obj: TechnologistProfile, create: bool, extracted: Any, **kwargs: Any):
        codes = ["siemens", "ge", "philips", "canon"] if extracted is None else extracted
        for vendor in codes:
            VendorFamiliarity.objects.create(profile=obj, vendor=vendor)


class PostingFactory(DjangoModelFactory):
    """An open posting three days ahead on a scanner (its hospital, site and vendor follow)."""

    class Meta:
        model = SessionPosting
        skip_postgeneration_save = True

    scanner = factory.SubFactory(ScannerFactory)
    hospital = factory.LazyAttribute(lambda o: o.scanner.site.hospital)
    site = factory.LazyAttribute(lambda o: o.scanner.site)
    vendor = factory.LazyAttribute(lambda o: o.scanner.vendor)
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    )
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=4))
    status = PostingStatus.OPEN
    published_at = factory.LazyFunction(timezone.now)
    notes = "Neuro list, 6 exams"

    @factory.post_generation
    def required_exam_families(obj: SessionPosting, create: bool, extracted: Any, **kwargs: Any):
        if extracted:
            obj.required_exam_families.set(ExamFamily.objects.filter(code__in=extracted))

    @factory.post_generation
    def languages(obj: SessionPosting, create: bool, extracted: Any, **kwargs: Any):
        if extracted:
            obj.languages.set(Language.objects.filter(code__in=extracted))

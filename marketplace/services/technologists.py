"""Technologist profiles and the licence check that makes them bookable."""

from collections.abc import Iterable
from datetime import date, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, PermissionDenied, ValidationFailed, validate_instance
from marketplace.models import (
    ExamFamily,
    Language,
    Seniority,
    TechnologistProfile,
    Vendor,
    VendorFamiliarity,
)

__all__ = [
    "LICENCE_WARNING_DAYS",
    "licence_expiry_warnings_due",
    "licence_mark_warned",
    "technologist_licence_verify",
    "technologist_profile_update",
]

LICENCE_WARNING_DAYS = 30
_LICENCE_FIELDS = ("licence_number", "licence_authority", "licence_valid_until")


@transaction.atomic
def technologist_profile_update(
    *,
    actor: User,
    user: User,
    seniority: str | None = None,
    years_experience: int | None = None,
    exam_families: Iterable[ExamFamily] | None = None,
    languages: Iterable[Language] | None = None,
    vendors: Iterable[str] | None = None,
    home_time_zone: str | None = None,
    licence_number: str | None = None,
    licence_authority: str | None = None,
    licence_valid_until: date | None = None,
) -> TechnologistProfile:
    """Create or change one's own profile (platform admins may change anyone's). Changing the
    licence withdraws its verification: a new number or date must be checked again."""
    if actor.pk != user.pk and not actor.is_staff:
        raise PermissionDenied(_("Only the technologist edits their own profile."))
    profile = TechnologistProfile.objects.select_for_update(of=("self",)).filter(user=user).first()
    created = profile is None
    if profile is None:
        profile = TechnologistProfile(user=user, seniority=seniority or Seniority.JUNIOR)
    licence_before = [getattr(profile, field) for field in _LICENCE_FIELDS]
    changes = {
        "seniority": seniority,
        "years_experience": years_experience,
        "home_time_zone": home_time_zone,
        "licence_number": None if licence_number is None else licence_number.strip(),
        "licence_authority": None if licence_authority is None else licence_authority.strip(),
    }
    for field, value in changes.items():
        if value is not None:
            setattr(profile, field, value)
    if licence_valid_until is not None or (licence_number is not None and not licence_number):
        profile.licence_valid_until = licence_valid_until
    licence_changed = not created and licence_before != [
        getattr(profile, field) for field in _LICENCE_FIELDS
    ]
    if licence_changed or created:
        profile.licence_verified_at = None
        profile.licence_verified_by = None
    if vendors is not None:
        unknown = sorted(set(vendors) - set(Vendor.values))
        if unknown:
            raise ValidationFailed(
                _("Unknown vendor."),
                fields={"vendors": [_("Not a vendor: %(codes)s.") % {"codes": ", ".join(unknown)}]},
            )
    validate_instance(profile, exclude=["user"])
    profile.save()
    if exam_families is not None:
        profile.exam_families.set(exam_families)
    if languages is not None:
        profile.languages.set(languages)
    if vendors is not None:
        profile.vendor_familiarities.exclude(vendor__in=list(vendors)).delete()
        for vendor in sorted(set(vendors)):
            VendorFamiliarity.objects.get_or_create(profile=profile, vendor=vendor)
    audit_record(
        actor=actor,
        action="technologist.profile_created" if created else "technologist.profile_updated",
        target=profile,
        data={"licence_changed": licence_changed},
    )
    return profile


@transaction.atomic
def technologist_licence_verify(
    *, actor: User, profile: TechnologistProfile
) -> TechnologistProfile:
    """A platform admin confirms the licence is genuine and current: who and when are recorded."""
    if not actor.is_staff:
        raise PermissionDenied(_("Only platform admins verify licences."))
    profile = TechnologistProfile.objects.select_for_update(of=("self",)).get(pk=profile.pk)
    if not profile.licence_number or not profile.licence_authority:
        raise Conflict(_("There is no licence number and issuing authority to verify."))
    if profile.licence_valid_until is None or profile.licence_valid_until < timezone.localdate():
        raise Conflict(_("This licence has expired or has no expiry date; it cannot be verified."))
    profile.licence_verified_at = timezone.now()
    profile.licence_verified_by = actor
    profile.save(update_fields=["licence_verified_at", "licence_verified_by", "updated_at"])
    audit_record(
        actor=actor,
        action="technologist.licence_verified",
        target=profile,
        data={
            "technologist": profile.user_id,
            "licence_number": profile.licence_number,
            "valid_until": profile.licence_valid_until.isoformat(),
        },
    )
    return profile


def licence_expiry_warnings_due(*, today: date) -> list[int]:
    """Profiles whose verified licence ends within the warning period and who were not yet
    warned about this expiry date."""
    return list(
        TechnologistProfile.objects.filter(
            licence_verified_at__isnull=False,
            licence_valid_until__gte=today,
            licence_valid_until__lte=today + timedelta(days=LICENCE_WARNING_DAYS),
        )
        .exclude(licence_expiry_warned_for=F("licence_valid_until"))
        .values_list("pk", flat=True)
    )


def licence_mark_warned(
    *, profile_id: int, today: date | None = None
) -> TechnologistProfile | None:
    """Claim the warning for this profile's current expiry date; None if already claimed, or if
    the licence is no longer due a warning (changed since `licence_expiry_warnings_due` listed
    it: claiming a new, far expiry date now would leave it without a warning later)."""
    today = today or timezone.localdate()
    with transaction.atomic():
        profile = (
            TechnologistProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=profile_id)
            .first()
        )
        if profile is None or profile.licence_valid_until is None:
            return None
        if profile.licence_verified_at is None or not (
            today <= profile.licence_valid_until <= today + timedelta(days=LICENCE_WARNING_DAYS)
        ):
            return None
        if profile.licence_expiry_warned_for == profile.licence_valid_until:
            return None
        profile.licence_expiry_warned_for = profile.licence_valid_until
        profile.save(update_fields=["licence_expiry_warned_for"])
        return profile

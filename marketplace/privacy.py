"""What the marketplace holds about a person, for their download and their erasure
(registered with `accounts.privacy` in `MarketplaceConfig.ready`)."""

from typing import Any

from django.utils.translation import gettext as _

from accounts.models import User
from core.audit import audit_record
from marketplace.models import Invitation, Membership, Role, SessionPosting, TechnologistProfile


def memberships(user: User) -> Any:
    return (
        Membership.objects.filter(user=user)
        .order_by("created_at", "pk")
        .values("hospital_id", "hospital__name", "role", "created_at")
    )


def technologist_profile(user: User) -> list[dict[str, Any]]:
    profile = (
        TechnologistProfile.objects.filter(user=user)
        .prefetch_related("exam_families", "languages", "vendor_familiarities")
        .first()
    )
    if profile is None:
        return []
    return [
        {
            "seniority": profile.seniority,
            "years_experience": profile.years_experience,
            "exam_families": [family.name for family in profile.exam_families.all()],
            "languages": [language.code for language in profile.languages.all()],
            "vendors": [item.vendor for item in profile.vendor_familiarities.all()],
            "home_time_zone": profile.home_time_zone,
            "licence_number": profile.licence_number,
            "licence_authority": profile.licence_authority,
            "licence_valid_until": profile.licence_valid_until,
            "licence_verified_at": profile.licence_verified_at,
            "on_call_paused": profile.on_call_paused,
            "updated_at": profile.updated_at,
        }
    ]


def invitations_received(user: User) -> Any:
    return (
        Invitation.objects.filter(email__iexact=user.email)
        .order_by("created_at", "pk")
        .values("hospital__name", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    )


def invitations_sent(user: User) -> Any:
    # The invitee's address is theirs, not this person's: left out.
    return (
        Invitation.objects.filter(invited_by=user)
        .order_by("created_at", "pk")
        .values("hospital__name", "role", "created_at", "accepted_at", "revoked_at")
    )


def postings_created(user: User) -> Any:
    return (
        SessionPosting.objects.filter(created_by=user)
        .order_by("created_at", "pk")
        .values("id", "hospital__name", "starts_at", "ends_at", "status", "created_at")
    )


def refusals(user: User) -> list[str]:
    """A hospital is never left without a manager: its only (active) manager cannot go."""
    managed = Membership.objects.filter(user=user, role=Role.MANAGER).select_related("hospital")
    reasons = []
    for membership in managed.order_by("hospital__name", "hospital_id"):
        others = Membership.objects.filter(
            hospital_id=membership.hospital_id, role=Role.MANAGER, user__is_active=True
        ).exclude(user=user)
        if not others.exists():
            reasons.append(
                _("You are the only manager of %(hospital)s: make someone else manager first.")
                % {"hospital": membership.hospital.name}
            )
    return reasons


def erase(user: User) -> None:
    """An erased person belongs to no hospital, receives no invitation, and their profile
    says nothing about them (it stays, empty, for the bookings that point at them).

    Each hospital they belonged to reads their departure in its own trail: an event in the
    hospital's name whose actor is the person (the page names them by their pseudonym, as
    erasure pseudonymises the account right after), holding their role and nothing else."""
    for membership in Membership.objects.filter(user=user).order_by("pk"):
        audit_record(
            actor=user,
            action="membership.erased",
            target=membership,
            hospital=membership.hospital,
            data={"role": membership.role},
        )
    Membership.objects.filter(user=user).delete()
    Invitation.objects.filter(email__iexact=user.email).delete()
    profile = TechnologistProfile.objects.filter(user=user).first()
    if profile is None:
        return
    profile.exam_families.clear()
    profile.languages.clear()
    profile.vendor_familiarities.all().delete()
    profile.years_experience = 0
    profile.licence_number = ""
    profile.licence_authority = ""
    profile.licence_valid_until = None
    profile.licence_expiry_warned_for = None
    profile.on_call_paused = True
    profile.save(
        update_fields=[
            "years_experience",
            "licence_number",
            "licence_authority",
            "licence_valid_until",
            "licence_expiry_warned_for",
            "on_call_paused",
            "updated_at",
        ]
    )


def register() -> None:
    from accounts.privacy import (
        register_erasure_refusal,
        register_personal_data_eraser,
        register_personal_data_section,
    )

    register_personal_data_section("hospital_memberships", memberships)
    register_personal_data_section("technologist_profile", technologist_profile)
    register_personal_data_section("invitations_received", invitations_received)
    register_personal_data_section("invitations_sent", invitations_sent)
    register_personal_data_section("postings_created", postings_created)
    register_erasure_refusal(refusals)
    register_personal_data_eraser("marketplace", erase)

"""Reads shared by the pages, the API and tasks, always scoped through `marketplace.access`."""

import hashlib
from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from marketplace.access import hospitals_managed_by, hospitals_visible_to, technologists_managed_by
from marketplace.models import (
    Hospital,
    Invitation,
    Membership,
    PostingStatus,
    Role,
    Scanner,
    Seniority,
    SessionPosting,
    Site,
    TechnologistProfile,
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hospital_list(*, user: User) -> QuerySet[Hospital]:
    # One counting subquery per total: two joins would multiply sites by members before counting.
    return hospitals_visible_to(user).annotate(
        site_count=_count_per_hospital(Site.objects.all()),
        member_count=_count_per_hospital(Membership.objects.all()),
    )


def _count_per_hospital(rows: QuerySet[Any]) -> Coalesce:
    counted = (
        rows.filter(hospital=OuterRef("pk"))
        .order_by()
        .values("hospital")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def site_list(*, user: User, hospital_id: int | None = None) -> QuerySet[Site]:
    sites = Site.objects.select_related("hospital").filter(hospital__in=hospitals_visible_to(user))
    if hospital_id is not None:
        sites = sites.filter(hospital_id=hospital_id)
    return sites


def scanner_list(
    *,
    user: User,
    hospital_id: int | None = None,
    site_id: int | None = None,
    cockpit_ready: bool | None = None,
) -> QuerySet[Scanner]:
    scanners = Scanner.objects.select_related("site__hospital").filter(
        site__hospital__in=hospitals_visible_to(user)
    )
    if hospital_id is not None:
        scanners = scanners.filter(site__hospital_id=hospital_id)
    if site_id is not None:
        scanners = scanners.filter(site_id=site_id)
    if cockpit_ready is not None:
        scanners = scanners.filter(cockpit_ready=cockpit_ready)
    return scanners


def membership_list(*, user: User, hospital_id: int | None = None) -> QuerySet[Membership]:
    memberships = Membership.objects.select_related("user", "hospital").filter(
        hospital__in=hospitals_visible_to(user)
    )
    if hospital_id is not None:
        memberships = memberships.filter(hospital_id=hospital_id)
    return memberships


def invitation_list(*, user: User, hospital_id: int | None = None) -> QuerySet[Invitation]:
    invitations = Invitation.objects.select_related("hospital", "invited_by").filter(
        hospital__in=hospitals_managed_by(user)
    )
    if hospital_id is not None:
        invitations = invitations.filter(hospital_id=hospital_id)
    return invitations


def invitations_addressed_to(*, user: User) -> QuerySet[Invitation]:
    """Pending invitations sent to this person's e-mail address, which they may accept."""
    return Invitation.objects.pending().select_related("hospital").filter(email__iexact=user.email)


def invitation_by_token(*, token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("hospital").filter(token_hash=token_hash(token)).first()
    )


def scanner_by_device_token(*, token: str) -> Scanner | None:
    """How a scanner agent is recognised when it connects to the cockpit relay."""
    if not token:
        return None
    return (
        Scanner.objects.select_related("site__hospital")
        .filter(device_token_hash=token_hash(token))
        .first()
    )


# --- Wall clocks ------------------------------------------------------------------------------


def hospital_time_zone(hospital: Hospital) -> str:
    """The wall clock a hospital's pages use when no single site is meant: the time zone most of
    its sites share (UTC for a hospital without sites)."""
    zones = Counter(site.time_zone for site in hospital.sites.all())
    return zones.most_common(1)[0][0] if zones else "UTC"


def viewer_time_zone(user: User) -> str:
    """The wall clock a person's own pages use: a technologist's home time zone, else that of
    their first hospital, else UTC."""
    profile = getattr(user, "technologist_profile", None)
    if profile is not None:
        return str(profile.home_time_zone)
    membership = user.memberships.select_related("hospital").order_by("pk").first()
    return hospital_time_zone(membership.hospital) if membership is not None else "UTC"


# --- Technologists and postings ---------------------------------------------------------------


def technologist_profile_for(*, user: User) -> TechnologistProfile | None:
    return (
        TechnologistProfile.objects.select_related("user", "licence_verified_by")
        .prefetch_related("exam_families", "languages", "vendor_familiarities")
        .filter(user=user)
        .first()
    )


def technologist_list(
    *, user: User, hospital_id: int | None = None, verified: bool | None = None
) -> QuerySet[TechnologistProfile]:
    """Profiles a person may look at: platform admins see all, managers their hospitals'
    technologists, anyone their own."""
    profiles = TechnologistProfile.objects.select_related("user").prefetch_related(
        "exam_families", "languages", "vendor_familiarities"
    )
    if not user.is_staff:
        profiles = profiles.filter(
            Q(user__in=technologists_managed_by(user)) | Q(user=user)
        ).distinct()
    if hospital_id is not None:
        profiles = profiles.filter(user__memberships__hospital_id=hospital_id)
    if verified is not None:
        profiles = profiles.filter(licence_verified_at__isnull=not verified)
    return profiles


def posting_list(
    *,
    user: User,
    hospital_id: int | None = None,
    site_id: int | None = None,
    status: str | None = None,
    urgency: str | None = None,
    exam_family: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
) -> QuerySet[SessionPosting]:
    """The postings of the hospitals one manages, with every filter of the managers' list."""
    postings = _posting_rows(SessionPosting.objects.filter(hospital__in=hospitals_managed_by(user)))
    return _filter_postings(
        postings,
        hospital_id=hospital_id,
        site_id=site_id,
        status=status,
        urgency=urgency,
        exam_family=exam_family,
        starts_after=starts_after,
        starts_before=starts_before,
    )


def open_postings_for(
    *,
    profile: TechnologistProfile,
    urgency: str | None = None,
    exam_family: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    now: datetime | None = None,
) -> QuerySet[SessionPosting]:
    """Open, future postings this technologist qualifies for: every required exam family, the
    scanner's vendor, a shared language when languages are asked, and the minimum seniority.
    Nothing at all while their licence does not make them eligible. All in one query."""
    if profile.ineligibility_reasons(today=timezone.localdate(now) if now else None):
        return SessionPosting.objects.none()
    # The profile's own competencies as plain lists of ids: three tiny queries, and simpler SQL
    # for the big one than correlated subqueries (faster to compile and to run).
    families = list(profile.exam_families.values_list("pk", flat=True))
    languages = list(profile.languages.values_list("pk", flat=True))
    vendors = list(profile.vendor_familiarities.values_list("vendor", flat=True))
    required = SessionPosting.required_exam_families.through.objects.filter(
        sessionposting_id=OuterRef("pk")
    )
    asked = SessionPosting.languages.through.objects.filter(sessionposting_id=OuterRef("pk"))
    postings = SessionPosting.objects.filter(
        status=PostingStatus.OPEN,
        starts_at__gt=now or timezone.now(),
        min_seniority__in=Seniority.at_most(profile.seniority),
        vendor__in=vendors,
    ).filter(
        ~Exists(required.exclude(examfamily_id__in=families)),
        ~Exists(asked) | Exists(asked.filter(language_id__in=languages)),
    )
    return _filter_postings(
        _posting_rows(postings),
        urgency=urgency,
        exam_family=exam_family,
        starts_after=starts_after,
        starts_before=starts_before,
    )


def _posting_rows(postings: QuerySet[SessionPosting]) -> QuerySet[SessionPosting]:
    return postings.select_related("hospital", "site", "scanner").prefetch_related(
        Prefetch("required_exam_families", to_attr="prefetched_families"),
        Prefetch("languages", to_attr="prefetched_languages"),
    )


def _filter_postings(
    postings: QuerySet[SessionPosting],
    *,
    hospital_id: int | None = None,
    site_id: int | None = None,
    status: str | None = None,
    urgency: str | None = None,
    exam_family: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
) -> QuerySet[SessionPosting]:
    if hospital_id is not None:
        postings = postings.filter(hospital_id=hospital_id)
    if site_id is not None:
        postings = postings.filter(site_id=site_id)
    if status:
        postings = postings.filter(status=status)
    if urgency:
        postings = postings.filter(urgency=urgency)
    if exam_family:
        postings = postings.filter(
            Exists(
                SessionPosting.required_exam_families.through.objects.filter(
                    sessionposting_id=OuterRef("pk"), examfamily__code=exam_family
                )
            )
        )
    if starts_after is not None:
        postings = postings.filter(starts_at__gte=starts_after)
    if starts_before is not None:
        postings = postings.filter(starts_at__lt=starts_before)
    return postings


def holds_role_needing_second_factor(user: User) -> bool:
    """Managers (who book and decide who may) and local staff (who hand over a scanner with a
    patient in it) must sign in with a second factor."""
    return Membership.objects.filter(user=user, role__in=[Role.MANAGER, Role.LOCAL_STAFF]).exists()

"""Reads shared by the pages, the API and tasks, always scoped through `marketplace.access`."""

import hashlib
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import User
from marketplace.access import hospitals_managed_by, hospitals_visible_to
from marketplace.models import Hospital, Invitation, Membership, Scanner, Site


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

"""Tenancy. Every object a user asks for is fetched through here, scoped to their memberships:
what another hospital owns does not exist for them (404); what their role may not do is 403.
Platform admins (`is_staff`) see and manage every hospital."""

from typing import cast

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from core.errors import NotFound, PermissionDenied
from core.ids import as_id
from marketplace.models import (
    Hospital,
    Invitation,
    Membership,
    PostingStatus,
    Role,
    Scanner,
    SessionPosting,
    Site,
    TechnologistProfile,
)

# What the API answers a person who asks for their technologist profile before having one.
# Lazy (said in the language of whoever is answered), typed as the text it becomes.
NO_PROFILE = cast(
    str,
    gettext_lazy(
        "You have no technologist profile yet: add your competencies and licence "
        "(PATCH /api/v1/technologists/me/)."
    ),
)


def hospitals_visible_to(user: User) -> QuerySet[Hospital]:
    if user.is_staff:
        return Hospital.objects.all()
    # A subquery rather than a join: counts annotated on top must see every membership.
    return Hospital.objects.filter(pk__in=Membership.objects.filter(user=user).values("hospital"))


def hospitals_managed_by(user: User) -> QuerySet[Hospital]:
    if user.is_staff:
        return Hospital.objects.all()
    managed = Membership.objects.filter(user=user, role=Role.MANAGER).values("hospital")
    return Hospital.objects.filter(pk__in=managed)


def role_in(user: User, hospital: Hospital) -> str | None:
    membership = Membership.objects.filter(user=user, hospital=hospital).only("role").first()
    return membership.role if membership else None


def can_manage(user: User, hospital: Hospital) -> bool:
    return user.is_staff or role_in(user, hospital) == Role.MANAGER


def require_manager(user: User, hospital: Hospital) -> None:
    if not can_manage(user, hospital):
        raise PermissionDenied(
            _("Only a manager of %(hospital)s may do this.") % {"hospital": hospital.name}
        )


def access_hospital(user: User, hospital_id: int | str, *, manage: bool = False) -> Hospital:
    hospital = (
        hospitals_visible_to(user)
        .filter(pk=as_id(hospital_id, message=_("No such hospital.")))
        .first()
    )
    if hospital is None:
        raise NotFound(_("No such hospital."))
    if manage:
        require_manager(user, hospital)
    return hospital


def access_site(user: User, site_id: int | str, *, manage: bool = False) -> Site:
    site = (
        Site.objects.select_related("hospital")
        .filter(
            pk=as_id(site_id, message=_("No such site.")), hospital__in=hospitals_visible_to(user)
        )
        .first()
    )
    if site is None:
        raise NotFound(_("No such site."))
    if manage:
        require_manager(user, site.hospital)
    return site


def access_scanner(user: User, scanner_id: int | str, *, manage: bool = False) -> Scanner:
    scanner = (
        Scanner.objects.select_related("site__hospital")
        .filter(
            pk=as_id(scanner_id, message=_("No such scanner.")),
            site__hospital__in=hospitals_visible_to(user),
        )
        .first()
    )
    if scanner is None:
        raise NotFound(_("No such scanner."))
    if manage:
        require_manager(user, scanner.site.hospital)
    return scanner


def access_membership(user: User, membership_id: int | str, *, manage: bool = False) -> Membership:
    membership = (
        Membership.objects.select_related("hospital", "user")
        .filter(
            pk=as_id(membership_id, message=_("No such membership.")),
            hospital__in=hospitals_visible_to(user),
        )
        .first()
    )
    if membership is None:
        raise NotFound(_("No such membership."))
    if manage:
        require_manager(user, membership.hospital)
    return membership


def access_invitation(user: User, invitation_id: int | str) -> Invitation:
    """Invitations are the managers' business: other members do not see them at all."""
    invitation = (
        Invitation.objects.select_related("hospital", "invited_by")
        .filter(
            pk=as_id(invitation_id, message=_("No such invitation.")),
            hospital__in=hospitals_managed_by(user),
        )
        .first()
    )
    if invitation is None:
        raise NotFound(_("No such invitation."))
    return invitation


def access_posting(user: User, posting_id: int | str, *, manage: bool = False) -> SessionPosting:
    """A posting is seen by its hospital's members, and, once open, by every technologist (it is
    on the market); it is changed only by its hospital's managers."""
    posting = (
        SessionPosting.objects.select_related("hospital", "site", "scanner")
        .filter(pk=as_id(posting_id, message=_("No such posting.")))
        .first()
    )
    if posting is None:
        raise NotFound(_("No such posting."))
    # The role read once: it decides both whether they see it and whether they manage it.
    role = None if user.is_staff else role_in(user, posting.hospital)
    visible = (
        user.is_staff
        or role is not None
        or (
            posting.status == PostingStatus.OPEN
            and TechnologistProfile.objects.filter(user=user).exists()
        )
    )
    if not visible:
        raise NotFound(_("No such posting."))
    if manage and not (user.is_staff or role == Role.MANAGER):
        require_manager(user, posting.hospital)  # refuses, in the words of every other refusal
    return posting


def technologists_managed_by(user: User) -> QuerySet[User]:
    """The people a manager may lend: technologists of the hospitals they manage."""
    if user.is_staff:
        return User.objects.filter(technologist_profile__isnull=False)
    return User.objects.filter(
        memberships__role=Role.TECHNOLOGIST,
        memberships__hospital__in=hospitals_managed_by(user),
    ).distinct()


def access_technologist(user: User, technologist_id: int | str) -> User:
    """Oneself, or a technologist of a hospital one manages; anyone else does not exist here."""
    pk = as_id(technologist_id, message=_("No such technologist in your hospitals."))
    if pk == user.pk:
        return user
    technologist = technologists_managed_by(user).filter(pk=pk).first()
    if technologist is None:
        raise NotFound(_("No such technologist in your hospitals."))
    return technologist

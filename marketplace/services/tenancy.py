"""Every write to hospitals, sites, scanners, memberships and invitations. Each function checks the
actor's right, changes the rows in one transaction together with their audit record, and leaves
side effects (mail) to run on commit."""

__all__ = [
    "hospital_create",
    "hospital_update",
    "invitation_accept",
    "invitation_check",
    "invitation_create",
    "invitation_revoke",
    "membership_change_role",
    "membership_remove",
    "scanner_create",
    "scanner_delete",
    "scanner_rotate_token",
    "scanner_update",
    "site_create",
    "site_delete",
    "site_update",
]

import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, Gone, PermissionDenied, ValidationFailed, validate_instance
from core.notify import messages_in_languages, push_on_commit
from marketplace.access import require_manager
from marketplace.models import (
    Hospital,
    Invitation,
    Membership,
    Modality,
    Role,
    Scanner,
    Site,
    role_in_sentence,
)
from marketplace.selectors import token_hash

# --- Hospitals ---------------------------------------------------------------------------------


@transaction.atomic
def hospital_create(*, actor: User, name: str, country: str, city: str = "") -> Hospital:
    if not actor.is_staff:
        raise PermissionDenied(_("Only platform admins onboard hospitals."))
    hospital = Hospital(name=name.strip(), country=country.upper(), city=city.strip())
    validate_instance(hospital)
    hospital.save()
    audit_record(actor=actor, action="hospital.created", target=hospital, hospital=hospital)
    return hospital


@transaction.atomic
def hospital_update(
    *,
    actor: User,
    hospital: Hospital,
    name: str | None = None,
    city: str | None = None,
    country: str | None = None,
) -> Hospital:
    require_manager(actor, hospital)
    changes = {
        field: value
        for field, value in {"name": name, "city": city, "country": country}.items()
        if value is not None
    }
    for field, value in changes.items():
        setattr(hospital, field, value.upper() if field == "country" else value.strip())
    validate_instance(hospital)
    hospital.save(update_fields=list(changes))
    audit_record(
        actor=actor, action="hospital.updated", target=hospital, hospital=hospital, data=changes
    )
    return hospital


# --- Sites -------------------------------------------------------------------------------------


@transaction.atomic
def site_create(
    *, actor: User, hospital: Hospital, name: str, time_zone: str, city: str = ""
) -> Site:
    require_manager(actor, hospital)
    site = Site(hospital=hospital, name=name.strip(), time_zone=time_zone, city=city.strip())
    validate_instance(site)
    site.save()
    audit_record(
        actor=actor,
        action="site.created",
        target=site,
        hospital=hospital,
        data={"name": site.name, "time_zone": time_zone},
    )
    return site


@transaction.atomic
def site_update(
    *,
    actor: User,
    site: Site,
    name: str | None = None,
    time_zone: str | None = None,
    city: str | None = None,
) -> Site:
    require_manager(actor, site.hospital)
    changes = {
        field: value
        for field, value in {"name": name, "time_zone": time_zone, "city": city}.items()
        if value is not None
    }
    for field, value in changes.items():
        setattr(site, field, value)
    validate_instance(site)
    site.save(update_fields=list(changes))
    audit_record(
        actor=actor, action="site.updated", target=site, hospital=site.hospital, data=changes
    )
    return site


@transaction.atomic
def site_delete(*, actor: User, site: Site) -> None:
    require_manager(actor, site.hospital)
    if site.scanners.exists():
        raise Conflict(_("Move or delete this site's scanners first."))
    audit_record(
        actor=actor,
        action="site.deleted",
        target=site,
        hospital=site.hospital,
        data={"name": site.name},
    )
    site.delete()


# --- Scanners ----------------------------------------------------------------------------------

SCANNER_FIELDS = (
    "name",
    "modality",
    "vendor",
    "model_name",
    "field_strength_tesla",
    "cockpit_ready",
)


@transaction.atomic
def scanner_create(
    *,
    actor: User,
    site: Site,
    name: str,
    vendor: str,
    model_name: str,
    modality: str = Modality.MRI,
    field_strength_tesla: Decimal | None = None,
    cockpit_ready: bool = False,
) -> Scanner:
    require_manager(actor, site.hospital)
    scanner = Scanner(
        site=site,
        name=name.strip(),
        modality=modality,
        vendor=vendor,
        model_name=model_name.strip(),
        field_strength_tesla=field_strength_tesla,
        cockpit_ready=cockpit_ready,
    )
    _validate_scanner(scanner)
    scanner.save()
    audit_record(
        actor=actor,
        action="scanner.created",
        target=scanner,
        hospital=site.hospital,
        data={"name": scanner.name, "site": site.pk},
    )
    return scanner


@transaction.atomic
def scanner_update(
    *, actor: User, scanner: Scanner, site: Site | None = None, **changes: object
) -> Scanner:
    hospital = scanner.site.hospital
    require_manager(actor, hospital)
    unknown = set(changes) - set(SCANNER_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={f: [_("Unknown field.")] for f in unknown}
        )
    if site is not None and site.pk != scanner.site_id:
        if site.hospital_id != hospital.pk:
            raise ValidationFailed(
                _("A scanner stays within its hospital."),
                fields={"site": [_("Choose a site of the scanner's own hospital.")]},
            )
        scanner.site = site
        changes["site"] = site.pk
    for field, value in changes.items():
        if field != "site":
            setattr(scanner, field, value)
    _validate_scanner(scanner)
    scanner.save(
        update_fields=[
            *(f for f in changes if f != "site"),
            *(["site"] if "site" in changes else []),
        ]
    )
    audit_record(
        actor=actor,
        action="scanner.updated",
        target=scanner,
        hospital=hospital,
        data={k: str(v) for k, v in changes.items()},
    )
    return scanner


@transaction.atomic
def scanner_delete(*, actor: User, scanner: Scanner) -> None:
    """Only a scanner nothing was ever posted on: postings (and their bookings, cockpits and
    ledger entries) keep their scanner, so that history stays true."""
    hospital = scanner.site.hospital
    require_manager(actor, hospital)
    postings = scanner.postings.count()
    if postings:
        raise _scanner_in_use(scanner, postings)
    audit_record(
        actor=actor,
        action="scanner.deleted",
        target=scanner,
        hospital=hospital,
        data={"name": scanner.name},
    )
    try:
        scanner.delete()
    except ProtectedError:  # a posting made on it meanwhile (PostgreSQL: no table lock here)
        raise _scanner_in_use(scanner, scanner.postings.count()) from None


def _scanner_in_use(scanner: Scanner, postings: int) -> Conflict:
    return Conflict(
        ngettext(
            "%(scanner)s cannot be deleted: %(count)s session posting is on it, and their "
            "history keeps the scanner. To stop operating it remotely, set cockpit_ready to "
            "false instead.",
            "%(scanner)s cannot be deleted: %(count)s session postings are on it, and their "
            "history keeps the scanner. To stop operating it remotely, set cockpit_ready to "
            "false instead.",
            postings,
        )
        % {"scanner": scanner.name, "count": postings}
    )


@transaction.atomic
def scanner_rotate_token(*, actor: User, scanner: Scanner) -> str:
    """Issue a new device token for the scanner's agent. The old one stops working at once.
    The token is returned once and never stored: only its hash is."""
    hospital = scanner.site.hospital
    require_manager(actor, hospital)
    token = f"wsd_{secrets.token_urlsafe(32)}"
    scanner.device_token_hash = token_hash(token)
    scanner.device_token_rotated_at = timezone.now()
    scanner.save(update_fields=["device_token_hash", "device_token_rotated_at"])
    audit_record(actor=actor, action="scanner.token_rotated", target=scanner, hospital=hospital)
    return token


def _validate_scanner(scanner: Scanner) -> None:
    if scanner.modality == Modality.MRI and scanner.field_strength_tesla is None:
        raise ValidationFailed(
            _("An MRI scanner needs its field strength."),
            fields={"field_strength_tesla": [_("Required for an MRI scanner, e.g. 1.5 or 3.")]},
        )
    validate_instance(scanner, exclude=["device_token_hash"])


# --- Memberships -------------------------------------------------------------------------------


@transaction.atomic
def membership_change_role(*, actor: User, membership: Membership, role: str) -> Membership:
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("hospital")
        .get(pk=membership.pk)
    )
    require_manager(actor, membership.hospital)
    if role not in Role.values:
        raise _unknown_role()
    if membership.role == Role.MANAGER and role != Role.MANAGER:
        _keep_one_manager(membership)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="membership.role_changed",
        target=membership,
        hospital=membership.hospital,
        data={"user": membership.user_id, "from": previous, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("hospital", "user")
        .get(pk=membership.pk)
    )
    require_manager(actor, membership.hospital)
    if membership.role == Role.MANAGER:
        _keep_one_manager(membership)
    audit_record(
        actor=actor,
        action="membership.removed",
        target=membership,
        hospital=membership.hospital,
        data={"user": membership.user_id, "role": membership.role},
    )
    membership.delete()


def _unknown_role() -> ValidationFailed:
    return ValidationFailed(
        _("Unknown role."),
        fields={"role": [_("Choose one of %(roles)s.") % {"roles": Role.values}]},
    )


def _keep_one_manager(membership: Membership) -> None:
    others = Membership.objects.filter(hospital=membership.hospital, role=Role.MANAGER).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise Conflict(
            _("%(hospital)s must keep at least one manager.")
            % {"hospital": membership.hospital.name}
        )


# --- Invitations -------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *, actor: User, hospital: Hospital, email: str, role: str
) -> tuple[Invitation, str]:
    """Invite someone by e-mail. A pending invitation to the same address is replaced, so the
    newest link is the only one that works. Returns the invitation and its token (mailed)."""
    require_manager(actor, hospital)
    email = email.strip().lower()
    if role not in Role.values:
        raise _unknown_role()
    if Membership.objects.filter(hospital=hospital, user__email__iexact=email).exists():
        raise Conflict(
            _("%(email)s is already a member of %(hospital)s.")
            % {"email": email, "hospital": hospital.name}
        )
    now = timezone.now()
    Invitation.objects.pending().filter(hospital=hospital, email__iexact=email).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        hospital=hospital,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor,
        expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    validate_instance(invitation)
    invitation.save()
    audit_record(
        actor=actor,
        action="invitation.created",
        target=invitation,
        hospital=hospital,
        data={"role": role},
    )
    from marketplace.tasks import invitation_send_email

    # A new address has no language of its own yet: the mail speaks the inviting manager's,
    # as active now (an existing account's own choice wins when the mail is written).
    language = translation.get_language() or settings.LANGUAGE_CODE
    transaction.on_commit(lambda: invitation_send_email.delay(invitation.pk, token, language))
    _push_notice_on_commit(
        user_ids=User.objects.filter(email__iexact=email).values_list("pk", flat=True),
        kind="invitation",
        message=format_lazy(
            gettext_lazy("{hospital} invited you to join as {role}. The link is in your e-mail."),
            hospital=hospital.name,
            role=role_in_sentence(role),
        ),
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("hospital")
        .get(pk=invitation.pk)
    )
    require_manager(actor, invitation.hospital)
    if invitation.status != "pending":
        raise Conflict(
            _("This invitation is %(status)s; only a pending one is revoked.")
            % {"status": invitation.status_label}
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        hospital=invitation.hospital,
        data={"role": invitation.role},
    )
    return invitation


def invitation_check(*, invitation: Invitation, user: User | None = None) -> None:
    """Why this invitation cannot be used (by this user), as a domain error; None if it can."""
    if invitation.accepted_at is not None:
        raise Gone(_("This invitation has already been used."))
    if invitation.revoked_at is not None:
        raise Gone(_("This invitation was withdrawn by the hospital."))
    if invitation.expires_at <= timezone.now():
        raise Gone(_("This invitation has expired. Ask the hospital's manager for a new one."))
    if user is not None and user.email.lower() != invitation.email.lower():
        raise PermissionDenied(
            _("This invitation was sent to %(invited)s; you are signed in as %(email)s.")
            % {"invited": invitation.email, "email": user.email}
        )


@transaction.atomic
def invitation_accept(*, user: User, invitation: Invitation) -> Membership:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("hospital")
        .get(pk=invitation.pk)
    )
    invitation_check(invitation=invitation, user=user)
    if Membership.objects.filter(user=user, hospital=invitation.hospital).exists():
        raise Conflict(
            _("You are already a member of %(hospital)s.") % {"hospital": invitation.hospital.name}
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, hospital=invitation.hospital, role=invitation.role
            )
    except IntegrityError:
        raise Conflict(
            _("You are already a member of %(hospital)s.") % {"hospital": invitation.hospital.name}
        ) from None
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        actor=user,
        action="invitation.accepted",
        target=invitation,
        hospital=invitation.hospital,
        data={"role": invitation.role, "membership": membership.pk},
    )
    _push_notice_on_commit(
        user_ids=Membership.objects.filter(
            hospital=invitation.hospital, role=Role.MANAGER
        ).values_list("user_id", flat=True),
        kind="member_joined",
        message=format_lazy(
            gettext_lazy("{name} joined {hospital} as {role}."),
            name=user.display_name,
            hospital=invitation.hospital.name,
            role=role_in_sentence(membership.role),
        ),
    )
    return membership


def _push_notice_on_commit(*, user_ids: Iterable[int], kind: str, message: Promise) -> None:
    """A live notice (not kept) to each recipient in their own language: the lazy `message` is
    rendered once per language spoken among them, and each group gets its own frame."""
    recipients = sorted(set(user_ids))
    groups: dict[str, list[int]] = defaultdict(list)
    for user_id, text in messages_in_languages(message, recipients).items():
        groups[text].append(user_id)
    for text, group in groups.items():
        push_on_commit(user_ids=group, payload={"kind": kind, "message": text})

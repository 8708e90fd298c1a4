"""A person's rights over their data: download what WeScan holds about them, and be erased.

Accounts knows only its own models (and core's, below it). What the apps above hold about a
person (memberships, bookings, cockpits) each app tells here at start-up, in its `ready()`:

- `register_personal_data_section(name, reader)`: a part of the download. The reader answers
  the person's rows as dicts (a `values()` queryset or a list); at most EXPORT_SECTION_LIMIT of
  them are written, and the file says when a section was cut there.
- `register_erasure_refusal(reader)`: why this person cannot be erased now (a confirmed booking
  ahead, a cockpit in progress): they are told to settle it first.
- `register_personal_data_eraser(name, eraser)`: what the app blanks or withdraws when the
  person is erased, inside the erasure's transaction.

Erasure keeps the facts true: the user row stays (pseudonymised, inactive, without a usable
password, second factor, e-mail addresses or sessions), so bookings, ledger entries and audit
events still point at one person, and every total stays as it was. Audit events name the person
by a pseudonymous label from then on (`core.audit.audit_actor_pseudonymise`).
"""

import secrets
from collections.abc import Callable
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import ERASED_DOMAIN, ERASED_PREFIX, AccessToken, User, UsualAddress
from accounts.services import login_authenticate
from accounts.sessions import sessions_end_for_user
from core.audit import audit_actor_pseudonymise, audit_record
from core.errors import Conflict, ValidationFailed
from core.models import AuditEvent, Notification
from core.notify import notification_names_replace

# The most rows of one kind a download holds (one person's data: a technologist with years of
# bookings stays far below it; the file says when a section was cut).
EXPORT_SECTION_LIMIT = 5000
EXPORT_FORMAT = "wescan-personal-data/1"

# What the person types to confirm their erasure.
ERASE_CONFIRMATION_WORD = "ERASE"

Reader = Callable[[User], Any]  # a `values()` queryset or a list of dicts
Eraser = Callable[[User], None]
Refusal = Callable[[User], list[str]]


_sections: dict[str, Reader] = {}
_erasers: dict[str, Eraser] = {}
_refusals: list[Refusal] = []


def register_personal_data_section(name: str, reader: Reader) -> None:
    """A layer above adds a part of the download (registering a name again replaces it)."""
    _sections[name] = reader


def register_personal_data_eraser(name: str, eraser: Eraser) -> None:
    """A layer above blanks or withdraws what it holds about an erased person."""
    _erasers[name] = eraser


def register_erasure_refusal(reader: Refusal) -> None:
    """A layer above says why a person cannot be erased now (empty when nothing stands)."""
    if reader not in _refusals:
        _refusals.append(reader)


# --- Download -------------------------------------------------------------------------------


def personal_data_export(*, user: User) -> dict[str, Any]:
    """Everything WeScan holds about this person, section by section (JSON-ready with
    Django's encoder: dates, decimals)."""
    sections: dict[str, Reader] = {**_own_sections(), **_sections}
    data: dict[str, Any] = {}
    capped: list[str] = []
    for name in sorted(sections):
        rows = list(sections[name](user)[: EXPORT_SECTION_LIMIT + 1])
        if len(rows) > EXPORT_SECTION_LIMIT:
            rows = rows[:EXPORT_SECTION_LIMIT]
            capped.append(name)
        data[name] = rows
    return {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now(),
        "person": {"id": user.pk},
        "section_limit": EXPORT_SECTION_LIMIT,
        "capped_sections": capped,
        "notes": [
            "Each section holds at most section_limit rows; capped_sections names those cut "
            "there (the oldest rows are written first). Ask a platform admin for the rest.",
            "Cockpit chat lines are not stored by WeScan: the relay keeps the last lines of a "
            "session in memory while it runs, for late joiners, and lets them go.",
            "Second-factor secrets, password hashes and session keys are not included.",
        ],
        "sections": data,
    }


def personal_data_exported(*, user: User) -> None:
    """The person downloaded their data: a fact of their trail (they find it in the next one)."""
    audit_record(actor=user, action="account.data_exported", target=user)


def _own_sections() -> dict[str, Reader]:
    return {
        "account": lambda user: [
            {
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "date_joined": user.date_joined,
                "last_login": user.last_login,
                "is_active": user.is_active,
                "platform_admin": user.is_staff,
            }
        ],
        "email_addresses": lambda user: (
            EmailAddress.objects.filter(user=user)
            .order_by("pk")
            .values("email", "verified", "primary")
        ),
        "second_factors": lambda user: (
            Authenticator.objects.filter(user=user)
            .order_by("pk")
            .values("type", "created_at", "last_used_at")
        ),
        "access_tokens": lambda user: (
            AccessToken.objects.filter(user=user)
            .order_by("pk")
            .values("name", "prefix", "scope", "created_at", "expires_at", "revoked_at")
        ),
        "sessions": lambda user: (
            UserSession.objects.filter(user=user)
            .order_by("created_at")
            .values("ip", "user_agent", "created_at", "last_seen_at")
        ),
        "usual_sign_in_addresses": lambda user: (
            UsualAddress.objects.filter(user=user)
            .order_by("last_signed_in_at")
            .values("last_signed_in_at")
        ),
        "notifications": lambda user: (
            Notification.objects.filter(recipient=user)
            .order_by("pk")
            .values("kind", "message", "created_at", "read_at")
        ),
        "audit_events_as_actor": lambda user: (
            AuditEvent.objects.filter(actor_id=user.pk)
            .order_by("created_at", "pk")
            .values("created_at", "action", "target_type", "target_id", "hospital_id")
        ),
    }


# --- Erasure --------------------------------------------------------------------------------


def erasure_refusals(*, user: User) -> list[str]:
    """Why this person cannot be erased now; empty when they can."""
    reasons: list[str] = []
    for reader in _refusals:
        reasons.extend(reader(user))
    return reasons


def is_erased(user: User) -> bool:
    return user.is_erased


def erasure_check_confirmation(
    *, request: HttpRequest, user: User, password: str, word: str
) -> None:
    """The person confirms with their password and the typed word (bounded before any work).

    The password is checked as a sign-in is (`accounts.services.login_authenticate`): a wrong
    one spends the account's budget of failed sign-ins, and once it is used up the check is
    refused with `Throttled` (429, Retry-After) before the password is looked at, so this form
    is no better a way to guess a password than the sign-in page."""
    errors: dict[str, list[str]] = {}
    if len(password) > 4096:
        errors["password"] = [_("That is not your password.")]
    else:
        checked = login_authenticate(request=request, email=user.email, password=password)
        if checked is None or checked.pk != user.pk:
            errors["password"] = [_("That is not your password.")]
    if word.strip() != ERASE_CONFIRMATION_WORD:
        errors["confirmation"] = [
            _("Type %(word)s to confirm.") % {"word": ERASE_CONFIRMATION_WORD}
        ]
    if errors:
        raise ValidationFailed(_("Your erasure was not confirmed."), fields=errors)


@transaction.atomic
def account_erase(*, actor: User | None, user: User) -> str:
    """Anonymise this person's account (the person themselves, or a platform admin as
    `actor`; None for the command line); their pseudonym. Refused (409) while something
    stands in the way (`erasure_refusals`), and for an account already erased."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if is_erased(user):
        raise Conflict(_("This account is already erased."))
    reasons = erasure_refusals(user=user)
    if reasons:
        raise Conflict(
            _("This account cannot be erased yet: %(reasons)s") % {"reasons": " ".join(reasons)},
            fields={"account": reasons},
        )
    for name in sorted(_erasers):
        _erasers[name](user)

    # What others were told names them (a booking accepted, a request for help): from now
    # on those notices say "a former member" (mail already sent cannot be called back).
    _scrub_notices(names=[user.get_full_name(), user.email])

    pseudonym = secrets.token_hex(6)
    label = f"{ERASED_PREFIX}{pseudonym}@{ERASED_DOMAIN}"
    user.email = label
    user.first_name = ""
    user.last_name = ""
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.save(
        update_fields=[
            "email",
            "first_name",
            "last_name",
            "password",
            "is_active",
            "is_staff",
            "is_superuser",
        ]
    )
    user.groups.clear()
    user.user_permissions.clear()
    Authenticator.objects.filter(user=user).delete()
    EmailAddress.objects.filter(user=user).delete()
    UsualAddress.objects.filter(user=user).delete()
    AccessToken.objects.filter(user=user).delete()  # no secret outlives the account
    Notification.objects.filter(recipient=user).delete()
    sessions_end_for_user(user=user)

    audit_actor_pseudonymise(actor_id=user.pk, label=label)
    by_themselves = actor is None or actor.pk == user.pk
    audit_record(
        actor=None if actor is None else (user if by_themselves else actor),
        action="account.erased",
        target=user,
        data={"by": "themselves" if by_themselves and actor is not None else "platform"},
    )
    return pseudonym


# What a notice says instead of an erased person's name, in the notice's language.
FORMER_MEMBER = gettext_lazy("a former member")


def _former_member(language: str) -> str:
    with translation.override(language):
        return str(FORMER_MEMBER)


def _scrub_notices(*, names: list[str]) -> None:
    """Replace each of `names` in every notice (`notification_names_replace`). A bare first
    name ("Ann") could be part of other words: only a full name (with a space) or an e-mail
    address is replaced."""
    for name in names:
        name = name.strip()
        if len(name) < 5 or (" " not in name and "@" not in name):
            continue
        notification_names_replace(name=name, instead=_former_member)

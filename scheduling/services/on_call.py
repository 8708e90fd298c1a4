"""The on-call schedule of senior technologists: when they answer requests for help from
cockpits, for which exam families. Published by the technologist, or by a manager lending them
(the window then records the lending hospital, which the reciprocity ledger credits for the
assist time). The on-call switch pauses every window at once."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.audit import audit_record
from core.errors import PermissionDenied, ValidationFailed
from marketplace.models import ExamFamily, Hospital, Seniority, TechnologistProfile
from scheduling.models import OnCallWindow
from scheduling.services.availability import (
    lending_hospital_for,
    window_may_change,
    window_prepare,
)

__all__ = [
    "ON_CALL_NOW_MAX",
    "ON_CALL_SENIORITIES",
    "on_call_create",
    "on_call_delete",
    "on_call_now",
    "on_call_pause",
    "on_call_refusal",
]

# Who keeps an on-call schedule: seniors (asked first) and experienced technologists (asked when
# a request widens).
ON_CALL_SENIORITIES = (Seniority.SENIOR, Seniority.EXPERIENCED)
# "On call now" for at most this long; a longer stretch is a window on the schedule.
ON_CALL_NOW_MAX = timedelta(hours=12)


def on_call_refusal(profile: TechnologistProfile | None) -> str | None:
    """Why this person keeps no on-call schedule; None when they may."""
    if profile is None:
        return _("Only technologists with a profile go on call: set up your profile first.")
    if profile.seniority not in ON_CALL_SENIORITIES:
        return _(
            "The on-call schedule is for senior and experienced technologists; as a junior, ask "
            "for help from the cockpit instead."
        )
    return None


def _profile(technologist: User) -> TechnologistProfile:
    profile = TechnologistProfile.objects.filter(user=technologist).first()
    refusal = on_call_refusal(profile)
    if refusal is not None:
        raise ValidationFailed(refusal)
    assert profile is not None
    return profile


def _families(profile: TechnologistProfile, codes: Iterable[str]) -> list[ExamFamily]:
    codes = sorted(set(codes))
    families = list(ExamFamily.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {family.code for family in families})
    if unknown:
        raise ValidationFailed(
            _("Some exam families are unknown."),
            fields={
                "exam_families": [
                    _("No exam family %(code)s.") % {"code": repr(code)} for code in unknown
                ]
            },
        )
    competent = set(profile.exam_families.values_list("pk", flat=True))
    outside = [family.name for family in families if family.pk not in competent]
    if outside:
        raise ValidationFailed(
            _("You can be on call only for exam families on your profile."),
            fields={
                "exam_families": [
                    _("%(family)s is not on the profile.") % {"family": name} for name in outside
                ]
            },
        )
    return families


@transaction.atomic
def on_call_create(
    *,
    actor: User,
    technologist: User,
    starts_at: datetime,
    ends_at: datetime,
    time_zone: str | None = None,
    rrule: str = "",
    exdates: Iterable[Any] = (),
    exam_families: Iterable[str] = (),
    lending_hospital: Hospital | None = None,
) -> OnCallWindow:
    """Publish an on-call window: one-off or recurring (RRULE), for some exam families (none:
    every family on the profile)."""
    lender = lending_hospital_for(
        actor=actor, technologist=technologist, lending_hospital=lending_hospital
    )
    profile = _profile(technologist)
    families = _families(profile, exam_families)
    window = OnCallWindow(
        technologist=technologist,
        starts_at=starts_at,
        ends_at=ends_at,
        time_zone=time_zone or profile.home_time_zone,
        rrule=rrule.strip(),
        exdates=list(exdates),
        lending_hospital=lender,
        created_by=actor,
    )
    window_prepare(window)
    window.save()
    window.exam_families.set(families)
    audit_record(
        actor=actor,
        action="on_call.created",
        target=window,
        hospital=lender,
        data={
            "technologist": technologist.pk,
            "recurring": window.is_recurring,
            "exam_families": [family.code for family in families],
        },
    )
    return window


def on_call_now(
    *, actor: User, hours: float, exam_families: Iterable[str] = (), now: datetime | None = None
) -> OnCallWindow:
    """The technologist goes on call from now for `hours` (a one-off window), and the on-call
    switch is turned on."""
    now = now or timezone.now()
    length = timedelta(hours=hours)
    if not timedelta(minutes=15) <= length <= ON_CALL_NOW_MAX:
        raise ValidationFailed(
            _("Go on call for between a quarter of an hour and 12 hours."),
            fields={"hours": [_("%(hours)s is outside 0.25–12.") % {"hours": hours}]},
        )
    with transaction.atomic():
        window = on_call_create(
            actor=actor,
            technologist=actor,
            starts_at=now,
            ends_at=now + length,
            exam_families=exam_families,
        )
        on_call_pause(actor=actor, technologist=actor, paused=False)
    return window


@transaction.atomic
def on_call_delete(*, actor: User, window: OnCallWindow) -> None:
    window = OnCallWindow.objects.select_for_update(of=("self",)).get(pk=window.pk)
    window_may_change(actor, window)
    audit_record(
        actor=actor,
        action="on_call.deleted",
        target=window,
        hospital=window.lending_hospital,
        data={"technologist_id": window.technologist_id},
    )
    window.delete()


@transaction.atomic
def on_call_pause(*, actor: User, technologist: User, paused: bool) -> TechnologistProfile:
    """The on-call switch: off, no request for help reaches them, whatever the schedule says."""
    if actor.pk != technologist.pk:
        raise PermissionDenied(_("Only the technologist turns their own on-call switch."))
    profile = TechnologistProfile.objects.select_for_update().filter(user=technologist).first()
    if profile is None:
        raise ValidationFailed(_("Only technologists with a profile go on call."))
    if profile.on_call_paused != paused:
        profile.on_call_paused = paused
        profile.save(update_fields=["on_call_paused", "updated_at"])
        audit_record(
            actor=actor,
            action="on_call.paused" if paused else "on_call.resumed",
            target=profile,
            data={"technologist": technologist.pk},
        )
    return profile

"""Publishing availability: by the technologist, or by a manager lending them (the window then
records the lending hospital, which the reciprocity ledger credits)."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.audit import audit_record
from core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validate_instance,
)
from marketplace.access import hospitals_managed_by, technologists_managed_by
from marketplace.models import Hospital, Membership, Role
from scheduling.models import AvailabilityWindow, OnCallWindow, RecurringWindow
from scheduling.recurrence import RecurrenceError, occurrences_through, parse_rule

__all__ = [
    "MAX_WINDOW",
    "availability_create",
    "availability_delete",
    "availability_skip_occurrence",
    "availability_update",
]

MAX_WINDOW = timedelta(hours=24)
LAST_OCCURRENCE_SEARCH = 1000
# A rule whose last occurrence is further than this from its first is kept as open-ended.
LAST_OCCURRENCE_WITHIN = timedelta(days=10 * 366)


def lending_hospital_for(
    *, actor: User, technologist: User, lending_hospital: Hospital | None
) -> Hospital | None:
    """Who publishes decides who lends. Oneself: nobody lends (None). A manager: one of the
    hospitals they manage that the technologist belongs to; any other technologist is not
    theirs to lend and does not exist for them (404)."""
    if actor.pk == technologist.pk and lending_hospital is None:
        return None
    shared = Membership.objects.filter(
        user=technologist,
        role=Role.TECHNOLOGIST,
        hospital__in=hospitals_managed_by(actor),
    )
    if lending_hospital is not None:
        shared = shared.filter(hospital=lending_hospital)
    hospital_ids = list(shared.values_list("hospital_id", flat=True))
    if not hospital_ids:
        if actor.pk == technologist.pk:
            raise PermissionDenied(_("Only a manager of that hospital lends its staff."))
        raise NotFound(_("No such technologist in your hospitals."))
    if len(hospital_ids) > 1:
        raise ValidationFailed(
            _("Say which hospital lends this technologist."),
            fields={"lending_hospital": [_("Required: the technologist belongs to several.")]},
        )
    return Hospital.objects.get(pk=hospital_ids[0])


def window_prepare(window: RecurringWindow) -> None:
    """Validate a window (availability or on call) and work out when its last occurrence ends."""
    fields: dict[str, list[str]] = {}
    if window.ends_at <= window.starts_at:
        fields["ends_at"] = [_("The window must end after it starts.")]
    elif window.ends_at - window.starts_at > MAX_WINDOW:
        fields["ends_at"] = [_("A window lasts at most 24 hours; repeat it instead.")]
    try:
        zone = ZoneInfo(window.time_zone)
    except (ValueError, KeyError):
        fields["time_zone"] = [_("%(zone)s is not a time zone.") % {"zone": repr(window.time_zone)}]
        raise ValidationFailed(_("Some fields are not valid."), fields=fields) from None
    last_ends_at: datetime | None = window.ends_at
    if window.rrule:
        first_local = window.starts_at.astimezone(zone).replace(tzinfo=None)
        try:
            rule = parse_rule(window.rrule, first_start_local=first_local)
        except RecurrenceError as error:
            fields["rrule"] = [str(error)]
        else:
            last_ends_at = None
            if rule._count or rule._until:  # a rule that ends: find its last occurrence
                # Bounded: a rule with more occurrences than this, or going on for longer, is
                # kept as open-ended.
                horizon = first_local + LAST_OCCURRENCE_WITHIN
                occurrences = list(
                    islice(occurrences_through(rule, through=horizon), LAST_OCCURRENCE_SEARCH + 1)
                )
                ended = len(occurrences) == rule._count if rule._count else rule._until <= horizon
                if not occurrences:
                    fields["rrule"] = [_("This rule has no occurrence.")]
                elif ended and len(occurrences) <= LAST_OCCURRENCE_SEARCH:
                    duration = window.ends_at - window.starts_at
                    last_local = occurrences[-1].replace(tzinfo=zone)
                    last_ends_at = last_local.astimezone(UTC) + duration
    try:
        window.exdates = sorted(
            {
                datetime.fromisoformat(str(v)).replace(tzinfo=None).isoformat()
                for v in window.exdates
            }
        )
    except ValueError:
        fields["exdates"] = [_("Exception dates are local start times such as 2026-12-24T08:00.")]
    if last_ends_at is not None and last_ends_at <= timezone.now():
        fields.setdefault("ends_at", [_("This window is entirely in the past.")])
    if fields:
        raise ValidationFailed(_("Some fields are not valid."), fields=fields)
    window.last_ends_at = last_ends_at
    validate_instance(window, exclude=["technologist", "created_by", "lending_hospital"])


@transaction.atomic
def availability_create(
    *,
    actor: User,
    technologist: User,
    starts_at: datetime,
    ends_at: datetime,
    time_zone: str | None = None,
    rrule: str = "",
    exdates: Iterable[Any] = (),
    lending_hospital: Hospital | None = None,
) -> AvailabilityWindow:
    lender = lending_hospital_for(
        actor=actor, technologist=technologist, lending_hospital=lending_hospital
    )
    profile = getattr(technologist, "technologist_profile", None)
    window = AvailabilityWindow(
        technologist=technologist,
        starts_at=starts_at,
        ends_at=ends_at,
        time_zone=time_zone or (profile.home_time_zone if profile else "Europe/Brussels"),
        rrule=rrule.strip(),
        exdates=list(exdates),
        lending_hospital=lender,
        created_by=actor,
    )
    window_prepare(window)
    window.save()
    audit_record(
        actor=actor,
        action="availability.created",
        target=window,
        hospital=lender,
        data={"technologist": technologist.pk, "recurring": window.is_recurring},
    )
    return window


def window_may_change(actor: User, window: AvailabilityWindow | OnCallWindow) -> None:
    """The technologist changes their own windows, a manager those their hospital lent, a
    platform admin any; a manager who sees a window they did not lend is refused (403), anyone
    else finds none (404)."""
    if actor.pk == window.technologist_id or actor.is_staff:
        return
    if (
        window.lending_hospital_id
        and hospitals_managed_by(actor).filter(pk=window.lending_hospital_id).exists()
    ):
        return
    if technologists_managed_by(actor).filter(pk=window.technologist_id).exists():
        # A manager sees their technologist's own windows but changes only those they lent.
        raise PermissionDenied(_("Only the technologist changes a window they published."))
    if isinstance(window, OnCallWindow):
        raise NotFound(_("No such on-call window."))
    raise NotFound(_("No such availability window."))


@transaction.atomic
def availability_update(
    *, actor: User, window: AvailabilityWindow, **changes: Any
) -> AvailabilityWindow:
    window = AvailabilityWindow.objects.select_for_update(of=("self",)).get(pk=window.pk)
    window_may_change(actor, window)
    allowed = {"starts_at", "ends_at", "time_zone", "rrule", "exdates"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={f: [_("Unknown field.")] for f in unknown}
        )
    before = _first_local_start(window)
    for field, value in changes.items():
        setattr(window, field, value.strip() if field == "rrule" else value)
    if window.exdates and "exdates" not in changes and _first_local_start(window) != before:
        # The skipped days stay skipped when the series moves to another time of day.
        moved_to = _first_local_start(window).time()
        window.exdates = [
            datetime.combine(datetime.fromisoformat(value).date(), moved_to).isoformat()
            for value in window.exdates
        ]
    window_prepare(window)
    window.save()
    audit_record(
        actor=actor,
        action="availability.updated",
        target=window,
        hospital=window.lending_hospital,
        data={"fields": sorted(changes)},
    )
    return window


def _first_local_start(window: AvailabilityWindow) -> datetime:
    return window.starts_at.astimezone(ZoneInfo(window.time_zone)).replace(tzinfo=None)


@transaction.atomic
def availability_skip_occurrence(
    *, actor: User, window: AvailabilityWindow, local_start: datetime
) -> AvailabilityWindow:
    """Take one occurrence out of a recurring window (e.g. a holiday), keeping the rest.
    `local_start` is the occurrence's start in the window's own time zone."""
    window = AvailabilityWindow.objects.select_for_update(of=("self",)).get(pk=window.pk)
    window_may_change(actor, window)
    if not window.rrule:
        raise Conflict(_("A one-off window is deleted, not skipped."))
    local = local_start.replace(tzinfo=None, second=0, microsecond=0)
    first_local = window.starts_at.astimezone(ZoneInfo(window.time_zone)).replace(tzinfo=None)
    rule = parse_rule(window.rrule, first_start_local=first_local)
    if local not in occurrences_through(rule, through=local):
        raise ValidationFailed(
            _("That is not an occurrence of this window."),
            fields={
                "local_start": [
                    _("No occurrence starts at %(start)s.") % {"start": f"{local:%Y-%m-%d %H:%M}"}
                ]
            },
        )
    window.exdates = sorted({*window.exdates, local.isoformat()})
    window.save(update_fields=["exdates", "updated_at"])
    audit_record(
        actor=actor,
        action="availability.occurrence_skipped",
        target=window,
        hospital=window.lending_hospital,
        data={"local_start": local.isoformat()},
    )
    return window


@transaction.atomic
def availability_delete(*, actor: User, window: AvailabilityWindow) -> None:
    window = AvailabilityWindow.objects.select_for_update(of=("self",)).get(pk=window.pk)
    window_may_change(actor, window)
    audit_record(
        actor=actor,
        action="availability.deleted",
        target=window,
        hospital=window.lending_hospital,
        data={"technologist_id": window.technologist_id},
    )
    window.delete()

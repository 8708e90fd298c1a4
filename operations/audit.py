"""A hospital's audit trail as its managers read it: which events (filtered by person, kind and
period, from the query parameters the page, the CSV and the API share), and what each says in
words. Who may read it is the dashboard's rule (`operations.dashboard.access_dashboard`):
the hospital's managers and platform admins; to anyone else it does not exist (404).

An event belongs to a hospital when the service that wrote it said so (`AuditEvent.hospital`):
every move of its sites, scanners, postings, bookings, cockpits, plans, members, invitations,
calendar feeds, lent staff's availability and on-call windows, and the ledger entries it owes.
A technologist's own profile, licence and on-call switch are the person's, not a hospital's."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.errors import ValidationFailed
from core.ids import is_id
from core.models import AuditEvent
from marketplace.models import Hospital
from operations.dashboard import period_from
from operations.figures import Period

# The longest value the person and kind filters may have: an id, and an action code.
MAX_PERSON_LENGTH = 20
MAX_KIND_LENGTH = 64

# What each action is, in words. An action missing here reads as its code, tidied.
ACTION_LABELS = {
    "assist.accepted": _("Help request accepted"),
    "assist.asked_newcomers": _("Help request sent to more seniors"),
    "assist.cancelled": _("Help request cancelled"),
    "assist.escalated": _("Help request escalated"),
    "assist.expired": _("Help request expired"),
    "assist.requested": _("Help requested"),
    "assist.resolved": _("Help request finished"),
    "availability.created": _("Availability published"),
    "availability.deleted": _("Availability removed"),
    "availability.occurrence_skipped": _("Availability occurrence skipped"),
    "availability.updated": _("Availability changed"),
    "booking.applied": _("Technologist applied"),
    "booking.cancelled": _("Booking cancelled"),
    "booking.completed": _("Booking completed"),
    "booking.confirmed": _("Booking confirmed"),
    "booking.declined": _("Booking declined"),
    "booking.expired": _("Booking expired"),
    "booking.invited": _("Technologist invited"),
    "booking.no_show": _("No-show recorded"),
    "booking.started": _("Booking started"),
    "calendar_feed.created": _("Calendar feed created"),
    "calendar_feed.rotated": _("Calendar feed address renewed"),
    "cockpit.closed": _("Cockpit closed"),
    "cockpit.command": _("Console command"),
    "cockpit.contrast_confirmed": _("Contrast confirmed on site"),
    "cockpit.control_fallback": _("Control fell back to local staff"),
    "cockpit.control_granted": _("Control granted"),
    "cockpit.control_released": _("Control released"),
    "cockpit.control_requested": _("Control requested"),
    "cockpit.control_taken_over": _("Control taken over"),
    "cockpit.ended_by_booking": _("Cockpit ended with its booking"),
    "cockpit.ended_early": _("Exam ended early"),
    "cockpit.join_approved": _("Operator's join approved"),
    "cockpit.local_override": _("Local staff took the scanner back"),
    "cockpit.operator_joined": _("Operator joined"),
    "cockpit.prescan_confirmed": _("Pre-scan checks confirmed"),
    "cockpit.started": _("Exam started"),
    "cockpit.stop_reason": _("Reason for a STOP given"),
    "cockpit.stopped": _("Scan STOPPED"),
    "hospital.created": _("Hospital created"),
    "hospital.updated": _("Hospital changed"),
    "invitation.accepted": _("Invitation accepted"),
    "invitation.created": _("Invitation sent"),
    "invitation.revoked": _("Invitation revoked"),
    "ledger.assist": _("Ledger: senior assistance"),
    "ledger.completed": _("Ledger: hours worked"),
    "ledger.hospital_no_show": _("Ledger: no-show by the hospital"),
    "ledger.late_cancellation": _("Ledger: late cancellation"),
    "membership.erased": _("Member's account erased"),
    "membership.removed": _("Member removed"),
    "membership.role_changed": _("Member's role changed"),
    "on_call.created": _("On-call window added"),
    "on_call.deleted": _("On-call window removed"),
    "on_call.paused": _("On-call paused"),
    "on_call.resumed": _("On-call resumed"),
    "plan.cancelled": _("Staffing plan cancelled"),
    "plan.created": _("Staffing plan requested"),
    "plan.failed": _("Staffing plan failed"),
    "plan.sent": _("Staffing plan's invitations sent"),
    "posting.cancelled": _("Posting cancelled"),
    "posting.created": _("Posting created"),
    "posting.expired": _("Posting expired"),
    "posting.published": _("Posting published"),
    "posting.updated": _("Posting changed"),
    "scanner.created": _("Scanner added"),
    "scanner.deleted": _("Scanner removed"),
    "scanner.token_rotated": _("Scanner's device token renewed"),
    "scanner.updated": _("Scanner changed"),
    "site.created": _("Site added"),
    "site.deleted": _("Site removed"),
    "site.updated": _("Site changed"),
    "technologist.licence_verified": _("Licence verified"),
    "technologist.profile_created": _("Technologist profile created"),
    "technologist.profile_updated": _("Technologist profile changed"),
    "user.profile_updated": _("Profile changed"),
}

# What each kind of object is called, and the page that shows it (url name), where one does.
TARGETS: dict[str, tuple[Promise, str | None]] = {
    "marketplace.hospital": (_("Hospital"), "hospital_detail"),
    "marketplace.site": (_("Site"), None),
    "marketplace.scanner": (_("Scanner"), None),
    "marketplace.membership": (_("Membership"), None),
    "marketplace.invitation": (_("Invitation"), None),
    "marketplace.sessionposting": (_("Posting"), "posting_detail"),
    "marketplace.technologistprofile": (_("Technologist profile"), None),
    "scheduling.booking": (_("Booking"), "booking_detail"),
    "scheduling.plan": (_("Staffing plan"), "plan_detail"),
    "scheduling.recurringwindow": (_("Availability"), None),
    "scheduling.availabilitywindow": (_("Availability window"), None),
    "scheduling.oncallwindow": (_("On-call window"), None),
    "scheduling.ledgerentry": (_("Ledger entry"), None),
    "scheduling.calendarfeed": (_("Calendar feed"), None),
    "cockpit.cockpitsession": (_("Cockpit"), "cockpit_console"),
    "cockpit.assistrequest": (_("Help request"), None),
    "accounts.user": (_("Person"), None),
}


def action_label(code: str) -> str:
    """The action in words, in the active language."""
    known = ACTION_LABELS.get(code)
    if known is not None:
        return str(known)
    return code.replace(".", ": ").replace("_", " ").capitalize()


def target_label(target_type: str) -> str:
    """The kind of object in words: from `TARGETS`, else the model's own name ("Availability
    window"), else the code as it is (a model since removed)."""
    known = TARGETS.get(target_type)
    if known:
        return str(known[0])
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return target_type
    return str(model._meta.verbose_name).capitalize()


def target_url(target_type: str, target_id: str) -> str | None:
    """The page of the object, where there is one (who may open it is that page's business)."""
    known = TARGETS.get(target_type)
    if known is None or known[1] is None or not target_id.isdigit():
        return None
    try:
        return reverse(known[1], args=[int(target_id)])
    except NoReverseMatch:
        return None


# --- Filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    person: int | None  # the actor's id; None: anyone (and the system)
    kind: str  # an action code; "": every kind
    period: Period

    @property
    def start(self) -> date:
        return self.period.start

    @property
    def end(self) -> date:
        return self.period.end

    def query(self) -> str:
        parts = [f"start={self.period.start}", f"end={self.period.end}"]
        if self.person is not None:
            parts.append(f"person={self.person}")
        if self.kind:
            parts.append(f"kind={self.kind}")
        return "&".join(parts)


def _bounded(params: Mapping[str, str], name: str, limit: int) -> str:
    raw = params.get(name) or ""
    if len(raw) > limit:
        raise ValidationFailed(
            gettext("'%(name)s' may hold at most %(limit)s characters, not %(length)s.")
            % {"name": name, "limit": limit, "length": len(raw)},
            fields={name: [gettext("At most %(limit)s characters.") % {"limit": limit}]},
        )
    return raw.strip()


def audit_filters_from(
    params: Mapping[str, str], *, hospital: Hospital, time_zone: str, today: date
) -> AuditFilters:
    """`person` (an actor's id among those in the hospital's trail), `kind` (an action code
    among those in it) and the period `start`..`end` (as the dashboard's: at most two years,
    by default the 12 weeks ending today). Each value is bounded before anything else."""
    person_raw = _bounded(params, "person", MAX_PERSON_LENGTH)
    kind = _bounded(params, "kind", MAX_KIND_LENGTH)
    period = period_from(
        {"start": params.get("start") or "", "end": params.get("end") or ""},
        time_zone=time_zone,
        today=today,
    )
    person = None
    if person_raw:
        number = int(person_raw) if person_raw.isdigit() and person_raw.isascii() else 0
        if not is_id(number) or number not in dict(audit_people(hospital=hospital)):
            raise ValidationFailed(
                gettext("'person' must be someone in this hospital's audit trail."),
                fields={"person": [gettext("Choose a person from the list.")]},
            )
        person = number
    if kind and kind not in dict(audit_kinds(hospital=hospital)):
        raise ValidationFailed(
            gettext("'kind' must be a kind of event in this hospital's audit trail."),
            fields={"kind": [gettext("Choose a kind from the list.")]},
        )
    return AuditFilters(person=person, kind=kind, period=period)


# --- Reads ---------------------------------------------------------------------------------------


def audit_people(*, hospital: Hospital) -> list[tuple[int, str]]:
    """Everyone who appears as the actor of one of the hospital's events: (id, who they are:
    `actor_name`), by name."""
    ids = set(
        AuditEvent.objects.filter(hospital=hospital, actor_id__isnull=False)
        .values_list("actor_id", flat=True)
        .distinct()
        .order_by()
    )
    emails = dict(User.objects.filter(pk__in=ids).values_list("pk", "email"))
    return sorted(
        (
            (actor_id, emails.get(actor_id) or gettext("Person %(id)s") % {"id": actor_id})
            for actor_id in ids
        ),
        key=lambda person: (person[1].casefold(), person[0]),
    )


def actor_name(event: AuditEvent) -> str:
    """Who did it, as the page, the CSV and the API say: the person of the hashed `actor_id`
    (their account's e-mail address now; a pseudonym once erased), never the unhashed
    `actor_label` cache, which a change to the database could rewrite unseen. The label is
    used only when no account row answers the id (one deleted by hand); no actor: WeScan."""
    if event.actor_id is None:
        return "WeScan"
    try:
        actor = event.actor
    except User.DoesNotExist:
        actor = None
    if actor is not None:
        return actor.email
    return event.actor_label or gettext("Person %(id)s") % {"id": event.actor_id}


def audit_kinds(*, hospital: Hospital) -> list[tuple[str, str]]:
    """Every action in the hospital's trail: (code, label), by label."""
    codes = (
        AuditEvent.objects.filter(hospital=hospital)
        .values_list("action", flat=True)
        .distinct()
        .order_by()
    )
    return sorted(((code, action_label(code)) for code in codes), key=lambda kind: kind[1])


def audit_events(*, hospital: Hospital, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The hospital's events that the filters keep, newest first."""
    events = AuditEvent.objects.filter(
        hospital=hospital,
        created_at__gte=filters.period.start_at,
        created_at__lt=filters.period.end_at,
    )
    if filters.person is not None:
        events = events.filter(actor_id=filters.person)
    if filters.kind:
        events = events.filter(action=filters.kind)
    return events.select_related("actor").order_by("-created_at", "-id")


@dataclass(frozen=True)
class ShownEvent:
    """One event as a manager reads it."""

    id: int
    at: datetime  # in the hospital's time zone
    person: str
    action: str
    action_label: str
    target_type: str
    target_label: str
    target_id: str
    target_url: str | None
    data: dict[str, Any]


def shown(event: AuditEvent, *, time_zone: str) -> ShownEvent:
    return ShownEvent(
        id=event.pk,
        at=event.created_at.astimezone(ZoneInfo(time_zone)),
        person=actor_name(event),
        action=event.action,
        action_label=action_label(event.action),
        target_type=event.target_type,
        target_label=target_label(event.target_type),
        target_id=event.target_id,
        target_url=target_url(event.target_type, event.target_id),
        data=event.data,
    )


def shown_events(
    events: QuerySet[AuditEvent], *, time_zone: str, chunk_size: int = 2000
) -> Iterator[ShownEvent]:
    """Every event, streamed a chunk at a time (the CSV)."""
    for event in events.iterator(chunk_size=chunk_size):
        yield shown(event, time_zone=time_zone)

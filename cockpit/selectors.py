"""Reads of the cockpit that the pages, the relay and the tasks share: who may be in a session
and in which role, which session a scanner serves now, and how control looks from outside."""

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from cockpit.models import (
    AssistNotice,
    AssistRequest,
    AssistStage,
    AssistStatus,
    CockpitSession,
    CockpitStatus,
    CockpitStop,
    ExamRecord,
    PrescanCheck,
    Role,
)
from cockpit.rules import Room
from core.errors import NotFound
from core.ids import as_id
from marketplace.models import Language, Membership, Scanner, Seniority
from marketplace.models import Role as HospitalRole
from scheduling.exams import ExamSummary
from scheduling.models import AvailabilityWindow, Booking, BookingStatus, OnCallWindow
from scheduling.selectors import on_call_occurrence_now

# A cockpit opens this long before its booking starts, and stays open until it is completed.
OPEN_BEFORE = timedelta(minutes=15)
# Statuses of a booking whose cockpit can be open.
COCKPIT_BOOKING_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS)
# Most cockpits one operator may hold control of at once (as syngo Virtual Cockpit allows three
# consoles).
MAX_CONTROLLED = 3


def booking_cockpit_open(booking: Booking, *, now: datetime | None = None) -> bool:
    """Open from 15 minutes before the start until the booking is completed; a confirmed booking
    whose time is over without a start is not (it can no longer be started)."""
    now = now or timezone.now()
    if booking.status == BookingStatus.IN_PROGRESS:
        return True
    return booking.status == BookingStatus.CONFIRMED and (
        booking.starts_at - OPEN_BEFORE <= now < booking.ends_at
    )


def cockpit_is_open(cockpit: CockpitSession, *, now: datetime | None = None) -> bool:
    return cockpit.status != CockpitStatus.ENDED and booking_cockpit_open(cockpit.booking, now=now)


def _with_graph(queryset: QuerySet[CockpitSession]) -> QuerySet[CockpitSession]:
    return queryset.select_related(
        "booking__posting__hospital",
        "booking__posting__site",
        "booking__posting__scanner",
        "booking__technologist",
        "booking__lending_hospital",
        "controller",
        "control_requested_by",
        "join_approved_by",
    )


def roles_for(user: User, cockpit: CockpitSession) -> list[str]:
    """Every role `user` may take in `cockpit`, the usual one first: the booked technologist
    operates; local staff of the scanning hospital are local (its managers may be too); a senior
    who answered a request for help assists; managers of either hospital (and platform admins)
    observe."""
    if not user.is_authenticated:
        return []
    booking = cockpit.booking
    roles: list[str] = []
    if booking.technologist_id == user.pk:
        roles.append(Role.OPERATOR)
    hospital_ids = [booking.posting.hospital_id]
    if booking.lending_hospital_id:
        hospital_ids.append(booking.lending_hospital_id)
    memberships = dict(
        Membership.objects.filter(user=user, hospital_id__in=hospital_ids).values_list(
            "hospital_id", "role"
        )
    )
    scanning_role = memberships.get(booking.posting.hospital_id)
    if scanning_role == HospitalRole.LOCAL_STAFF:
        roles.append(Role.LOCAL)
    if cockpit.pk is not None and cockpit.assistants.filter(pk=user.pk).exists():
        roles.append(Role.ASSISTANT)
    if user.is_staff or HospitalRole.MANAGER in memberships.values():
        roles.append(Role.OBSERVER)
    if scanning_role == HospitalRole.MANAGER:
        # A manager at the scanning site may stand beside the patient too.
        roles.append(Role.LOCAL)
    return roles


# Who takes part from elsewhere: their link to the relay is checked, and control they hold falls
# back to local staff when it is lost.
REMOTE_ROLES = (Role.OPERATOR, Role.ASSISTANT)


def local_staff_of(cockpit: CockpitSession) -> QuerySet[User]:
    """The people who may stand beside the patient: local staff of the scanning hospital (its
    managers too, as `roles_for` lets them be local), by name."""
    hospital_id = cockpit.booking.posting.hospital_id
    return User.objects.filter(
        memberships__hospital_id=hospital_id,
        memberships__role__in=[HospitalRole.LOCAL_STAFF, HospitalRole.MANAGER],
        is_active=True,
    ).order_by("first_name", "last_name", "pk")


def prescan_view(cockpit: CockpitSession) -> dict[str, Any] | None:
    """The pre-scan checklist as everyone sees it; None until local staff confirm it."""
    check = (
        PrescanCheck.objects.filter(cockpit=cockpit)
        .select_related("confirmed_by", "beside_patient")
        .first()
    )
    if check is None:
        return None
    return {
        "confirmed_at": check.confirmed_at.isoformat(),
        "confirmed_by": person(check.confirmed_by, Role.LOCAL),
        "beside_patient": person(check.beside_patient, Role.LOCAL),
        "patient_informed": check.patient_informed,
        "link_level": check.link_level,
        "links": check.link_figures,
    }


def access_cockpit(user: User, cockpit_id: int | str) -> CockpitSession:
    """The session, if `user` has any role in it; 404 otherwise (as for another hospital's
    objects)."""
    pk = as_id(cockpit_id, message=_("No such cockpit session."))
    cockpit = _with_graph(CockpitSession.objects.filter(pk=pk)).first()
    if cockpit is None or not roles_for(user, cockpit):
        raise NotFound(_("No such cockpit session."))
    return cockpit


def cockpit_get(*, cockpit_id: int) -> CockpitSession:
    """One session with what its views need, for the relay once it has authorised the socket."""
    return _with_graph(CockpitSession.objects.filter(pk=cockpit_id)).get()


def cockpit_bookings_due(*, user: User, now: datetime | None = None) -> QuerySet[Booking]:
    """Confirmed or running bookings that `user` has a part in and whose cockpit is open now or
    opens within the next 12 hours, soonest first."""
    now = now or timezone.now()
    hospitals = Membership.objects.filter(user=user).values("hospital")
    queryset = Booking.objects.filter(
        Q(status=BookingStatus.IN_PROGRESS)
        | Q(
            status=BookingStatus.CONFIRMED,
            ends_at__gt=now,
            starts_at__lte=now + timedelta(hours=12) + OPEN_BEFORE,
        )
    ).select_related("posting__hospital", "posting__site", "posting__scanner", "technologist")
    if not user.is_staff:
        queryset = queryset.filter(
            Q(technologist=user)
            | Q(posting__hospital__in=hospitals)
            | Q(lending_hospital__in=hospitals)
            | Q(cockpit__assistants=user)
        ).distinct()
    return queryset.order_by("starts_at", "pk")


def scanner_open_booking(*, scanner: Scanner, now: datetime | None = None) -> Booking | None:
    """The booking whose cockpit this scanner serves now: the one in progress, else the confirmed
    one whose window is open (the earliest)."""
    now = now or timezone.now()
    bookings = Booking.objects.filter(posting__scanner=scanner).select_related(
        "posting__hospital", "technologist"
    )
    running = bookings.filter(status=BookingStatus.IN_PROGRESS).order_by("starts_at").first()
    if running is not None:
        return running
    return (
        bookings.filter(
            status=BookingStatus.CONFIRMED,
            starts_at__lte=now + OPEN_BEFORE,
            ends_at__gt=now,
        )
        .order_by("starts_at")
        .first()
    )


def scanner_next_booking(*, scanner: Scanner, now: datetime | None = None) -> Booking | None:
    """The next confirmed booking on this scanner whose cockpit is not open yet."""
    now = now or timezone.now()
    return (
        Booking.objects.filter(
            posting__scanner=scanner,
            status=BookingStatus.CONFIRMED,
            starts_at__gt=now + OPEN_BEFORE,
        )
        .order_by("starts_at")
        .first()
    )


def controlled_count(*, user: User, exclude_id: int | None = None) -> int:
    """How many open cockpits `user` holds control of as operator."""
    queryset = CockpitSession.objects.filter(
        controller=user,
        controller_role=Role.OPERATOR,
        booking__status__in=COCKPIT_BOOKING_STATUSES,
    ).exclude(status=CockpitStatus.ENDED)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.count()


def person(user: User | None, role: str = "") -> dict[str, Any] | None:
    """How a participant appears in frames: id, name and role. Never an e-mail address to the
    other hospital: the display name only."""
    if user is None:
        return None
    return {"id": user.pk, "name": user.display_name, "role": role}


def control_view(cockpit: CockpitSession) -> dict[str, Any]:
    """The control token as every participant sees it."""
    return {
        "controller": person(cockpit.controller, cockpit.controller_role),
        "requested_by": person(cockpit.control_requested_by, cockpit.control_requested_role),
        "local_override": cockpit.local_override,
        "join_approved": cockpit.join_approved,
        "join_approved_by": person(cockpit.join_approved_by, Role.LOCAL),
    }


def session_view(cockpit: CockpitSession) -> dict[str, Any]:
    """The session's own facts: status, protocol, when the exam started and ended, the work
    (never the patient)."""
    booking = cockpit.booking
    posting = booking.posting
    return {
        "id": cockpit.pk,
        "status": cockpit.status,
        "protocol": cockpit.protocol,
        "booking": booking.pk,
        "hospital": posting.hospital.name,
        "site": posting.site.name,
        "scanner": posting.scanner.name,
        "operator": person(booking.technologist, Role.OPERATOR),
        "starts_at": booking.starts_at.isoformat(),
        "ends_at": booking.ends_at.isoformat(),
        "started_at": cockpit.started_at.isoformat() if cockpit.started_at else None,
        "ended_at": cockpit.ended_at.isoformat() if cockpit.ended_at else None,
        "exam_families": [
            {"code": family.code, "name": family.label}
            for family in posting.required_exam_families.all()
        ],
        "assist": assist_view(assist_latest(cockpit=cockpit)),
        "prescan": prescan_view(cockpit),
        **outcome_view(cockpit),
    }


# --- The exam's outcome -----------------------------------------------------------------------


def stop_view(stop: CockpitStop) -> dict[str, Any]:
    """One STOP as the people in the cockpit see it."""
    return {
        "id": stop.pk,
        "by": person(stop.by, stop.role),
        "at": stop.at.isoformat(),
        "reason": stop.reason,
        "reason_by": person(stop.reason_by, ""),
        "reason_at": stop.reason_at.isoformat() if stop.reason_at else None,
    }


def exam_record_view(record: ExamRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "outcome": record.outcome,
        "label": record.label,
        "sequences": record.sequences,
        "done": record.sequences_done,
        "total": record.sequences_total,
        "ending": record.ending,
        "ending_label": record.get_ending_display(),
        "ended_by": person(record.ended_by, record.ended_role),
        "ended_at": record.ended_at.isoformat(),
    }


def outcome_view(cockpit: CockpitSession) -> dict[str, Any]:
    """What the session view says of the exam's outcome: the site's time zone (every time the
    cockpit shows is read in it), every STOP, and the closing summary once it ended."""
    stops = (
        list(cockpit.stops.select_related("by", "reason_by").order_by("at", "pk"))
        if cockpit.pk
        else []
    )
    record = ExamRecord.objects.filter(cockpit=cockpit).first() if cockpit.pk else None
    return {
        "time_zone": cockpit.booking.posting.site.time_zone,
        "stops": [stop_view(stop) for stop in stops],
        "outcome": exam_record_view(record),
    }


def exam_summaries(booking_ids: Sequence[int]) -> dict[int, ExamSummary]:
    """How the exams of these bookings ran (the reader `scheduling.exams` asks): those that
    started, with their summary once they ended. One query."""
    rows = (
        CockpitSession.objects.filter(booking_id__in=booking_ids, started_at__isnull=False)
        .select_related("exam_record")
        .only(
            "booking_id",
            "started_at",
            "ended_at",
            "exam_record__outcome",
            "exam_record__sequences_done",
            "exam_record__sequences_total",
        )
    )
    found: dict[int, ExamSummary] = {}
    for cockpit in rows:
        record = getattr(cockpit, "exam_record", None)
        found[cockpit.booking_id] = ExamSummary(
            started_at=cockpit.started_at,
            ended_at=cockpit.ended_at,
            outcome=record.outcome if record else "",
            label=record.label if record else "",
            done=record.sequences_done if record else 0,
            total=record.sequences_total if record else 0,
        )
    return found


# --- Senior assistance ------------------------------------------------------------------------


def assist_escalate_after() -> timedelta:
    """How long an unanswered request waits before its next escalation step (settings)."""
    return timedelta(seconds=settings.ASSIST_ESCALATE_AFTER_SECONDS)


def assist_current(*, cockpit: CockpitSession) -> AssistRequest | None:
    """The cockpit's request for help that is still under way (open, or a senior assisting),
    the newest first."""
    return (
        AssistRequest.objects.filter(
            cockpit=cockpit, status__in=(AssistStatus.OPEN, AssistStatus.ACCEPTED)
        )
        .select_related("exam_family", "requested_by", "accepted_by")
        .order_by("-created_at", "-pk")
        .first()
    )


# How long a request that ended stays on the console (a reload still says "Help done").
ASSIST_SHOWN_AFTER_END = timedelta(minutes=30)


def assist_latest(*, cockpit: CockpitSession) -> AssistRequest | None:
    """What the console shows: the request under way, else one that ended in the last half
    hour."""
    current = assist_current(cockpit=cockpit)
    if current is not None:
        return current
    return (
        AssistRequest.objects.filter(
            cockpit=cockpit, ended_at__gte=timezone.now() - ASSIST_SHOWN_AFTER_END
        )
        .select_related("exam_family", "requested_by", "accepted_by")
        .order_by("-ended_at", "-pk")
        .first()
    )


def assist_view(assist: AssistRequest | None) -> dict[str, Any] | None:
    """A request for help as the people in the cockpit (and the seniors asked) see it."""
    if assist is None:
        return None
    next_step_at = None
    if assist.status == AssistStatus.OPEN and assist.stage < AssistStage.MANAGERS:
        next_step_at = (assist.stage_changed_at + assist_escalate_after()).isoformat()
    notices = list(assist.notices.values_list("may_accept", flat=True))
    return {
        "id": assist.pk,
        "cockpit": assist.cockpit_id,
        "status": assist.status,
        "status_label": assist.get_status_display(),
        "stage": assist.stage,
        "stage_label": assist.get_stage_display(),
        "exam_family": {"code": assist.exam_family.code, "name": assist.exam_family.name},
        "vendor": assist.vendor,
        "note": assist.note,
        "requested_by": person(assist.requested_by, assist.requester_role),
        "requested_at": assist.created_at.isoformat(),
        "stage_changed_at": assist.stage_changed_at.isoformat(),
        "next_step_at": next_step_at,
        "asked": sum(1 for may_accept in notices if may_accept),
        "managers_alerted": any(not may_accept for may_accept in notices),
        "accepted_by": person(assist.accepted_by, Role.ASSISTANT),
        "accepted_at": assist.accepted_at.isoformat() if assist.accepted_at else None,
        "ended_at": assist.ended_at.isoformat() if assist.ended_at else None,
    }


def assist_wanted_message(assist: AssistRequest) -> Promise:
    """What a technologist asked to help reads (banner, notification, mail): lazy, so each
    reader reads it in their own language."""
    posting = assist.cockpit.booking.posting
    facts = {
        "family": assist.exam_family.lazy_label,
        "vendor": posting.scanner.get_vendor_display(),
        "hospital": posting.hospital.name,
        "site": posting.site.name,
        "scanner": posting.scanner.name,
    }
    if assist.note:
        return format_lazy(
            gettext_lazy(
                "Help wanted now: {family} on {vendor} at {hospital} ({site}, {scanner}). "
                "{name}: “{note}”"
            ),
            name=assist.requested_by.display_name,
            note=assist.note,
            **facts,
        )
    return format_lazy(
        gettext_lazy("Help wanted now: {family} on {vendor} at {hospital} ({site}, {scanner})."),
        **facts,
    )


def operating_now(*, now: datetime | None = None) -> QuerySet[Booking]:
    """Bookings whose operator is at a cockpit now (or within its opening): running, or
    confirmed with the cockpit open. Their technologists are not asked to assist elsewhere."""
    now = now or timezone.now()
    return Booking.objects.filter(
        Q(status=BookingStatus.IN_PROGRESS)
        | Q(status=BookingStatus.CONFIRMED, starts_at__lte=now + OPEN_BEFORE, ends_at__gt=now)
    )


def _covering(windows: QuerySet[Any], now: datetime) -> set[int]:
    """Technologists with one of these windows under way at `now` (recurrences expanded; a
    person already found is not expanded again)."""
    candidates = windows.filter(starts_at__lte=now).filter(
        Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now)
    )
    found: set[int] = set()
    for window in candidates:
        if window.technologist_id not in found and window.covers(now):
            found.add(window.technologist_id)
    return found


def on_call_now(
    *, now: datetime, exam_family_id: int | None = None, among: QuerySet[User] | None = None
) -> set[int]:
    """Technologists with an on-call window under way now (for this exam family when given:
    windows that list it, or list none) and whose on-call switch is on; only `among` these
    people when given (so that only their windows are expanded)."""
    windows = OnCallWindow.objects.filter(technologist__technologist_profile__on_call_paused=False)
    if among is not None:
        windows = windows.filter(technologist__in=among)
    if exam_family_id is not None:
        windows = windows.filter(Q(exam_families=None) | Q(exam_families=exam_family_id))
    return _covering(windows.distinct(), now)


def on_call_window_now(*, technologist: User, now: datetime) -> OnCallWindow | None:
    """The technologist's on-call window under way now, if any (its lender is credited)."""
    current = on_call_occurrence_now(technologist=technologist, now=now)
    return current[0] if current else None


def requester_languages(assist: AssistRequest) -> set[str]:
    """The languages the requester speaks: their profile's. Local staff have none on file: they
    speak the session's working languages, or, when the posting names none, the operator's (the
    two work together in it)."""
    profile = getattr(assist.requested_by, "technologist_profile", None)
    codes = set(profile.languages.values_list("code", flat=True)) if profile else set()
    if codes:
        return codes
    booking = assist.cockpit.booking
    codes = set(booking.posting.languages.values_list("code", flat=True))
    return codes or _languages_of(booking.technologist_id)


def _languages_of(user_id: int) -> set[str]:
    return set(Language.objects.filter(technologists__user=user_id).values_list("code", flat=True))


def cockpit_languages(assist: AssistRequest) -> set[str]:
    """Every language spoken in the cockpit: the requester's, the operator's and the session's."""
    booking = assist.cockpit.booking
    codes = requester_languages(assist)
    codes |= set(booking.posting.languages.values_list("code", flat=True))
    return codes | _languages_of(booking.technologist_id)


def assist_candidates(
    *, assist: AssistRequest, stage: int, now: datetime | None = None
) -> QuerySet[User]:
    """Who is asked to answer `assist` at `stage` (managers excepted, see assist_managers):

    - always: a verified, unexpired licence; competent in the exam family and familiar with the
      scanner's vendor; not operating a cockpit now; not already in this one;
    - stage 1, seniors on call: seniority senior, an on-call window for the family under way,
      the on-call switch on, and a language shared with the requester (local staff: the
      session's languages);
    - stage 2, widened: experienced or senior, on call (any family) or available for remote
      work now, the switch on, and any language shared with the people in the cockpit."""
    now = now or timezone.now()
    booking = assist.cockpit.booking
    people = User.objects.filter(
        is_active=True,
        technologist_profile__licence_number__gt="",
        technologist_profile__licence_verified_at__isnull=False,
        technologist_profile__licence_valid_until__gte=timezone.localdate(now),
        technologist_profile__on_call_paused=False,
        technologist_profile__exam_families=assist.exam_family_id,
        technologist_profile__vendor_familiarities__vendor=assist.vendor,
    ).exclude(pk__in=[assist.requested_by_id, booking.technologist_id])
    people = people.exclude(pk__in=assist.cockpit.assistants.values("pk"))
    people = people.exclude(pk__in=operating_now(now=now).values("technologist"))
    if stage == AssistStage.SENIORS:
        people = people.filter(technologist_profile__seniority=Seniority.SENIOR)
        languages = requester_languages(assist)
    else:
        people = people.filter(
            technologist_profile__seniority__in=(Seniority.EXPERIENCED, Seniority.SENIOR)
        )
        languages = cockpit_languages(assist)
    # A language in common is required: nobody when nobody's languages are known.
    people = people.filter(technologist_profile__languages__in=languages)
    # The database's filters first; only the windows of the people left are expanded.
    among = User.objects.filter(pk__in=people.values("pk"))
    if stage == AssistStage.SENIORS:
        ready = on_call_now(now=now, exam_family_id=assist.exam_family_id, among=among)
    else:
        ready = on_call_now(now=now, among=among) | _covering(
            AvailabilityWindow.objects.filter(technologist__in=among), now
        )
    return people.filter(pk__in=ready).distinct().order_by("pk")


def assist_managers(*, assist: AssistRequest) -> QuerySet[User]:
    """The managers of the operator's hospital: the hospital that lent them, else the hospitals
    they work for; the scanning hospital's managers when the operator has none."""
    booking = assist.cockpit.booking
    if booking.lending_hospital_id:
        hospital_ids = [booking.lending_hospital_id]
    else:
        hospital_ids = list(
            Membership.objects.filter(
                user_id=booking.technologist_id, role=HospitalRole.TECHNOLOGIST
            ).values_list("hospital_id", flat=True)
        )
    if not hospital_ids:
        hospital_ids = [booking.posting.hospital_id]
    return (
        User.objects.filter(
            is_active=True,
            memberships__hospital_id__in=hospital_ids,
            memberships__role=HospitalRole.MANAGER,
        )
        .distinct()
        .order_by("pk")
    )


def assist_with_graph(queryset: QuerySet[AssistRequest]) -> QuerySet[AssistRequest]:
    """Requests with what their views and services read: family, people, cockpit, booking."""
    return queryset.select_related(
        "exam_family",
        "requested_by",
        "accepted_by",
        "cockpit__booking__posting__hospital",
        "cockpit__booking__posting__site",
        "cockpit__booking__posting__scanner",
        "cockpit__booking__technologist",
        "cockpit__booking__lending_hospital",
    )


def assist_incoming(*, user: User) -> QuerySet[AssistRequest]:
    """Open requests `user` was asked to answer (or, as a manager, alerted about), newest
    first."""
    return assist_with_graph(
        AssistRequest.objects.filter(notices__user=user, status=AssistStatus.OPEN)
    ).order_by("-created_at", "-pk")


def assist_history(*, user: User) -> QuerySet[AssistRequest]:
    """Every request `user` raised, was asked about or answered, newest first."""
    return (
        assist_with_graph(
            AssistRequest.objects.filter(
                Q(notices__user=user) | Q(requested_by=user) | Q(accepted_by=user)
            )
        )
        .distinct()
        .order_by("-created_at", "-pk")
    )


def access_assist(user: User, assist_id: int | str) -> AssistRequest:
    """A request `user` raised, was asked about or answered, or one in a cockpit they are in;
    404 for anyone else."""
    pk = as_id(assist_id, message=_("No such request for help."))
    assist = assist_with_graph(AssistRequest.objects.filter(pk=pk)).first()
    if assist is None:
        raise NotFound(_("No such request for help."))
    if (
        assist.requested_by_id == user.pk
        or assist.accepted_by_id == user.pk
        or AssistNotice.objects.filter(request=assist, user=user).exists()
        or roles_for(user, assist.cockpit)
    ):
        return assist
    raise NotFound(_("No such request for help."))


def assist_notice_for(*, assist: AssistRequest, user: User) -> AssistNotice | None:
    return AssistNotice.objects.filter(request=assist, user=user).first()


# --- The rules' view of a session ---------------------------------------------------------------


def cockpit_ended_reason(cockpit: CockpitSession) -> str:
    """Why nothing more is done in this session; "" while it is open."""
    if cockpit.status == CockpitStatus.ENDED:
        return _("This cockpit session has ended.")
    if cockpit.booking.status not in COCKPIT_BOOKING_STATUSES:
        # Cancelled, no-show or completed outside the cockpit: nothing more is done in it.
        return _("This session's booking is %(status)s: the cockpit is closed.") % {
            "status": cockpit.booking.get_status_display().lower()
        }
    return ""


def room_of(
    cockpit: CockpitSession,
    *,
    assist: AssistRequest | None = None,
    now: datetime | None = None,
) -> Room:
    """The session as `cockpit.rules` reads it: control, consent, whether it is open, and the
    request for help concerned (`assist`, else the one under way)."""
    if assist is None and cockpit.pk is not None:
        assist = assist_current(cockpit=cockpit)
    if assist is None:
        assist_status = ""
    elif assist.status in (AssistStatus.OPEN, AssistStatus.ACCEPTED):
        assist_status = str(assist.status)
    else:
        assist_status = "closed"
    return Room(
        controller_id=cockpit.controller_id,
        controller_role=cockpit.controller_role,
        requested_by_id=cockpit.control_requested_by_id,
        requested_role=cockpit.control_requested_role,
        held=cockpit.local_override,
        join_approved=cockpit.join_approved,
        ended=cockpit_ended_reason(cockpit),
        window_open=cockpit_is_open(cockpit, now=now),
        started=cockpit.started_at is not None,
        assist=assist_status,
        assist_helper_id=assist.accepted_by_id if assist is not None else None,
        prescan_done=cockpit.pk is not None
        and PrescanCheck.objects.filter(cockpit_id=cockpit.pk).exists(),
        stopped_by=frozenset(
            CockpitStop.objects.filter(cockpit_id=cockpit.pk, by__isnull=False).values_list(
                "by_id", flat=True
            )
        )
        if cockpit.pk is not None
        else frozenset(),
    )


def room_data(room: Room) -> dict[str, Any]:
    """A room as plain data, for a channel-layer message (Redis carries no dataclasses)."""
    data = dataclasses.asdict(room)
    data["stopped_by"] = sorted(room.stopped_by)
    return data


def room_from(data: dict[str, Any]) -> Room:
    return Room(**{**data, "stopped_by": frozenset(data.get("stopped_by", ()))})

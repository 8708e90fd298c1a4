"""Server-rendered pages for availability: a technologist's week, and a hospital's staff with the
windows a manager lends. Times are shown and typed in the viewer's wall clock (a technologist's
home time zone; a hospital's own for its managers) and reach the services as aware datetimes."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from core.dates import within_calendar
from core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from core.pages import form_error, next_or
from marketplace import access, selectors
from marketplace.models import Hospital, Role
from marketplace.selectors import hospital_time_zone
from scheduling import services
from scheduling.forms import AvailabilityForm, SkipOccurrenceForm, describe_rule
from scheduling.models import AvailabilityWindow
from scheduling.selectors import Slot, access_availability_window, availability_slots

# The hours a week view always shows; an earlier or later window widens it.
DAY_FIRST_HOUR, DAY_LAST_HOUR = 7, 19


# --- The week -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """The part of one occurrence that falls on one local day, placed on that day's column."""

    slot: Slot
    starts: datetime  # local (aware, in the viewer's zone)
    ends: datetime
    label: str  # the whole occurrence, e.g. "22:00–06:00 (+1)"
    top: float = 0.0  # percentages of the day column
    height: float = 0.0
    left: float = 0.0
    width: float = 100.0


@dataclass
class Day:
    day: date
    segments: list[Segment]
    is_today: bool


@dataclass
class Week:
    monday: date
    time_zone: str
    days: list[Day]
    hours: list[int]

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)


def _midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min).replace(tzinfo=ZoneInfo(time_zone))


def week_range(monday: date, time_zone: str) -> dict[str, datetime]:
    """From Monday's midnight to the next Monday's, on the wall clock of `time_zone` (a week
    with a clock change lasts 167 or 169 hours)."""
    return {
        "range_start": _midnight(monday, time_zone),
        "range_end": _midnight(monday + timedelta(days=7), time_zone),
    }


def _minutes(moment: datetime, day: date) -> int:
    """Minutes on the wall clock since `day` began (1440 for the next midnight)."""
    return 1440 if moment.date() > day else moment.hour * 60 + moment.minute


def _label(starts: datetime, ends: datetime) -> str:
    days = (ends.date() - starts.date()).days
    times = f"{date_format(starts, 'H:i')}–{date_format(ends, 'H:i')}"
    return f"{times} (+{days})" if days else times


def requested_monday(request: HttpRequest, time_zone: str) -> date:
    """The Monday of the week asked for by ?week=<any day of it>; this week otherwise."""
    today = timezone.now().astimezone(ZoneInfo(time_zone)).date()
    try:
        day = date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        return _monday(today)
    # A week outside the calendar (year 1, year 9999) shows this week rather than overflow.
    return _monday(day if within_calendar(day) else today)


def build_week(monday: date, time_zone: str, slots: list[Slot]) -> Week:
    """The occurrences of a week in one wall clock: each day's parts, placed by time, side by
    side where they overlap."""
    zone = ZoneInfo(time_zone)
    today = timezone.now().astimezone(zone).date()
    per_day: list[list[Segment]] = [[] for _ in range(7)]
    for slot in slots:
        starts = slot.occurrence.starts_at.astimezone(zone)
        ends = slot.occurrence.ends_at.astimezone(zone)
        label = _label(starts, ends)
        for index in range(7):
            day = monday + timedelta(days=index)
            day_start, day_end = _midnight(day, time_zone), _midnight(day + timedelta(1), time_zone)
            if starts < day_end and ends > day_start:
                per_day[index].append(
                    Segment(slot, max(starts, day_start), min(ends, day_end), label)
                )
    segments = [s for day in per_day for s in day]
    first = min([DAY_FIRST_HOUR, *(s.starts.hour for s in segments)])
    last = max([DAY_LAST_HOUR, *(-(-_minutes(s.ends, s.starts.date()) // 60) for s in segments)])
    days = [
        Day(
            day=monday + timedelta(days=index),
            segments=_placed(per_day[index], monday + timedelta(days=index), first, last),
            is_today=monday + timedelta(days=index) == today,
        )
        for index in range(7)
    ]
    return Week(monday=monday, time_zone=time_zone, days=days, hours=list(range(first, last)))


def _placed(segments: list[Segment], day: date, first: int, last: int) -> list[Segment]:
    span = (last - first) * 60
    lanes: list[int] = []  # the minute each lane is free again
    assigned: list[tuple[Segment, int, int, int]] = []
    for segment in sorted(segments, key=lambda s: (s.starts, s.ends)):
        begin, end = _minutes(segment.starts, day), _minutes(segment.ends, day)
        lane = next((i for i, free in enumerate(lanes) if free <= begin), len(lanes))
        if lane == len(lanes):
            lanes.append(end)
        else:
            lanes[lane] = end
        assigned.append((segment, lane, begin, end))
    width = 100 / max(len(lanes), 1)
    return [
        Segment(
            segment.slot,
            segment.starts,
            segment.ends,
            segment.label,
            top=(begin - first * 60) * 100 / span,
            height=max(end - begin, 15) * 100 / span,
            left=lane * width,
            width=width,
        )
        for segment, lane, begin, end in assigned
    ]


def _local_start_in_window_zone(slot: Slot) -> str:
    """How the window's own rule names this occurrence: its local start in the window's zone."""
    zone = ZoneInfo(slot.window.time_zone)
    return slot.occurrence.starts_at.astimezone(zone).replace(tzinfo=None).isoformat()


# --- A technologist's own availability ------------------------------------------------------------


def _own_time_zone(request: AuthenticatedHttpRequest) -> str | None:
    profile = selectors.technologist_profile_for(user=request.user)
    return profile.home_time_zone if profile else None


def _needs_profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    messages.info(
        request, _("Set up your technologist profile first: your availability uses its time zone.")
    )
    return redirect("technologist_profile")


@login_required
def availability_week(request: AuthenticatedHttpRequest) -> HttpResponse:
    time_zone = _own_time_zone(request)
    if time_zone is None:
        return _needs_profile(request)
    monday = requested_monday(request, time_zone)
    slots = availability_slots(technologists=[request.user], **week_range(monday, time_zone))
    week = build_week(monday, time_zone, slots)
    occurrences = [
        {
            "slot": slot,
            "starts": slot.occurrence.starts_at.astimezone(ZoneInfo(time_zone)),
            "ends": slot.occurrence.ends_at.astimezone(ZoneInfo(time_zone)),
            "rule": describe_rule(slot.window.rrule),
            "local_start": _local_start_in_window_zone(slot),
        }
        for slot in slots
    ]
    return render(
        request,
        "scheduling/availability_week.html",
        {"week": week, "occurrences": occurrences, "time_zone": time_zone},
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_url(day: date) -> str:
    return f"{reverse('availability_week')}?week={_monday(day).isoformat()}"


def _form_page(
    request: AuthenticatedHttpRequest,
    form: AvailabilityForm,
    *,
    window: AvailabilityWindow | None = None,
    technologist: User | None = None,
    hospital: Hospital | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "scheduling/availability_form.html",
        {
            "form": form,
            "window": window,
            "technologist": technologist,
            "hospital": hospital,
            "time_zone": form.time_zone,
            "next": next_or(request, ""),
        },
        status=status,
    )


def _initial_for_day(request: HttpRequest) -> dict[str, Any]:
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return {}
    return {
        "starts_at": datetime.combine(day, time(8)),
        "ends_at": datetime.combine(day, time(12)),
    }


@login_required
def availability_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    time_zone = _own_time_zone(request)
    if time_zone is None:
        return _needs_profile(request)
    if request.method != "POST":
        form = AvailabilityForm(initial=_initial_for_day(request), time_zone=time_zone)
        return _form_page(request, form)
    form = AvailabilityForm(request.POST, time_zone=time_zone)
    if form.is_valid():
        try:
            window = services.availability_create(
                actor=request.user, technologist=request.user, **form.service_arguments()
            )
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                _("Availability added: %(summary)s.") % {"summary": _summary(window, time_zone)},
            )
            return redirect(_week_url(window.starts_at.astimezone(ZoneInfo(time_zone)).date()))
    return _form_page(request, form, status=400)


def _summary(window: AvailabilityWindow, time_zone: str) -> str:
    zone = ZoneInfo(time_zone)
    starts, ends = window.starts_at.astimezone(zone), window.ends_at.astimezone(zone)
    first = f"{date_format(starts, 'D j M')}, {_label(starts, ends)}"
    if not window.rrule:
        return first
    rule = describe_rule(window.rrule)
    return _("%(first)s, then %(rule)s") % {"first": first, "rule": f"{rule[0].lower()}{rule[1:]}"}


def _changeable_window(request: AuthenticatedHttpRequest, window_id: int) -> AvailabilityWindow:
    """One's own window, or one a hospital one manages lent. A manager sees their technologists'
    own windows but may not change them (403); anyone else's do not exist here (404)."""
    window = access_availability_window(request.user, window_id)
    user = request.user
    if window.technologist_id == user.pk or user.is_staff:
        return window
    lent_by_mine = (
        window.lending_hospital_id is not None
        and access.hospitals_managed_by(user).filter(pk=window.lending_hospital_id).exists()
    )
    if not lent_by_mine:
        raise PermissionDenied(_("Only the technologist changes a window they published."))
    return window


def _after_change(request: AuthenticatedHttpRequest, window: AvailabilityWindow) -> str:
    if window.technologist_id == request.user.pk:
        zone = ZoneInfo(window.time_zone)
        return next_or(request, _week_url(window.starts_at.astimezone(zone).date()))
    if window.lending_hospital_id:
        return next_or(request, reverse("hospital_staff", args=[window.lending_hospital_id]))
    return next_or(request, reverse("home"))


@login_required
def availability_edit(request: AuthenticatedHttpRequest, window_id: int) -> HttpResponse:
    """The whole window (every occurrence of a repeating one), in its own wall clock."""
    window = _changeable_window(request, window_id)
    if request.method != "POST":
        form = AvailabilityForm(
            initial=AvailabilityForm.initial_for(window), time_zone=window.time_zone
        )
        return _form_page(request, form, window=window, technologist=window.technologist)
    form = AvailabilityForm(request.POST, time_zone=window.time_zone)
    if form.is_valid():
        try:
            window = services.availability_update(
                actor=request.user, window=window, **form.service_arguments()
            )
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                _("Availability changed: %(summary)s.")
                % {"summary": _summary(window, window.time_zone)},
            )
            return redirect(_after_change(request, window))
    return _form_page(request, form, window=window, technologist=window.technologist, status=400)


@login_required
@require_POST
def availability_delete(request: AuthenticatedHttpRequest, window_id: int) -> HttpResponse:
    window = _changeable_window(request, window_id)
    destination = _after_change(request, window)
    services.availability_delete(actor=request.user, window=window)
    messages.success(
        request,
        _("Availability removed, every repeat of it.")
        if window.rrule
        else _("Availability removed."),
    )
    return redirect(destination)


@login_required
@require_POST
def availability_skip(request: AuthenticatedHttpRequest, window_id: int) -> HttpResponse:
    """One occurrence of a repeating window does not happen (a holiday); the others stay."""
    window = _changeable_window(request, window_id)
    form = SkipOccurrenceForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed(_("Say which occurrence to skip."))
    local_start = form.cleaned_data["local_start"]
    # The service refuses a one-off window and a time that is not one of its occurrences.
    services.availability_skip_occurrence(
        actor=request.user, window=window, local_start=local_start
    )
    messages.success(
        request,
        _("Skipped %(when)s; the other repeats stay.")
        % {"when": date_format(local_start, "D j M, H:i")},
    )
    return redirect(_after_change(request, window))


# --- A hospital's staff, and lending them ---------------------------------------------------------


@login_required
def hospital_staff(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    """The hospital's technologists and this week's occurrences of their availability."""
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    time_zone = hospital_time_zone(hospital)
    monday = requested_monday(request, time_zone)
    memberships = selectors.membership_list(user=request.user, hospital_id=hospital.pk).filter(
        role=Role.TECHNOLOGIST
    )
    technologists = [m.user for m in memberships]
    week = build_week(monday, time_zone, [])
    slots = availability_slots(technologists=technologists, **week_range(monday, time_zone))
    rows = [
        {
            "technologist": person,
            "week": build_week(
                monday, time_zone, [s for s in slots if s.window.technologist_id == person.pk]
            ),
        }
        for person in technologists
    ]
    return render(
        request,
        "scheduling/hospital_staff.html",
        {"hospital": hospital, "week": week, "rows": rows, "time_zone": time_zone},
    )


@login_required
def staff_lend(
    request: AuthenticatedHttpRequest, hospital_id: int, technologist_id: int
) -> HttpResponse:
    """A manager offers one of their technologists for a window, in the hospital's wall clock;
    the window records that this hospital lends the hours."""
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    membership = (
        selectors.membership_list(user=request.user, hospital_id=hospital.pk)
        .filter(user_id=technologist_id, role=Role.TECHNOLOGIST)
        .first()
    )
    if membership is None:
        raise NotFound(_("No such technologist in this hospital."))
    technologist = membership.user
    time_zone = hospital_time_zone(hospital)
    if request.method != "POST":
        form = AvailabilityForm(initial=_initial_for_day(request), time_zone=time_zone)
        return _form_page(request, form, technologist=technologist, hospital=hospital)
    form = AvailabilityForm(request.POST, time_zone=time_zone)
    if form.is_valid():
        try:
            window = services.availability_create(
                actor=request.user,
                technologist=technologist,
                lending_hospital=hospital,
                **form.service_arguments(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                _("%(name)s is lent: %(summary)s.")
                % {"name": technologist.display_name, "summary": _summary(window, time_zone)},
            )
            week = _monday(window.starts_at.astimezone(ZoneInfo(time_zone)).date())
            return redirect(
                f"{reverse('hospital_staff', args=[hospital.pk])}?week={week.isoformat()}"
            )
    return _form_page(request, form, technologist=technologist, hospital=hospital, status=400)

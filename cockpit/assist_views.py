"""Server-rendered pages for senior assistance: a technologist's on-call schedule and switch,
the requests for help a person was asked to answer (Accept joins the cockpit as assistant),
and the history of requests they raised, were asked about or answered. Times are shown and
typed in the viewer's wall clock (a technologist's home time zone). Every write is a service;
a refused one comes back as a message on the page it was asked from."""

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from cockpit import selectors, services
from cockpit.forms import ON_CALL_NOW_HOURS, OnCallNowForm, OnCallWindowForm
from cockpit.models import AssistNotice, AssistRequest, AssistStatus, Role
from cockpit.serializers import vendor_label
from cockpit.views import booking_time_zone
from core.errors import DomainError, ValidationFailed
from core.pages import form_error, next_or
from marketplace.models import TechnologistProfile
from marketplace.selectors import technologist_profile_for
from scheduling import services as scheduling_services
from scheduling.forms import describe_rule
from scheduling.models import LedgerEntry, OnCallWindow
from scheduling.recurrence import RecurrenceError
from scheduling.selectors import access_own_on_call_window, on_call_status, own_on_call_windows
from scheduling.services import on_call_refusal

# The schedule lists the occurrences of this many days ahead.
SCHEDULE_DAYS = 14
HISTORY_PAGE_SIZE = 25


def _occurrences(window: OnCallWindow, start: datetime, end: datetime) -> list[Any]:
    """The window's occurrences in [start, end); none for a rule too dense to expand."""
    try:
        return window.occurrences(start, end)
    except RecurrenceError:
        return []


# --- Forms ------------------------------------------------------------------------------------


# The service's field names, as the window form calls them.
_WINDOW_FIELDS = {"starts_at": "starts", "ends_at": "ends"}


# --- The on-call page -------------------------------------------------------------------------


def _family_choices(profile: TechnologistProfile) -> list[tuple[str, str]]:
    return [(family.code, family.label) for family in profile.exam_families.all()]


def _families_text(window: OnCallWindow) -> str:
    names = [family.label for family in window.exam_families.all()]
    return ", ".join(names) if names else _("All your exam families")


def _span(starts: datetime, ends: datetime) -> str:
    """ "Mon 3 Mar, 08:00–17:00", the end's day named when it is another one."""
    # The date format in the reader's language (day and month names), always 24-hour.
    if starts.date() == ends.date():
        return f"{dateformat.format(starts, 'D j M, H:i')}–{dateformat.format(ends, 'H:i')}"
    return f"{dateformat.format(starts, 'D j M, H:i')} – {dateformat.format(ends, 'D j M, H:i')}"


def _schedule(
    windows: list[OnCallWindow], *, now: datetime, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Every occurrence of the windows in the next SCHEDULE_DAYS days, in `zone`."""
    end = now + timedelta(days=SCHEDULE_DAYS)
    rows = []
    for window in windows:
        for occurrence in _occurrences(window, now, end):
            starts = occurrence.starts_at.astimezone(zone)
            ends = occurrence.ends_at.astimezone(zone)
            rows.append(
                {
                    "window": window,
                    "starts": starts,
                    "span": _span(starts, ends),
                    "now": occurrence.starts_at <= now < occurrence.ends_at,
                    "families": _families_text(window),
                    "rule": describe_rule(window.rrule),
                }
            )
    return sorted(rows, key=lambda row: (row["starts"], row["window"].pk))


def _window_rows(windows: list[OnCallWindow], *, zone: ZoneInfo) -> list[dict[str, Any]]:
    rows = []
    for window in windows:
        starts = window.starts_at.astimezone(zone)
        ends = window.ends_at.astimezone(zone)
        rows.append(
            {
                "window": window,
                "span": _span(starts, ends),
                "rule": describe_rule(window.rrule),
                "families": _families_text(window),
                "own_zone": window.time_zone if ZoneInfo(window.time_zone) != zone else "",
            }
        )
    return rows


def _on_call_page(
    request: AuthenticatedHttpRequest,
    profile: TechnologistProfile | None,
    *,
    now_form: OnCallNowForm | None = None,
    add_form: OnCallWindowForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {"profile": profile}
    if on_call_refusal(profile) is None:
        assert profile is not None
        now = timezone.now()
        zone = ZoneInfo(profile.home_time_zone)
        families = _family_choices(profile)
        windows = list(
            own_on_call_windows(request.user).filter(
                Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now)
            )
        )
        today = now.astimezone(zone).date()
        status_now = on_call_status(user=request.user, profile=profile, now=now)
        until = status_now["until"]
        context.update(
            may_go_on_call=True,
            time_zone=profile.home_time_zone,
            status=status_now,
            until=_local(until, profile.home_time_zone) if until else "",
            schedule=_schedule(windows, now=now, zone=zone),
            windows=_window_rows(windows, zone=zone),
            schedule_days=SCHEDULE_DAYS,
            families=families,
            hours_choices=ON_CALL_NOW_HOURS,
            now_form=now_form or OnCallNowForm(families=families),
            add_form=add_form
            or OnCallWindowForm(
                families=families,
                initial={
                    "day": today,
                    "starts": time(8),
                    "ends": time(17),
                    "repeat": OnCallWindowForm.ONCE,
                    "time_zone": profile.home_time_zone,
                },
            ),
        )
    return render(request, "cockpit/on_call.html", context, status=status)


def _on_call_profile(request: AuthenticatedHttpRequest) -> TechnologistProfile | None:
    return technologist_profile_for(user=request.user)


def _local(moment: datetime, zone: str) -> str:
    return dateformat.format(moment.astimezone(ZoneInfo(zone)), "H:i")


@login_required
def on_call_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The switch, "on call now", the next two weeks of the schedule, and a form to add a
    window. Juniors and people without a technologist profile are told why there is none."""
    return _on_call_page(request, _on_call_profile(request))


def _cannot_go_on_call(
    request: AuthenticatedHttpRequest, profile: TechnologistProfile | None
) -> HttpResponse:
    """Back to the on-call page, told why, for someone who keeps no on-call schedule."""
    messages.info(request, on_call_refusal(profile) or "")
    return redirect("on_call")


@login_required
def on_call_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Publish an on-call window (the form is on the on-call page)."""
    if request.method != "POST":
        return redirect(reverse("on_call") + "#add-window")
    profile = _on_call_profile(request)
    if profile is None or on_call_refusal(profile) is not None:
        return _cannot_go_on_call(request, profile)
    form = OnCallWindowForm(request.POST, families=_family_choices(profile))
    if form.is_valid():
        try:
            window = scheduling_services.on_call_create(
                actor=request.user, technologist=request.user, **form.service_arguments()
            )
        except DomainError as error:
            form_error(form, error, renamed=_WINDOW_FIELDS)
        else:
            zone = ZoneInfo(profile.home_time_zone)
            starts, ends = window.starts_at.astimezone(zone), window.ends_at.astimezone(zone)
            span = _span(starts, ends)
            if window.rrule:
                rule = describe_rule(window.rrule)
                message = _("On-call window added: %(span)s, then %(rule)s.") % {
                    "span": span,
                    "rule": f"{rule[0].lower()}{rule[1:]}",
                }
            else:
                message = _("On-call window added: %(span)s.") % {"span": span}
            messages.success(request, message)
            return redirect("on_call")
    return _on_call_page(request, profile, add_form=form, status=400)


@login_required
@require_POST
def on_call_now(request: AuthenticatedHttpRequest) -> HttpResponse:
    """On call from now for the hours chosen; the switch turns on."""
    profile = _on_call_profile(request)
    if profile is None or on_call_refusal(profile) is not None:
        return _cannot_go_on_call(request, profile)
    form = OnCallNowForm(request.POST, families=_family_choices(profile))
    if not form.is_valid():
        return _on_call_page(request, profile, now_form=form, status=400)
    try:
        window = scheduling_services.on_call_now(
            actor=request.user,
            hours=form.cleaned_data["hours"],
            exam_families=form.cleaned_data["exam_families"],
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _(
                "You are on call now until %(time)s (%(zone)s): requests for help reach you on "
                "any WeScan page."
            )
            % {
                "time": _local(window.ends_at, profile.home_time_zone),
                "zone": profile.home_time_zone,
            },
        )
    return redirect("on_call")


@login_required
@require_POST
def on_call_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The on-call switch: off, no request for help reaches you, whatever the schedule."""
    choice = request.POST.get("paused", "")
    if choice not in ("true", "false"):
        raise ValidationFailed(_("Say whether to turn the on-call switch on or off."))
    paused = choice == "true"
    try:
        scheduling_services.on_call_pause(
            actor=request.user, technologist=request.user, paused=paused
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("On call is off: no request for help reaches you until you turn it on.")
            if paused
            else _("On call is on: requests for help reach you during your on-call windows."),
        )
    return redirect("on_call")


@login_required
@require_POST
def on_call_delete(request: AuthenticatedHttpRequest, window_id: int) -> HttpResponse:
    window = access_own_on_call_window(request.user, window_id)
    scheduling_services.on_call_delete(actor=request.user, window=window)
    messages.success(
        request,
        _("On-call window removed, every repeat of it.")
        if window.rrule
        else _("On-call window removed."),
    )
    return redirect("on_call")


# --- Requests for help ------------------------------------------------------------------------


def _age(moment: datetime, now: datetime) -> str:
    """ "just now", "2 minutes ago"."""
    if now - moment < timedelta(minutes=1):
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, now)}


def _duration(assist: AssistRequest, now: datetime) -> str:
    """How long the senior helped: "25 min", "1 h 05 min"; empty when nobody did."""
    if assist.accepted_at is None:
        return ""
    minutes = int(((assist.ended_at or now) - assist.accepted_at).total_seconds() // 60)
    if minutes < 1:
        return _("under a minute")
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": f"{minutes:02d}"}
    return _("%(minutes)s min") % {"minutes": minutes}


def _cockpit_url(user: User, assist: AssistRequest) -> str:
    """The cockpit's console when the viewer has a role in it; empty otherwise."""
    if not selectors.roles_for(user, assist.cockpit):
        return ""
    return reverse("cockpit_console", args=[assist.cockpit_id])


def _where(assist: AssistRequest) -> dict[str, str]:
    posting = assist.cockpit.booking.posting
    return {
        "hospital": posting.hospital.name,
        "site": posting.site.name,
        "scanner": posting.scanner.name,
    }


def _notices(user: User, assists: list[AssistRequest]) -> dict[int, AssistNotice]:
    return {
        notice.request_id: notice
        for notice in AssistNotice.objects.filter(user=user, request__in=assists)
    }


@login_required
def assist_incoming(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open requests for help the person was asked to answer (Accept), or, as a manager,
    alerted about."""
    user = request.user
    now = timezone.now()
    assists = list(selectors.assist_incoming(user=user))
    notices = _notices(user, assists)
    rows = []
    for assist in assists:
        notice = notices.get(assist.pk)
        may_accept = bool(notice and notice.may_accept)
        view = selectors.assist_view(assist) or {}
        zone = booking_time_zone(user, assist.cockpit.booking)
        rows.append(
            {
                "assist": assist,
                "vendor": vendor_label(assist.vendor),
                "requester_role": Role(assist.requester_role).label.lower(),
                "age": _age(assist.created_at, now),
                "may_accept": may_accept,
                "asked": view.get("asked", 0),
                "widens_at": (
                    _local(assist.stage_changed_at + selectors.assist_escalate_after(), zone)
                    if view.get("next_step_at")
                    else ""
                ),
                "time_zone": zone,
                "cockpit_url": "" if may_accept else _cockpit_url(user, assist),
                **_where(assist),
            }
        )
    return render(request, "cockpit/assist_incoming.html", {"rows": rows})


def _part(user: User, assist: AssistRequest, notice: AssistNotice | None) -> str:
    if assist.requested_by_id == user.pk:
        return _("You asked")
    if assist.accepted_by_id == user.pk:
        return _("You helped")
    if notice is not None and not notice.may_accept:
        return _("You were alerted")
    return _("You were asked")


@login_required
def assist_history(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every request the person raised, was asked about or answered, newest first: who helped,
    for how long, and the hours credited to the senior's hospital."""
    user = request.user
    now = timezone.now()
    page = Paginator(selectors.assist_history(user=user), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    assists = list(page.object_list)
    notices = _notices(user, assists)
    hours = dict(LedgerEntry.objects.filter(assist__in=assists).values_list("assist_id", "hours"))
    rows = [
        {
            "assist": assist,
            "part": _part(user, assist, notices.get(assist.pk)),
            "vendor": vendor_label(assist.vendor),
            "when": dateformat.format(
                assist.created_at.astimezone(
                    ZoneInfo(booking_time_zone(user, assist.cockpit.booking))
                ),
                "D j M Y, H:i",
            ),
            "duration": _duration(assist, now),
            "hours": hours.get(assist.pk),
            "cockpit_url": (
                _cockpit_url(user, assist)
                if assist.status in (AssistStatus.OPEN, AssistStatus.ACCEPTED)
                else ""
            ),
            **_where(assist),
        }
        for assist in assists
    ]
    return render(request, "cockpit/assist_history.html", {"rows": rows, "page": page})


@login_required
@require_POST
def assist_accept(request: AuthenticatedHttpRequest, assist_id: int) -> HttpResponse:
    """The first technologist asked who accepts joins the cockpit as assistant; anyone later is
    sent back to the list, told who is helping."""
    assist = selectors.access_assist(request.user, assist_id)
    try:
        services.assist_accept(actor=request.user, assist_id=assist.pk)
    except services.AssistTaken as error:
        messages.warning(request, error.message)
        return redirect("assist_incoming")
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("assist_incoming")
    messages.success(
        request,
        _("You are helping %(name)s with %(family)s: you joined the cockpit as assistant.")
        % {"name": assist.requested_by.display_name, "family": assist.exam_family.name},
    )
    return redirect(f"{reverse('cockpit_console', args=[assist.cockpit_id])}?role=assistant")


def _after_end(request: AuthenticatedHttpRequest, assist: AssistRequest) -> str:
    """Back to the cockpit for someone in it, else to the history."""
    return next_or(request, _cockpit_url(request.user, assist) or reverse("assist_history"))


@login_required
@require_POST
def assist_cancel(request: AuthenticatedHttpRequest, assist_id: int) -> HttpResponse:
    """The operator or local staff call off an open request (solved meanwhile)."""
    assist = selectors.access_assist(request.user, assist_id)
    try:
        services.assist_cancel(actor=request.user, assist_id=assist.pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Request for help cancelled: everyone asked has been told."))
    return redirect(_after_end(request, assist))


@login_required
@require_POST
def assist_finish(request: AuthenticatedHttpRequest, assist_id: int) -> HttpResponse:
    """The help is done: the senior, the operator or local staff say so."""
    assist = selectors.access_assist(request.user, assist_id)
    try:
        services.assist_finish(actor=request.user, assist_id=assist.pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Help done: the request for help is closed."))
    return redirect(_after_end(request, assist))

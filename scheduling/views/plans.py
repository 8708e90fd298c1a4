"""Server-rendered pages for the optimiser's plans: start one ("Fill my open sessions" for a
hospital's managers, "Fill the network" for platform admins), watch it (a live bar fed by
`/ws/plans/<id>/`, static/js/plan.js), cancel it, review its proposal as a table and a week
view, and send the ticked rows. Every move is a service; a refused one comes back as a 4xx
page or a message, never a 500."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.tz import do_timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.requests import AuthenticatedHttpRequest
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.ids import is_id, whole_number
from marketplace import access
from marketplace.models import Urgency
from scheduling.models import Plan, PlanRow, PlanStatus
from scheduling.services import plans as plan_services

# Ids a send form may carry: the service's bound, checked before any is read.
MAX_FORM_ROWS = plan_services.MAX_SEND_ROWS


@dataclass
class _Day:
    day: date
    rows: list[PlanRow]


def _local(row: PlanRow) -> PlanRow:
    """The row with its start and end in its site's time (`local_start`, `local_end`)."""
    # As the `timezone` template filter gives them: the `date` filter keeps them in that zone.
    zone = ZoneInfo(row.posting.site.time_zone)
    row.local_start = do_timezone(row.starts_at, zone)  # type: ignore[attr-defined]
    row.local_end = do_timezone(row.ends_at, zone)  # type: ignore[attr-defined]
    row.urgency_label = _urgency_label(row.urgency)  # type: ignore[attr-defined]
    return row


def _urgency_label(value: str) -> str:
    """The posting's urgency in words, in the viewer's language (the choice's own label)."""
    try:
        return str(Urgency(value).label)
    except ValueError:
        return value


def _zone(plan: Plan) -> ZoneInfo | None:
    """The time zone a plan's own times are shown in: a hospital plan's first site's (the rows
    are in site time beside them); None for a network plan (UTC, its sites span zones)."""
    if plan.hospital is None:
        return None
    sites = sorted(plan.hospital.sites.all(), key=lambda site: site.pk)
    return ZoneInfo(sites[0].time_zone) if sites else None


def _with_zone(plan: Plan) -> Plan:
    """The plan with its horizon and creation in its zone (`*_local`) and the zone's label."""
    zone = _zone(plan)
    shown = zone or ZoneInfo("UTC")
    for name in ("horizon_start", "horizon_end", "created_at"):
        setattr(plan, f"{name}_local", do_timezone(getattr(plan, name), shown))
    plan.zone_label = (  # type: ignore[attr-defined]
        _("%(zone)s time") % {"zone": zone.key} if zone else "UTC"
    )
    return plan


def _week_view(rows: list[PlanRow]) -> list[_Day]:
    """Days (site-local) × the sessions that start on them, in order."""
    days: dict[date, list[PlanRow]] = defaultdict(list)
    for row in rows:
        local_start: datetime = row.local_start  # type: ignore[attr-defined]
        days[local_start.date()].append(row)
    return [_Day(day=day, rows=days[day]) for day in sorted(days)]


@login_required
def plan_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The plans one may open: a manager's hospitals', every plan for platform admins (the
    nightly network proposal among them)."""
    managed = list(access.hospitals_managed_by(request.user).order_by("name")[:50])
    if not managed and not plan_services.plan_may_create_network(request.user):
        # A technologist or a hospital's local staff: nothing here is theirs (the menu does not
        # offer it); an empty list would look like a page that is broken.
        raise PermissionDenied(_("Plans are for the managers of a hospital and platform admins."))
    plans = [
        _with_zone(plan)
        for plan in plan_services.plans_visible_to(request.user).prefetch_related(
            "hospital__sites"
        )[:50]
    ]
    return render(
        request,
        "scheduling/plan_list.html",
        {
            "plans": plans,
            "managed": managed,
            "may_fill_network": plan_services.plan_may_create_network(request.user),
        },
    )


@login_required
@require_POST
def hospital_plan_create(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    """ "Fill my open sessions": a plan over the hospital's open postings of the next 14 days."""
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    plan, new = plan_services.plan_create(actor=request.user, hospital=hospital)
    if not new:
        messages.info(request, _("A plan for these sessions is already running: here it is."))
    return redirect("plan_detail", plan.pk)


@login_required
@require_POST
def network_plan_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """ "Fill the network": platform admins, every hospital's open postings."""
    plan, new = plan_services.plan_create(actor=request.user, hospital=None)
    if not new:
        messages.info(request, _("A network plan is already running: here it is."))
    return redirect("plan_detail", plan.pk)


@login_required
def plan_detail(request: AuthenticatedHttpRequest, plan_id: int) -> HttpResponse:
    plan = _with_zone(plan_services.access_plan(request.user, plan_id))
    over = plan.status in (
        PlanStatus.DONE,
        PlanStatus.CANCELLED,
        PlanStatus.SENDING,
        PlanStatus.SENT,
    )
    rows = [_local(row) for row in plan_services.plan_rows(plan)] if over else []
    proposed = [row for row in rows if row.technologist_id is not None]
    return render(
        request,
        "scheduling/plan_detail.html",
        {
            "plan": plan,
            "phase_label": plan_services.plan_phase_label(plan),
            "quality": plan_services.plan_quality(plan),
            "message": plan_services.plan_message(plan),
            "elapsed": _elapsed(plan),
            "seconds_left": round(
                plan.seconds_left if plan.seconds_left is not None else plan.time_limit_s
            ),
            "rows": rows,
            "proposed_count": len(proposed),
            "unfilled_count": len(rows) - len(proposed),
            "week": _week_view(rows),
            "sendable": plan.status in plan_services.SENDABLE_STATUSES and bool(proposed),
            "sent": plan.status in (PlanStatus.SENDING, PlanStatus.SENT),
        },
    )


def _elapsed(plan: Plan) -> float:
    """Seconds of the time limit used, for the bar."""
    if plan.seconds_left is None:
        return 0.0
    return max(0.0, min(plan.time_limit_s, plan.time_limit_s - plan.seconds_left))


@login_required
@require_POST
def plan_cancel(request: AuthenticatedHttpRequest, plan_id: int) -> HttpResponse:
    plan = plan_services.access_plan(request.user, plan_id)
    try:
        plan = plan_services.plan_cancel(actor=request.user, plan=plan)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.info(request, plan.message)
    return redirect("plan_detail", plan.pk)


@login_required
@require_POST
def plan_send(request: AuthenticatedHttpRequest, plan_id: int) -> HttpResponse:
    plan = plan_services.access_plan(request.user, plan_id)
    row_ids = sorted({_row_id(value) for value in _ticked(request)})
    try:
        plan_services.plan_send(actor=request.user, plan=plan, row_ids=row_ids)
    except (Conflict, ValidationFailed) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, Plan.objects.get(pk=plan.pk).message)
    return redirect("plan_detail", plan.pk)


def _ticked(request: AuthenticatedHttpRequest) -> list[str]:
    """The ticked row ids: one `rows` field ("12,13,…", filled by plan.js on submit, so that a
    plan of thousands of rows stays under Django's limit on form fields), or, without
    JavaScript, one `row` checkbox field each. Either way at most the API's bound."""
    joined = request.POST.get("rows")
    if joined is not None:
        # Ids are short: a field longer than the bound's worth of them is refused unread.
        if len(joined) > MAX_FORM_ROWS * 21:
            raise ValidationFailed(_too_many_rows())
        values = [value for value in joined.replace(",", " ").split() if value]
    else:
        values = request.POST.getlist("row")
    if len(values) > MAX_FORM_ROWS:
        raise ValidationFailed(_too_many_rows())
    return values


def _too_many_rows() -> str:
    return _("Send at most %(count)s rows at once.") % {"count": MAX_FORM_ROWS}


def _row_id(value: str) -> int:
    number = whole_number(value)
    if number is None or not is_id(number):
        raise ValidationFailed(
            _("Not a row of this plan: %(value)s.") % {"value": repr(value[:20])}
        )
    return number

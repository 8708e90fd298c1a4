"""A hospital's audit trail for its managers (and platform admins): the page, newest first and
paginated, with filters by person, kind and period, and the CSV of exactly the filtered events,
streamed. What an event says and which events a filter keeps is `operations.audit`'s."""

import csv
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.requests import AuthenticatedHttpRequest
from core.errors import ValidationFailed
from core.spreadsheets import csv_opening, spreadsheet_text
from marketplace.models import Hospital
from marketplace.selectors import hospital_time_zone
from operations.audit import (
    AuditFilters,
    audit_events,
    audit_filters_from,
    audit_kinds,
    audit_people,
    shown,
    shown_events,
)
from operations.dashboard import access_dashboard
from operations.views import csv_dialect_asked

PAGE_SIZE = 50
MAX_PAGE_LENGTH = 10
# What of a refused value is written back into its field: enough to see what to correct.
ECHOED = 40


def _filters(request: AuthenticatedHttpRequest, hospital: Hospital, time_zone: str) -> AuditFilters:
    today = timezone.now().astimezone(ZoneInfo(time_zone)).date()
    return audit_filters_from(request.GET, hospital=hospital, time_zone=time_zone, today=today)


def _typed(request: AuthenticatedHttpRequest) -> dict[str, str]:
    """The filters as typed, less control characters and cut short (a refused page)."""
    return {
        name: "".join(c for c in request.GET.get(name, "") if c.isprintable())[:ECHOED]
        for name in ("person", "kind", "start", "end")
    }


@login_required
def hospital_audit(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access_dashboard(request.user, hospital_id)
    time_zone = hospital_time_zone(hospital)
    context: dict[str, Any] = {
        "hospital": hospital,
        "time_zone": time_zone,
        "people": audit_people(hospital=hospital),
        "kinds": audit_kinds(hospital=hospital),
    }
    try:
        if len(request.GET.get("page", "")) > MAX_PAGE_LENGTH:
            raise ValidationFailed(
                _("'page' must be a page number of at most %(digits)s digits.")
                % {"digits": MAX_PAGE_LENGTH}
            )
        filters = _filters(request, hospital, time_zone)
    except ValidationFailed as error:
        context.update(error=error.message, fields=error.fields, chosen=_typed(request))
        return render(request, "operations/audit.html", context, status=400)
    page = Paginator(audit_events(hospital=hospital, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context.update(
        filters=filters,
        chosen={
            "person": str(filters.person or ""),
            "kind": filters.kind,
            "start": str(filters.start),
            "end": str(filters.end),
        },
        query=filters.query(),
        page=page,
        events=[shown(event, time_zone=time_zone) for event in page.object_list],
    )
    return render(request, "operations/audit.html", context)


# --- CSV ----------------------------------------------------------------------------------------

COLUMNS = [
    gettext_lazy("Time"),
    gettext_lazy("Time zone"),
    gettext_lazy("Person"),
    gettext_lazy("What"),
    gettext_lazy("Action"),
    gettext_lazy("Object"),
    gettext_lazy("Object id"),
    gettext_lazy("Details"),
]


class _Line:
    """A file-like object that hands back what the csv writer writes (one row at a time)."""

    def write(self, text: str) -> str:
        return text


def _rows(
    hospital: Hospital, filters: AuditFilters, time_zone: str, *, language: str, separator: str
) -> Iterator[str]:
    """The CSV a row at a time, in `language` (the request's: the rows are written after the
    view has returned), its columns split on `separator`; in Dutch and French the byte order
    mark comes first, a chunk of its own (`csv_opening`)."""
    with translation.override(language):
        opening = csv_opening()
        if opening:
            yield opening
        yield from _rows_in_language(hospital, filters, time_zone, separator)


def _rows_in_language(
    hospital: Hospital, filters: AuditFilters, time_zone: str, separator: str
) -> Iterator[str]:
    writer = csv.writer(_Line(), delimiter=separator, lineterminator="\r\n")
    yield writer.writerow([str(column) for column in COLUMNS])
    events = audit_events(hospital=hospital, filters=filters)
    for row in shown_events(events, time_zone=time_zone):
        yield writer.writerow(
            [
                row.at.strftime("%Y-%m-%d %H:%M:%S"),
                time_zone,
                spreadsheet_text(row.person),
                spreadsheet_text(row.action_label),
                row.action,
                row.target_label,
                spreadsheet_text(row.target_id),
                spreadsheet_text(json.dumps(row.data, sort_keys=True, ensure_ascii=False)),
            ]
        )


@login_required
def hospital_audit_csv(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access_dashboard(request.user, hospital_id)
    time_zone = hospital_time_zone(hospital)
    filters = _filters(request, hospital, time_zone)  # a refusal: the 400 page says why
    separator, _decimal_mark = csv_dialect_asked(request)  # the trail holds no decimal numbers
    rows = _rows(
        hospital,
        filters,
        time_zone,
        language=translation.get_language() or "en",
        separator=separator,
    )
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    name = f"wescan-audit-{hospital.pk}-{filters.start}-{filters.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response  # type: ignore[return-value]

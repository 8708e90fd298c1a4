"""The pages that read every app: the home page, and the operations dashboard of a hospital (its
managers and platform admins) and of the whole network (platform admins).

The dashboard's figures come whole from `operations.dashboard` (one module defines them); this
module only lays them out: the period form, each section's headline against the previous
period, its chart (operations.charts) with the chart's own table beside it, the breakdown, and
the CSV of each table. A hospital's page opens with its coverage of the weeks ahead."""

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_text
from django.utils.safestring import SafeString
from django.utils.text import format_lazy, slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext, pgettext_lazy

from accounts.requests import AuthenticatedHttpRequest

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise
from core.errors import NotFound, ValidationFailed
from core.spreadsheets import SEPARATORS, csv_dialect, csv_opening, spreadsheet_text
from marketplace import access, selectors
from marketplace.models import Hospital
from marketplace.selectors import hospital_time_zone
from operations import charts
from operations.coverage import DEFINITION as COVERAGE_DEFINITION
from operations.coverage import coverage_ahead
from operations.dashboard import (
    MAX_PARAMETER_LENGTH,
    NETWORK,
    access_dashboard,
    access_network_dashboard,
    dashboard_for,
    period_from,
)
from operations.figures import (
    GRANULARITIES,
    Cell,
    Chart,
    Dashboard,
    Period,
    Section,
    Table,
    Value,
)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "core/landing.html")
    managed = access.hospitals_managed_by(request.user)
    return render(
        request,
        "operations/home.html",
        {
            "hospitals": selectors.hospital_list(user=request.user),
            "invitations": selectors.invitations_addressed_to(user=request.user),
            "dashboards": managed.order_by("name")[:20] if not request.user.is_staff else [],
            # Whose tile offers its dashboard: every hospital's for staff, managers' own.
            "dashboard_ids": (
                None if request.user.is_staff else set(managed.values_list("pk", flat=True))
            ),
        },
    )


# --- The period ---------------------------------------------------------------------------------


def _refusals(name: str, expected: "_StrPromise") -> dict[str, "str | _StrPromise"]:
    """A value too long or holding a NUL, told in the words `period_from` (the CSV, the API)
    uses: '<name>' must be <what it may be>, not <what was sent>."""
    refusal = gettext_lazy("'{name}' must be {expected}, not {sent}.")
    return {
        "max_length": format_lazy(
            refusal,
            name=name,
            expected=expected,
            sent=gettext_lazy("%(show_value)d characters"),
        ),
        "null_characters_not_allowed": format_lazy(
            refusal,
            name=name,
            expected=expected,
            sent=gettext_lazy("a text with control characters"),
        ),
    }


A_DATE = gettext_lazy("a date as YYYY-MM-DD")
GRANULARITY_NAMES = {
    "week": pgettext_lazy("dashboard granularity", "week"),
    "month": pgettext_lazy("dashboard granularity", "month"),
}


class PeriodForm(forms.Form):
    """What the person typed, bounded; `operations.dashboard.period_from` decides what it means."""

    start = forms.CharField(
        required=False,
        max_length=MAX_PARAMETER_LENGTH,
        error_messages=_refusals("start", A_DATE),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.CharField(
        required=False,
        max_length=MAX_PARAMETER_LENGTH,
        error_messages=_refusals("end", A_DATE),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    # Text, not a choice: `period_from` tells what a granularity may be, in the same words as
    # the API.
    granularity = forms.CharField(
        required=False,
        max_length=MAX_PARAMETER_LENGTH,
        error_messages=_refusals("granularity", gettext_lazy("week or month")),
        label=pgettext_lazy("dashboard granularity", "Per"),
        widget=forms.Select(choices=[(value, GRANULARITY_NAMES[value]) for value in GRANULARITIES]),
    )


def _period(request: HttpRequest, time_zone: str, today: date) -> tuple[PeriodForm, Period | None]:
    """The form, and the period it names (None, with the form's errors, when it names none).
    A period named shows in the form as used (the default one too, so From and To say what the
    page shows); a bad one as typed, without its control characters."""
    form = PeriodForm(request.GET)
    if not form.is_valid():
        _as_typed(form)
        return form, None
    params = {name: request.GET.get(name, "") for name in ("start", "end", "granularity")}
    try:
        period = period_from(params, time_zone=time_zone, today=today)
    except ValidationFailed as error:
        for name, problems in error.fields.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(name if name in form.fields else None, str(problem))
        form.add_error(None, error.message)  # the whole sentence, above the fields
        _as_typed(form)
        return form, None
    used = PeriodForm(
        {"start": str(period.start), "end": str(period.end), "granularity": period.granularity}
    )
    used.is_valid()
    return used, period


# What of a bad value is written back into its field: enough to see what to correct.
ECHOED = 40


def _as_typed(form: PeriodForm) -> None:
    """The values are shown as typed, less control characters (a NUL) and cut short; a date
    field in error is shown as text: a date picker would blank what it cannot read, and the
    person could not see what to correct. Called once the form is checked: what it shows
    changes, not what it refused."""
    form.data = {
        name: "".join(c for c in str(form.data.get(name, "")) if c.isprintable())[:ECHOED]
        for name in form.fields
    }
    for name in ("start", "end"):
        if name in form.errors:
            form.fields[name].widget.input_type = "text"


def _day(day: date) -> str:
    # The way a period's days are written, per language: '1 Sep 2026', '3 décembre 2026'.
    return date_text(day, pgettext("date format of a dashboard period's days", "j M Y"))


def period_text(period: Period) -> str:
    """'1 Sep 2026 – 23 Nov 2026 (84 days, per week)'."""
    values = {"start": _day(period.start), "end": _day(period.end), "count": period.days}
    if period.granularity == "week":
        text = ngettext(
            "%(start)s – %(end)s (%(count)d day, per week)",
            "%(start)s – %(end)s (%(count)d days, per week)",
            period.days,
        )
    else:
        text = ngettext(
            "%(start)s – %(end)s (%(count)d day, per month)",
            "%(start)s – %(end)s (%(count)d days, per month)",
            period.days,
        )
    return text % values


# --- How a section is laid out ------------------------------------------------------------------


@dataclass
class Headline:
    label: str
    current: str
    previous: str
    change: str  # "+3.5 h", "−2", "no change", "" when either side has no value
    direction: str  # "up", "down", "same", ""


@dataclass
class ShownTable:
    columns: list[str]
    rows: list[list[str]]
    csv_url: str
    drawn: int = 0  # a chart's table: its columns 1..drawn are drawn (the rest, counts, are not)
    title: str = ""  # what a row is: "Per scanner", "Per counterpart"
    links: list[str] | None = None  # per row: where its first cell leads (another dashboard)

    def linked_rows(self) -> list[tuple[list[str], str]]:
        """Each row with where its first cell leads ('' for nowhere)."""
        links = self.links or []
        return [(row, links[n] if n < len(links) else "") for n, row in enumerate(self.rows)]


@dataclass
class ShownSection:
    section: Section
    headline: list[Headline]
    svg: SafeString
    empty: bool
    chart_table: ShownTable
    breakdown: ShownTable | None


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit and text != "—" else text


def _headline(value: Value) -> Headline:
    current, previous = value.current, value.previous
    change, direction = "", ""
    if isinstance(current, int | Decimal) and isinstance(previous, int | Decimal):
        delta = Decimal(current) - Decimal(previous)
        unit = "pp" if value.unit == "%" else value.unit
        if delta == 0:
            change, direction = _("no change"), "same"
        else:
            sign = "+" if delta > 0 else "−"
            change = _with_unit(f"{sign}{charts.cell_text(abs(delta))}", unit)
            direction = "up" if delta > 0 else "down"
    return Headline(
        label=value.label,
        current=_with_unit(charts.cell_text(current), value.unit),
        previous=_with_unit(charts.cell_text(previous), value.unit),
        change=change,
        direction=direction,
    )


def _with_units(columns: tuple[str, ...], unit: str, drawn: int) -> list[str]:
    """A chart's table's column names: the drawn values' in the chart's unit, the counts they
    rest on as they are."""
    return [
        f"{name} ({unit})" if unit and 0 < index <= drawn else name
        for index, name in enumerate(columns)
    ]


def _shown_table(table: Table, csv_url: str, chart: Chart | None = None) -> ShownTable:
    drawn = len(chart.drawn) if chart is not None else 0
    return ShownTable(
        columns=_with_units(table.columns, chart.unit if chart else "", drawn),
        rows=[[charts.cell_text(cell) for cell in row] for row in table.rows],
        csv_url=csv_url,
        drawn=drawn,
    )


def breakdown_title(table: Table) -> str:
    """What the breakdown's rows are, from its first column: 'Per scanner', 'Per counterpart'."""
    if not table.columns:
        return _("Breakdown")
    return pgettext("a breakdown's rows", "Per %(what)s") % {"what": str(table.columns[0]).lower()}


def _breakdown_links(table: Table, query: str) -> list[str] | None:
    """Where each breakdown row leads, for the same period: the figures say (on the network's
    dashboard, each hospital's row leads to that hospital's dashboard)."""
    if not table.links:
        return None
    return [f"{link}?{query}" if link else "" for link in table.links]


def _shown(section: Section, csv_url: str, query: str) -> ShownSection:
    chart = section.chart
    breakdown = None
    if section.breakdown is not None:
        breakdown = _shown_table(section.breakdown, f"{csv_url}?{query}&table=breakdown")
        breakdown.title = breakdown_title(section.breakdown)
        breakdown.links = _breakdown_links(section.breakdown, query)
    return ShownSection(
        section=section,
        headline=[_headline(value) for value in section.headline],
        svg=charts.chart_svg(chart, title=section.title),
        empty=charts.is_empty(chart),
        chart_table=_shown_table(chart.table(), f"{csv_url}?{query}", chart),
        breakdown=breakdown,
    )


def _query(period: Period) -> str:
    return f"start={period.start}&end={period.end}&granularity={period.granularity}"


def _dashboard_page(
    request: HttpRequest,
    *,
    hospital: Hospital | None,
    time_zone: str,
    csv_url_of: Any,
    extra: dict[str, Any],
) -> HttpResponse:
    now = timezone.now()
    form, period = _period(request, time_zone, now.astimezone(ZoneInfo(time_zone)).date())
    context: dict[str, Any] = {"form": form, "time_zone": time_zone, **extra}
    if period is None:
        return render(request, "operations/dashboard.html", context, status=400)
    dashboard = dashboard_for(hospital=hospital, period=period, now=now)
    query = _query(period)
    context.update(
        dashboard=dashboard,
        period_text=period_text(dashboard.period),
        previous_text=period_text(dashboard.previous),
        sections=[
            _shown(section, csv_url_of(section.key), query) for section in dashboard.sections
        ],
    )
    return render(request, "operations/dashboard.html", context)


@login_required
def hospital_dashboard(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access_dashboard(request.user, hospital_id)
    time_zone = hospital_time_zone(hospital)
    return _dashboard_page(
        request,
        hospital=hospital,
        time_zone=time_zone,
        csv_url_of=lambda key: reverse("hospital_dashboard_csv", args=[hospital.pk, key]),
        extra={
            "hospital": hospital,
            "scope": hospital.name,
            "coverage": coverage_ahead(hospital=hospital, time_zone=time_zone, now=timezone.now()),
            "coverage_definition": COVERAGE_DEFINITION,
        },
    )


@login_required
def network_dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    access_network_dashboard(request.user)
    return _dashboard_page(
        request,
        hospital=None,
        time_zone=settings.TIME_ZONE,
        csv_url_of=lambda key: reverse("network_dashboard_csv", args=[key]),
        extra={"hospital": None, "scope": str(NETWORK)},
    )


# --- CSV ----------------------------------------------------------------------------------------


def csv_dialect_asked(request: HttpRequest) -> tuple[str, str]:
    """(column separator, decimal mark) of a download: `?separator=semicolon|comma`, else the
    active language's (`core.spreadsheets.csv_dialect`)."""
    return csv_dialect(SEPARATORS.get(request.GET.get("separator", "").strip()))


def _csv_text(cell: Cell, decimal_mark: str = ".") -> str:
    """A cell for a spreadsheet: nothing for no value, numbers with `decimal_mark` and no
    grouping, and a name that starts like a formula kept from running."""
    if cell is None:
        return ""
    if isinstance(cell, Decimal):
        text = format(cell, "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return text.replace(".", decimal_mark)
    if isinstance(cell, int):
        return str(cell)
    return spreadsheet_text(str(cell))


def table_csv(
    table: Table, *, chart: Chart | None = None, separator: str = ",", decimal_mark: str = "."
) -> str:
    """The table as the page shows it (a chart's: the drawn values' columns in its unit), its
    columns split on `separator`, its numbers written with `decimal_mark`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    columns = _with_units(
        table.columns, chart.unit if chart else "", len(chart.drawn) if chart else 0
    )
    writer.writerow([_csv_text(name, decimal_mark) for name in columns])
    for row in table.rows:
        writer.writerow([_csv_text(cell, decimal_mark) for cell in row])
    return buffer.getvalue()


def _csv_response(request: HttpRequest, dashboard: Dashboard, key: str) -> HttpResponse:
    try:
        section = dashboard.section(key)
    except KeyError:
        raise NotFound(_("No such figure on the dashboard.")) from None
    separator, decimal_mark = csv_dialect_asked(request)
    which = request.GET.get("table", "").strip() or "chart"  # empty: the default
    if which == "breakdown":
        if section.breakdown is None:
            raise NotFound(_("This figure has no breakdown."))
        content = table_csv(section.breakdown, separator=separator, decimal_mark=decimal_mark)
    elif which == "chart":
        content = table_csv(
            section.chart.table(),
            chart=section.chart,
            separator=separator,
            decimal_mark=decimal_mark,
        )
    else:
        raise ValidationFailed(_("The table is `chart` (the default) or `breakdown`."))
    period = dashboard.period
    parts = [
        "wescan",
        slugify(dashboard.scope) or "dashboard",
        key.replace("_", "-"),
        *(["breakdown"] if which == "breakdown" else []),
        str(period.start),
        str(period.end),
        period.granularity,
    ]
    response = HttpResponse(csv_opening() + content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{"-".join(parts)}.csv"'
    return response


def _csv_period(request: HttpRequest, time_zone: str) -> Period:
    form, period = _period(
        request, time_zone, timezone.now().astimezone(ZoneInfo(time_zone)).date()
    )
    if period is None:
        messages = [str(m) for problems in form.errors.values() for m in problems]
        raise ValidationFailed(" ".join(messages) or _("The period is not valid."))
    return period


@login_required
def hospital_dashboard_csv(
    request: AuthenticatedHttpRequest, hospital_id: int, key: str
) -> HttpResponse:
    hospital = access_dashboard(request.user, hospital_id)
    period = _csv_period(request, hospital_time_zone(hospital))
    dashboard = dashboard_for(hospital=hospital, period=period, now=timezone.now())
    return _csv_response(request, dashboard, key)


@login_required
def network_dashboard_csv(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    access_network_dashboard(request.user)
    period = _csv_period(request, settings.TIME_ZONE)
    dashboard = dashboard_for(hospital=None, period=period, now=timezone.now())
    return _csv_response(request, dashboard, key)

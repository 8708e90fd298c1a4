"""The reciprocity ledger pages of a hospital, for its managers (and platform admins): balances
with every counterpart, and a monthly statement (page and CSV). Months and times are the
hospital's own wall clock, and the pages say which."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.requests import AuthenticatedHttpRequest
from marketplace import access
from marketplace.models import Hospital
from marketplace.selectors import hospital_time_zone
from scheduling import ledger

# How many past months the ledger page links to directly; the picker reaches the others.
RECENT_MONTHS = 6


@login_required
def hospital_ledger(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    time_zone = hospital_time_zone(hospital)
    picked = request.GET.get("month")
    if picked:  # the month picker: parse_month answers 404 with the format for a bad one
        month = str(ledger.parse_month(picked))
        return redirect("ledger_statement", hospital_id=hospital.pk, month=month)
    this_month = ledger.Month.of(timezone.now(), time_zone)
    months = [this_month]
    while len(months) < RECENT_MONTHS and (earlier := months[-1].previous) is not None:
        months.append(earlier)
    return render(
        request,
        "scheduling/ledger.html",
        {
            "hospital": hospital,
            "time_zone": time_zone,
            "balances": ledger.ledger_balances(hospital=hospital),
            "months": months,
            "this_month": this_month,
            "record": ledger.record_of_facts(hospital=hospital),
        },
    )


@login_required
def ledger_statement(
    request: AuthenticatedHttpRequest, hospital_id: int, month: str
) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    statement = _statement(request, hospital, month)
    if request.GET.get("format") == "csv":
        response = HttpResponse(
            ledger.statement_csv(statement), content_type="text/csv; charset=utf-8"
        )
        filename = ledger.statement_filename(statement)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return render(
        request,
        "scheduling/ledger_statement.html",
        {
            "hospital": hospital,
            "statement": statement,
            "time_zone": statement.time_zone,
            "month_start": statement.month.first_day,
            "month_links": _month_links(hospital, statement),
            "counterparts": [b.counterpart for b in ledger.ledger_balances(hospital=hospital)],
            "csv_query": _query(statement, format="csv"),
        },
    )


def _statement(
    request: AuthenticatedHttpRequest, hospital: Hospital, month: str
) -> ledger.Statement:
    key = request.GET.get("counterpart", "")
    return ledger.ledger_statement(
        hospital=hospital,
        month=ledger.parse_month(month),
        time_zone=hospital_time_zone(hospital),
        counterpart=ledger.counterpart_for(hospital=hospital, key=key) if key else None,
    )


def _query(statement: ledger.Statement, **extra: str) -> str:
    params = {"counterpart": statement.counterpart.key} if statement.counterpart else {}
    params.update(extra)
    return "&".join(f"{name}={value}" for name, value in params.items())


def _month_links(hospital: Hospital, statement: ledger.Statement) -> dict[str, Any]:
    def link(month: ledger.Month | None) -> dict[str, Any] | None:
        if month is None:
            return None
        url = reverse("ledger_statement", args=[hospital.pk, str(month)])
        query = _query(statement)
        return {"month": month, "day": month.first_day, "url": f"{url}?{query}" if query else url}

    return {"previous": link(statement.month.previous), "next": link(statement.month.next)}

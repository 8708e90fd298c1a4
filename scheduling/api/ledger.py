"""The reciprocity ledger over the API, for a hospital's managers (and platform admins): its
balances, and a monthly statement as JSON or CSV (`?format=csv` or `Accept: text/csv`).
Months are the hospital's own wall clock; the answer names the zone."""

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import request_user
from core.errors import ValidationFailed
from core.spreadsheets import SEPARATORS
from marketplace import access
from marketplace.selectors import hospital_time_zone
from scheduling import ledger

# --- Serializers (read only) ------------------------------------------------------------------


class CounterpartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["hospital", "technologist"])
    id = serializers.IntegerField()
    name = serializers.CharField()
    key = serializers.CharField(help_text="Names it in `?counterpart=`, e.g. h12 or t34.")


class BalanceSerializer(serializers.Serializer):
    counterpart = CounterpartSerializer()
    given = serializers.DecimalField(max_digits=9, decimal_places=2, help_text="Hours.")
    received = serializers.DecimalField(max_digits=9, decimal_places=2, help_text="Hours.")
    balance = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        help_text="Given − received: positive, the counterpart owes the hospital hours.",
    )


class HospitalRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class FactsSerializer(serializers.Serializer):
    completed = serializers.IntegerField()
    late_cancelled = serializers.IntegerField(help_text="By the hospital, under 24 h ahead.")
    no_show = serializers.IntegerField(
        help_text="The hospital's no-shows: sessions it was not there to scan when the booked "
        "technologist was."
    )
    hours = serializers.DecimalField(max_digits=9, decimal_places=2)


class LedgerSerializer(serializers.Serializer):
    hospital = HospitalRefSerializer()
    time_zone = serializers.CharField()
    balances = BalanceSerializer(many=True)
    record = FactsSerializer()


class LineBookingSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    hospital = serializers.CharField(source="posting.hospital.name")
    site = serializers.CharField(source="posting.site.name")
    scanner = serializers.CharField(source="posting.scanner.name")
    technologist = serializers.CharField(source="technologist.display_name")


class StatementLineSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField(source="entry.occurred_at")
    kind = serializers.CharField(source="entry.kind")
    kind_label = serializers.CharField(source="entry.get_kind_display")
    direction = serializers.ChoiceField(choices=["given", "received"])
    counterpart = CounterpartSerializer()
    hours = serializers.DecimalField(max_digits=9, decimal_places=2)
    balance_after = serializers.DecimalField(max_digits=9, decimal_places=2)
    booking = LineBookingSerializer()


class StatementSerializer(serializers.Serializer):
    hospital = HospitalRefSerializer()
    month = serializers.CharField(help_text="YYYY-MM")
    time_zone = serializers.CharField(help_text="The wall clock the month runs on.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    counterpart = CounterpartSerializer(allow_null=True)
    opening_balance = serializers.DecimalField(max_digits=9, decimal_places=2)
    given = serializers.DecimalField(max_digits=9, decimal_places=2)
    received = serializers.DecimalField(max_digits=9, decimal_places=2)
    closing_balance = serializers.DecimalField(max_digits=9, decimal_places=2)
    lines = StatementLineSerializer(many=True)


# --- Views ------------------------------------------------------------------------------------


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` and `Accept: text/csv` through content negotiation; the view writes
    the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return JSONRenderer().render(data)


class LedgerView(APIView):
    """A hospital's balance with every counterpart (hospitals and independent technologists),
    and its record of facts. Managers of the hospital and platform admins."""

    @extend_schema(operation_id="hospital_ledger", responses=LedgerSerializer)
    def get(self, request: Request, hospital_id: int) -> Response:
        hospital = access.access_hospital(request_user(request), hospital_id, manage=True)
        data = {
            "hospital": hospital,
            "time_zone": hospital_time_zone(hospital),
            "balances": ledger.ledger_balances(hospital=hospital),
            "record": ledger.record_of_facts(hospital=hospital),
        }
        return Response(LedgerSerializer(data).data)


class LedgerStatementView(APIView):
    """One month of a hospital's ledger entries, with every counterpart or one
    (`?counterpart=h12`), each with the balance after it; opening and closing balance."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="hospital_ledger_statement",
        parameters=[
            OpenApiParameter(
                "month",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="YYYY-MM, between 2000-01 and 2099-12 (404 otherwise).",
            ),
            OpenApiParameter(
                "counterpart",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=False,
                description="Only the entries with this counterpart: h<hospital id> or "
                "t<technologist id>.",
            ),
            OpenApiParameter(
                "separator",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=False,
                enum=sorted(SEPARATORS),
                description="CSV only: how columns are split, whatever the language. By default "
                "as spreadsheets in the request's language expect: `semicolon` (with decimal "
                "commas) in Dutch and French, `comma` (with decimal points) in English. Headers "
                "and labels follow the language (Accept-Language, or the profile's choice).",
            ),
        ],
        responses={
            (200, "application/json"): StatementSerializer,
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR, description="One row per entry."
            ),
        },
    )
    def get(self, request: Request, hospital_id: int, month: str) -> Response | HttpResponse:
        hospital = access.access_hospital(request_user(request), hospital_id, manage=True)
        key = request.query_params.get("counterpart", "")
        statement = ledger.ledger_statement(
            hospital=hospital,
            month=ledger.parse_month(month),
            time_zone=hospital_time_zone(hospital),
            counterpart=ledger.counterpart_for(hospital=hospital, key=key) if key else None,
        )
        if request.accepted_renderer.format == "csv":
            response = HttpResponse(
                ledger.statement_csv(statement, separator=_separator(request)),
                content_type="text/csv; charset=utf-8",
            )
            filename = ledger.statement_filename(statement)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        data = {
            "hospital": hospital,
            "month": str(statement.month),
            "time_zone": statement.time_zone,
            "starts_at": statement.starts_at,
            "ends_at": statement.ends_at,
            "counterpart": statement.counterpart,
            "opening_balance": statement.opening_balance,
            "given": statement.given,
            "received": statement.received,
            "closing_balance": statement.closing_balance,
            "lines": statement.lines,
        }
        return Response(StatementSerializer(data).data)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        _separator(request)  # a wrong one is refused before any work

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # A refusal is told in the API's one error shape (JSON), whatever format was asked for.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def _separator(request: Request) -> str | None:
    """The CSV separator `?separator=` asks for; None: the language's."""
    asked = request.query_params.get("separator")
    if asked is None:
        return None
    if asked not in SEPARATORS:
        raise ValidationFailed(
            _("Choose a separator: %(choices)s.") % {"choices": ", ".join(sorted(SEPARATORS))},
            fields={"separator": [_("Not one of the choices.")]},
        )
    return SEPARATORS[asked]

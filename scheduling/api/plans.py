"""REST endpoints for the optimiser's plans. Thin: parse, fetch through the plan's access rule
(404 for what one may not see, 403 for a role that may not act), call one service.

    GET  /api/v1/plans/                 the plans you may open, newest first
    POST /api/v1/plans/                 {scope, hospital?, horizon_days?, time_limit_s?} → 202
    GET  /api/v1/plans/{id}/            progress; once over, one row per posting
    POST /api/v1/plans/{id}/cancel/     stop the search: the best found so far stays
    POST /api/v1/plans/{id}/send/       {rows: [...]} → each row's outcome
"""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.requests import request_user
from core.api import BoundedListField, IdField, StrictSerializer, for_schema, valid_body
from core.errors import ValidationFailed
from marketplace import access
from marketplace.serializers import UTCDateTimeField
from scheduling.api.matching import ReasonSerializer
from scheduling.models import Plan, PlanRow, PlanStatus, RowOutcome
from scheduling.services import plans as plan_services

# --- In ------------------------------------------------------------------------------------------


class PlanCreateSerializer(StrictSerializer):
    scope = serializers.ChoiceField(
        choices=["hospital", "network"],
        help_text="hospital: its open postings (its managers); network: every hospital's "
        "(platform admins).",
    )
    hospital = IdField(required=False, help_text="The hospital, with scope hospital.")
    horizon_days = serializers.IntegerField(
        min_value=1,
        max_value=plan_services.HORIZON_DAYS_MAX,
        default=plan_services.HORIZON_DAYS_DEFAULT,
        help_text="Postings starting within this many days from now (1 to 28, default 14).",
    )
    time_limit_s = serializers.FloatField(
        required=False,
        min_value=plan_services.MIN_TIME_LIMIT_S,
        max_value=settings.OPTIMISER_MAX_TIME_LIMIT_S,
        help_text="How long the solver may search, in seconds (default: the site's setting, "
        "10 s unless configured).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["scope"] == "hospital" and "hospital" not in attrs:
            raise serializers.ValidationError({"hospital": [_("Name the hospital to plan.")]})
        if attrs["scope"] == "network" and "hospital" in attrs:
            raise serializers.ValidationError(
                {"hospital": [_("A network plan names no hospital.")]}
            )
        return attrs


class PlanSendSerializer(StrictSerializer):
    rows = BoundedListField(
        child=IdField(),
        min_length=1,
        max_length=plan_services.MAX_SEND_ROWS,
        help_text="The ids of the rows to send (those left ticked), at most 2000.",
    )


# --- Out -----------------------------------------------------------------------------------------


class PlanHospital(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PlanPerson(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class PlanRunnerUp(serializers.Serializer):
    id = serializers.IntegerField(help_text="The technologist's user id.")
    name = serializers.CharField()
    why = serializers.CharField(help_text="One line: why they were not the one proposed.")


class PlanRowPosting(serializers.Serializer):
    id = serializers.IntegerField(source="posting_id")
    summary = serializers.CharField(
        source="label", help_text="Hospital, scanner and when, in the site's time."
    )
    starts_at = UTCDateTimeField()
    ends_at = UTCDateTimeField()
    urgency = serializers.CharField()
    site_time_zone = serializers.CharField(source="posting.site.time_zone")


class PlanRowSerializer(serializers.ModelSerializer):
    posting = PlanRowPosting(source="*")
    technologist = PlanPerson(allow_null=True, help_text="Proposed; null when nobody is.")
    reasons = ReasonSerializer(many=True, help_text="Why them: hard rules met, then soft terms.")
    runner_up = serializers.SerializerMethodField()
    unfilled_why = serializers.CharField(help_text='Why nobody is proposed; "" when someone is.')
    blockers = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Technologists the unfilled reason names (proposed elsewhere or at cap).",
    )
    outcome = serializers.SerializerMethodField(
        help_text="After sending: sent, stale (no longer holds), or null (not sent)."
    )
    booking = serializers.IntegerField(source="booking_id", allow_null=True)

    class Meta:
        model = PlanRow
        fields = [
            "id",
            "posting",
            "technologist",
            "reasons",
            "runner_up",
            "unfilled_why",
            "blockers",
            "ticked",
            "outcome",
            "outcome_message",
            "booking",
        ]
        read_only_fields = fields

    @extend_schema_field(PlanRunnerUp(allow_null=True))
    def get_runner_up(self, row: PlanRow) -> dict[str, Any] | None:
        return row.runner_up if isinstance(row.runner_up, dict) else None

    @extend_schema_field(serializers.ChoiceField(choices=RowOutcome.choices, allow_null=True))
    def get_outcome(self, row: PlanRow) -> str | None:
        return row.outcome or None


class PlanProgress(serializers.Serializer):
    phase = serializers.CharField(help_text="queued, building, solving, explaining, done.")
    phase_label = serializers.SerializerMethodField(help_text="The phase as people read it.")
    quality = serializers.SerializerMethodField(
        help_text='The best so far against the best possible: "within 0.4 % of the best '
        'possible", "the best possible", or "" while unknown.'
    )
    objective = serializers.IntegerField(allow_null=True, help_text="Best found so far.")
    bound = serializers.IntegerField(allow_null=True, help_text="The solver's proven bound.")
    seconds_left = serializers.FloatField(allow_null=True)
    solutions = serializers.IntegerField()

    def get_phase_label(self, plan: Plan) -> str:
        return plan_services.plan_phase_label(plan)

    def get_quality(self, plan: Plan) -> str:
        return plan_services.plan_quality(plan)


class PlanSerializer(serializers.ModelSerializer):
    scope = serializers.SerializerMethodField()
    hospital = PlanHospital(allow_null=True)
    created_by = PlanPerson(allow_null=True, help_text="null: the nightly job.")
    horizon_start = UTCDateTimeField()
    horizon_end = UTCDateTimeField()
    status_label = serializers.CharField(
        source="get_status_display", help_text="As people read it."
    )
    progress = PlanProgress(source="*")
    message = serializers.SerializerMethodField(
        help_text="The plan's word: a queued one says what it waits for."
    )
    rows = serializers.SerializerMethodField(
        help_text="One per open posting once the plan is over (done, cancelled, sent); empty "
        "before."
    )

    class Meta:
        model = Plan
        fields = [
            "id",
            "scope",
            "hospital",
            "created_by",
            "horizon_start",
            "horizon_end",
            "time_limit_s",
            "status",
            "status_label",
            "progress",
            "solver_status",
            "objective",
            "bound",
            "solve_seconds",
            "message",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "sent_at",
            "rows",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["hospital", "network"]))
    def get_scope(self, plan: Plan) -> str:
        return "network" if plan.hospital_id is None else "hospital"

    def get_message(self, plan: Plan) -> str:
        return plan_services.plan_message(plan)

    @extend_schema_field(PlanRowSerializer(many=True))
    def get_rows(self, plan: Plan) -> list[Any]:
        if plan.status not in (
            PlanStatus.DONE,
            PlanStatus.CANCELLED,
            PlanStatus.SENDING,
            PlanStatus.SENT,
        ):
            return []
        return list(PlanRowSerializer(plan_services.plan_rows(plan), many=True).data)


class PlanListSerializer(PlanSerializer):
    class Meta(PlanSerializer.Meta):
        fields = [name for name in PlanSerializer.Meta.fields if name != "rows"]
        read_only_fields = fields


# --- Views ---------------------------------------------------------------------------------------


class PlanViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Plans of the market-wide optimiser: one technologist proposed per open posting of a
    hospital (its managers: "Fill my open sessions") or of the whole network (platform admins,
    and a nightly proposal), over a horizon of days. Staffs the most sessions weighted by
    urgency first, then spreads hours fairly, then serves hospitals that gave more, then
    prefers experience with the vendor and the hospital. Each proposed row carries its reasons
    and the runner-up; each unfilled row says why. Nothing is invited until the plan is sent."""

    serializer_class = PlanListSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Plan.objects.none()
        return plan_services.plans_visible_to(request_user(self.request))

    @extend_schema(
        request=PlanCreateSerializer, responses={202: PlanSerializer, 200: PlanSerializer}
    )
    def create(self, request: Request) -> Response:
        """Start a plan. It runs in the background (202): poll it, or watch
        `/ws/plans/{id}/`. While a plan of the same scope is queued or running, that plan is
        answered (200) instead of a second one. 403 for the network unless a platform admin;
        a hospital you do not manage is 404 (or 403 if you are another member of it)."""
        user = request_user(request)
        data = valid_body(PlanCreateSerializer, request)
        hospital = None
        if data["scope"] == "hospital":
            hospital = access.access_hospital(user, data["hospital"], manage=True)
        plan, new = plan_services.plan_create(
            actor=user,
            hospital=hospital,
            horizon_days=data["horizon_days"],
            time_limit_s=data.get("time_limit_s"),
        )
        return self._answer(plan, status.HTTP_202_ACCEPTED if new else status.HTTP_200_OK)

    @extend_schema(responses=PlanSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._answer(plan_services.access_plan(request_user(request), pk))

    @extend_schema(request=None, responses={202: PlanSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop the search. A queued plan is cancelled at once; a running one stops within a
        second and keeps the best proposal found so far, which can still be sent. 409 once
        the plan is over."""
        user = request_user(request)
        plan = plan_services.plan_cancel(actor=user, plan=plan_services.access_plan(user, pk))
        return self._answer(plan, status.HTTP_202_ACCEPTED)

    @extend_schema(request=PlanSendSerializer, responses=PlanSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str) -> Response:
        """Invite the proposed technologist of each row named (the rows left ticked), each
        through the same checks as a single invitation. A row that no longer holds (the posting
        was booked or cancelled since, the technologist was booked elsewhere, …) has outcome
        `stale` and says why; the others are sent. A plan is sent once (409 after)."""
        user = request_user(request)
        plan = plan_services.access_plan(user, pk)
        rows = valid_body(PlanSendSerializer, request)["rows"]
        if len(set(rows)) != len(rows):
            raise ValidationFailed(
                _("Name each row once."), fields={"rows": [_("Name each row once.")]}
            )
        plan_services.plan_send(actor=user, plan=plan, row_ids=rows)
        return self._answer(plan_services.access_plan(user, pk))

    def _answer(self, plan: Plan, code: int = status.HTTP_200_OK) -> Response:
        return Response(PlanSerializer(plan).data, status=code)

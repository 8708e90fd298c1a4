"""A hospital's audit trail over the API, for its managers and platform admins (404 for anyone
else): the page's events with the page's filters (`operations.audit`), newest first, a page at
a time."""

from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.requests import request_user
from core.models import AuditEvent
from marketplace.selectors import hospital_time_zone
from operations.api import PERIOD_PARAMETERS
from operations.audit import (
    action_label,
    actor_name,
    audit_events,
    audit_filters_from,
    target_label,
)
from operations.dashboard import access_dashboard


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """One event: who (the person of the hashed actor_id, as their account names them now;
    null actor_id: WeScan itself), what (the action's code and its words), when (UTC), on
    which object, and its place in the hash chain."""

    actor_id = serializers.IntegerField(allow_null=True)
    # Who the hashed actor_id is (operations.audit.actor_name), not the unhashed label cache.
    actor_label = serializers.SerializerMethodField()
    action_label = serializers.SerializerMethodField()
    target_label = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_id",
            "actor_label",
            "action",
            "action_label",
            "target_type",
            "target_label",
            "target_id",
            "data",
            "seq",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields

    def get_actor_label(self, event: AuditEvent) -> str:
        return actor_name(event)

    def get_action_label(self, event: AuditEvent) -> str:
        return action_label(event.action)

    def get_target_label(self, event: AuditEvent) -> str:
        return target_label(event.target_type)


AUDIT_PARAMETERS = [
    OpenApiParameter(
        "person",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        required=False,
        description="Only the events of this actor (an id seen in the hospital's trail).",
    ),
    OpenApiParameter(
        "kind",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        required=False,
        description="Only the events of this action code (one seen in the hospital's trail).",
    ),
    *[p for p in PERIOD_PARAMETERS if p.name in ("start", "end")],
]


class HospitalAuditEventsView(generics.ListAPIView[AuditEvent]):
    """A hospital's audit events, newest first, filtered by person, kind and period (days on
    the hospital's wall clock; the 12 weeks ending today unless given). A hospital you do not
    manage is 404, whatever your role in it."""

    serializer_class = AuditEventSerializer

    def get_queryset(self) -> QuerySet[AuditEvent]:
        hospital = access_dashboard(request_user(self.request), self.kwargs["hospital_id"])
        time_zone = hospital_time_zone(hospital)
        filters = audit_filters_from(
            self.request.query_params,
            hospital=hospital,
            time_zone=time_zone,
            today=timezone.now().astimezone(ZoneInfo(time_zone)).date(),
        )
        return audit_events(hospital=hospital, filters=filters)

    @extend_schema(operation_id="hospital_audit_events", parameters=AUDIT_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

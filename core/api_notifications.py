"""REST endpoints for a person's own notifications. Thin: read through the selectors in
`core.notify`, write through its services. Another person's notification answers 404."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core import notify
from core.api import IdField, StrictSerializer, request_user_id
from core.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    url = serializers.CharField(read_only=True, help_text="Where the notice leads (a path).")
    message = serializers.CharField(
        source="text",
        read_only=True,
        help_text="The notice, in the request's language when it was kept in every language.",
    )

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "url", "data", "created_at", "read_at"]
        read_only_fields = fields


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only unread (true) or read."
    )


class ReadAllSerializer(StrictSerializer):
    up_to = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only notices up to this id (the newest one you have shown); all when absent.",
    )


class ReadAllResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notices were marked read.")
    unread = serializers.IntegerField(help_text="How many remain unread.")


@extend_schema_view(list=extend_schema(parameters=[NotificationFilterSerializer]))
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your own notifications, newest first: what WeScan told you about bookings and sessions."""

    serializer_class = NotificationSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        given = {k: v for k, v in self.request.query_params.items() if k == "unread" and v != ""}
        filters = NotificationFilterSerializer(data=given)
        filters.is_valid(raise_exception=True)
        return notify.notification_list(
            user_id=request_user_id(self.request), unread=filters.validated_data["unread"]
        )

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        """Mark one of your notifications read (again is harmless)."""
        notification = notify.notification_mark_read(
            user_id=request_user_id(request), notification_id=int(pk)
        )
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=ReadAllSerializer, responses=ReadAllResultSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        """Mark all your unread notifications read, or those up to `up_to`."""
        # No body at all is "all of them"; a JSON null or a non-object is refused.
        body = ReadAllSerializer(data=request.data if request.stream is not None else {})
        body.is_valid(raise_exception=True)
        user_id = request_user_id(request)
        marked = notify.notification_mark_all_read(
            user_id=user_id, up_to_id=body.validated_data["up_to"]
        )
        return Response(
            {"marked": marked, "unread": notify.notification_unread_count(user_id=user_id)}
        )

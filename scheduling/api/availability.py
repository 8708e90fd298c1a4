"""REST endpoints for availability. Thin: parse, fetch through `access`, call a service."""

from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.requests import request_user
from core.api import for_schema, query_filters, valid_body
from core.errors import NotFound, ValidationFailed
from marketplace import access
from marketplace.models import Hospital, validate_time_zone
from scheduling import selectors, services
from scheduling.models import AvailabilityWindow
from scheduling.recurrence import RecurrenceError
from scheduling.serializers import (
    AvailabilityCreateSerializer,
    AvailabilityFilterSerializer,
    AvailabilityUpdateSerializer,
    AvailabilityWindowSerializer,
    DisplayZoneSerializer,
    OccurrenceQuerySerializer,
    OccurrenceSerializer,
)


def _display_zone(request: Request) -> ZoneInfo | None:
    """The zone local times are shown in: `tz` if given, else the viewer's home time zone;
    None leaves each window in its own zone."""
    name = request.query_params.get("tz") or ""
    if name:
        try:
            validate_time_zone(name)
        except DjangoValidationError as error:
            raise ValidationFailed(error.messages[0], fields={"tz": error.messages}) from None
        return ZoneInfo(name)
    profile = getattr(request_user(request), "technologist_profile", None)
    return ZoneInfo(profile.home_time_zone) if profile is not None else None


def _technologist_for_write(request: Request, technologist_id: int | None) -> User:
    """Yourself, or a technologist you manage. Anyone else does not exist for you: 404, as the
    service answers for a technologist of another hospital."""
    user = request_user(request)
    if technologist_id is None:
        return user
    return access.access_technologist(user, technologist_id)


def _lending_hospital_for_write(request: Request, hospital_id: int | None) -> Hospital | None:
    if hospital_id is None:
        return None
    try:
        return access.access_hospital(request_user(request), hospital_id)
    except NotFound:
        raise ValidationFailed(
            _("No such hospital among yours."),
            fields={"lending_hospital": [_("No such hospital.")]},
        ) from None


@extend_schema_view(
    list=extend_schema(parameters=[AvailabilityFilterSerializer]),
    # One window: only how to show it; `technologist` filters lists.
    retrieve=extend_schema(parameters=[DisplayZoneSerializer]),
)
class AvailabilityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Windows in which technologists can work remotely: your own, and those of the
    technologists you manage. A manager who publishes for one of them lends them, and the
    window records the lending hospital."""

    serializer_class = AvailabilityWindowSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return AvailabilityWindow.objects.none()
        filters = query_filters(AvailabilityFilterSerializer, self.request)
        return selectors.availability_window_list(
            user=request_user(self.request), technologist_id=filters.get("technologist")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not for_schema(self):
            context["display_zone"] = _display_zone(self.request)
        return context

    def get_object(self) -> Any:
        return selectors.access_availability_window(request_user(self.request), self.kwargs["pk"])

    @extend_schema(
        request=AvailabilityCreateSerializer, responses={201: AvailabilityWindowSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Publish a one-off or recurring window for yourself, or, as a manager, for a
        technologist of your hospital (404 for anyone else's)."""
        data = valid_body(AvailabilityCreateSerializer, request)
        technologist = _technologist_for_write(request, data.pop("technologist", None))
        lender = _lending_hospital_for_write(request, data.pop("lending_hospital", None))
        window = services.availability_create(
            actor=request_user(request),
            technologist=technologist,
            lending_hospital=lender,
            **data,
        )
        return Response(self.get_serializer(window).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AvailabilityUpdateSerializer, responses=AvailabilityWindowSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a window: the technologist's own, or one their hospital lent."""
        window = self.get_object()
        data = valid_body(AvailabilityUpdateSerializer, request)
        window = services.availability_update(actor=request_user(request), window=window, **data)
        return Response(self.get_serializer(window).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.availability_delete(actor=request_user(request), window=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OccurrenceQuerySerializer], responses=OccurrenceSerializer(many=True)
    )
    @action(detail=False, methods=["get"])
    def occurrences(self, request: Request) -> Response:
        """Every occurrence in [start, end) (at most 62 days), recurring windows expanded in
        their own wall-clock time, so a weekly 08:00 stays 08:00 local across DST changes."""
        zone = _display_zone(request)
        with timezone.override(zone or ZoneInfo("UTC")):  # dates without offset are read here
            query = query_filters(OccurrenceQuerySerializer, request)
        people = selectors.availability_people(
            user=request_user(request), technologist_id=query.get("technologist")
        )
        try:
            slots = selectors.availability_slots(
                technologists=people, range_start=query["start"], range_end=query["end"]
            )
        except RecurrenceError as error:
            raise ValidationFailed(str(error), fields={"end": [str(error)]}) from None
        page = self.paginate_queryset(slots)
        context = {"display_zone": zone}
        return self.get_paginated_response(
            OccurrenceSerializer(page, many=True, context=context).data
        )

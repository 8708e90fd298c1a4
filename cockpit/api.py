"""REST endpoints for senior assistance. Thin: parse, fetch through the `access_*` selectors,
call a service. Refusals are domain errors, mapped once by `core.api.exception_handler`: a
second senior accepting gets 409 with the code "taken" and who is helping."""

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.requests import request_user
from cockpit import selectors, services
from cockpit.models import ASSIST_REQUESTER_ROLES, AssistRequest
from cockpit.serializers import (
    AssistFilterSerializer,
    AssistRaiseSerializer,
    AssistRequestSerializer,
    OnCallStatusSerializer,
    OnCallSwitchSerializer,
    OnCallWindowCreateSerializer,
    OnCallWindowSerializer,
)
from core.api import for_schema, query_filters, valid_body
from core.errors import NotFound
from marketplace.models import TechnologistProfile
from marketplace.selectors import technologist_profile_for
from scheduling import services as scheduling_services
from scheduling.models import OnCallWindow
from scheduling.selectors import access_own_on_call_window, on_call_status, own_on_call_windows

# --- Requests for help ------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(parameters=[AssistFilterSerializer]))
class AssistRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Requests for help from cockpits: the ones you raised, were asked to answer or answered
    (`?open=1`: those still waiting for you). The first technologist asked who accepts joins
    the cockpit as assistant; anyone later gets 409 "taken"."""

    serializer_class = AssistRequestSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return AssistRequest.objects.none()
        user = request_user(self.request)
        if query_filters(AssistFilterSerializer, self.request).get("open"):
            return selectors.assist_incoming(user=user)
        return selectors.assist_history(user=user)

    def get_object(self) -> Any:
        return selectors.access_assist(request_user(self.request), self.kwargs["pk"])

    @extend_schema(request=None, responses=AssistRequestSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """Join the cockpit as assistant: only a technologist who was asked, while it is open.
        409 with code "taken" when someone else was first (or it was cancelled)."""
        return self._move(request, pk, services.assist_accept)

    @extend_schema(request=None, responses=AssistRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """The operator or local staff call off an open request (solved meanwhile)."""
        return self._move(request, pk, services.assist_cancel)

    @extend_schema(request=None, responses=AssistRequestSerializer)
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, pk: str) -> Response:
        """The help is done (the senior, the operator or local staff); the assist time is
        credited to the senior's hospital."""
        return self._move(request, pk, services.assist_finish)

    def _move(self, request: Request, pk: str, service: Any) -> Response:
        user = request_user(request)
        assist = selectors.access_assist(user, pk)
        service(actor=user, assist_id=assist.pk)
        assist = selectors.access_assist(user, assist.pk)
        return Response(self.get_serializer(assist).data)


class CockpitAssistRequestView(APIView):
    """Ask for help from a cockpit you operate or stand beside (local staff)."""

    @extend_schema(
        request=AssistRaiseSerializer,
        responses={201: AssistRequestSerializer},
        operation_id="cockpit_assist_request_create",
    )
    def post(self, request: Request, cockpit_id: int) -> Response:
        """The on-call seniors who qualify are asked at once; unanswered, it widens to
        experienced technologists, then alerts the managers of the operator's hospital. One
        open request per cockpit (409 otherwise); a note that looks like patient data is 400."""
        user = request_user(request)
        cockpit = selectors.access_cockpit(user, cockpit_id)
        data = valid_body(AssistRaiseSerializer, request)
        role = data.get("role") or next(
            (role for role in selectors.roles_for(user, cockpit) if role in ASSIST_REQUESTER_ROLES),
            "",
        )
        assist = services.assist_request(
            actor=user,
            role=role,
            cockpit=cockpit,
            exam_family=data["exam_family"],
            note=data.get("note", ""),
        )
        assist = selectors.access_assist(user, assist.pk)
        serializer = AssistRequestSerializer(assist, context={"request": request})
        return Response(serializer.data, status=status.HTTP_201_CREATED)


# --- The on-call schedule and switch -----------------------------------------------------------


class OnCallWindowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your on-call windows: when requests for help from cockpits reach you, for which exam
    families. Senior and experienced technologists only; anyone else's window answers 404."""

    serializer_class = OnCallWindowSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return OnCallWindow.objects.none()
        return own_on_call_windows(request_user(self.request))

    def get_object(self) -> Any:
        return access_own_on_call_window(request_user(self.request), self.kwargs["pk"])

    @extend_schema(request=OnCallWindowCreateSerializer, responses={201: OnCallWindowSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Publish a one-off or recurring (RRULE) window for yourself."""
        user = request_user(request)
        data = valid_body(OnCallWindowCreateSerializer, request)
        window = scheduling_services.on_call_create(actor=user, technologist=user, **data)
        window = access_own_on_call_window(user, window.pk)
        return Response(self.get_serializer(window).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: OnCallWindow) -> None:
        scheduling_services.on_call_delete(actor=request_user(self.request), window=instance)


class MyOnCallView(APIView):
    """Your on-call switch, and whether requests for help reach you now."""

    @extend_schema(responses=OnCallStatusSerializer, operation_id="my_on_call")
    def get(self, request: Request) -> Response:
        user = request_user(request)
        status_now = on_call_status(user=user, profile=_own_profile(user))
        return Response(OnCallStatusSerializer(status_now).data)

    @extend_schema(
        request=OnCallSwitchSerializer,
        responses=OnCallStatusSerializer,
        operation_id="my_on_call_switch",
    )
    def patch(self, request: Request) -> Response:
        """Turn the switch off (`{"paused": true}`) to step away, on again to be asked during
        your windows."""
        user = request_user(request)
        _own_profile(user)
        data = valid_body(OnCallSwitchSerializer, request)
        profile = scheduling_services.on_call_pause(
            actor=user, technologist=user, paused=data["paused"]
        )
        return Response(OnCallStatusSerializer(on_call_status(user=user, profile=profile)).data)


def _own_profile(user: User) -> TechnologistProfile:
    profile = technologist_profile_for(user=user)
    if profile is None:
        raise NotFound(_("You have no technologist profile: only technologists go on call."))
    return profile

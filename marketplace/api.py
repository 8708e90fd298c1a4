"""REST endpoints for the tenancy objects. Thin: parse, fetch through `access`, call a service."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.requests import request_user
from core.errors import ValidationFailed
from marketplace import access, selectors, services
from marketplace.models import Hospital, Invitation, Membership, Scanner, Site
from marketplace.serializers import (
    DeviceTokenSerializer,
    HospitalSerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
    MembershipSerializer,
    RoleSerializer,
    ScannerSerializer,
    ScannerUpdateSerializer,
    SiteSerializer,
    SiteUpdateSerializer,
)

HOSPITAL_FILTER = OpenApiParameter("hospital", OpenApiTypes.INT, description="Hospital id")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(
            f"'{name}' must be a whole number.", fields={name: ["A whole number."]}
        ) from None


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in {"true", "1", "yes"}:
        return True
    if raw.lower() in {"false", "0", "no"}:
        return False
    raise ValidationFailed(f"'{name}' must be true or false.", fields={name: ["true or false."]})


def _for_schema(view: Any) -> bool:
    """drf-spectacular builds the schema with an anonymous fake request: no scoping to do."""
    return bool(getattr(view, "swagger_fake_view", False))


def _valid(serializer_class: Any, request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class HospitalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = HospitalSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if _for_schema(self):
            return Hospital.objects.none()
        return selectors.hospital_list(user=request_user(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not _for_schema(self):
            mine = Membership.objects.filter(user=request_user(self.request))
            context["roles"] = dict(mine.order_by().values_list("hospital_id", "role"))
        return context

    def get_object(self) -> Any:
        return access.access_hospital(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _valid(HospitalSerializer, request)
        hospital = services.hospital_create(actor=request_user(request), **data)
        return Response(self.get_serializer(hospital).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hospital = access.access_hospital(request_user(request), kwargs["pk"], manage=True)
        data = _valid(HospitalSerializer, request, instance=hospital, partial=True)
        hospital = services.hospital_update(actor=request_user(request), hospital=hospital, **data)
        return Response(self.get_serializer(hospital).data)


@extend_schema_view(list=extend_schema(parameters=[HOSPITAL_FILTER]))
class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if _for_schema(self):
            return Site.objects.none()
        return selectors.site_list(
            user=request_user(self.request), hospital_id=_int_param(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_site(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _valid(SiteSerializer, request)
        hospital = access.access_hospital(
            request_user(request), data.pop("hospital_id"), manage=True
        )
        site = services.site_create(actor=request_user(request), hospital=hospital, **data)
        return Response(SiteSerializer(site).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SiteUpdateSerializer, responses=SiteSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        site = access.access_site(request_user(request), kwargs["pk"], manage=True)
        data = _valid(SiteUpdateSerializer, request, instance=site, partial=True)
        site = services.site_update(actor=request_user(request), site=site, **data)
        return Response(SiteSerializer(site).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        site = access.access_site(request_user(request), kwargs["pk"], manage=True)
        services.site_delete(actor=request_user(request), site=site)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            HOSPITAL_FILTER,
            OpenApiParameter("site", OpenApiTypes.INT, description="Site id"),
            OpenApiParameter("cockpit_ready", OpenApiTypes.BOOL),
        ]
    )
)
class ScannerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ScannerSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if _for_schema(self):
            return Scanner.objects.none()
        return selectors.scanner_list(
            user=request_user(self.request),
            hospital_id=_int_param(self.request, "hospital"),
            site_id=_int_param(self.request, "site"),
            cockpit_ready=_bool_param(self.request, "cockpit_ready"),
        )

    def get_object(self) -> Any:
        return access.access_scanner(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _valid(ScannerSerializer, request)
        site = _site_for_write(request, data.pop("site_id"))
        scanner = services.scanner_create(actor=request_user(request), site=site, **data)
        return Response(ScannerSerializer(scanner).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ScannerUpdateSerializer, responses=ScannerSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scanner = access.access_scanner(request_user(request), kwargs["pk"], manage=True)
        data = _valid(ScannerUpdateSerializer, request, instance=scanner, partial=True)
        site = _site_for_write(request, data.pop("site")) if "site" in data else None
        scanner = services.scanner_update(
            actor=request_user(request), scanner=scanner, site=site, **data
        )
        return Response(ScannerSerializer(scanner).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scanner = access.access_scanner(request_user(request), kwargs["pk"], manage=True)
        services.scanner_delete(actor=request_user(request), scanner=scanner)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=DeviceTokenSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request: Request, pk: str) -> Response:
        """Issue a new device token for this scanner's agent; the previous one stops working."""
        scanner = access.access_scanner(request_user(request), pk, manage=True)
        token = services.scanner_rotate_token(actor=request_user(request), scanner=scanner)
        return Response({"device_token": token})


def _site_for_write(request: Request, site_id: int) -> Any:
    """A site named in a body: one the caller cannot see is a field error, not a 404 of the URL."""
    try:
        return access.access_site(request_user(request), site_id, manage=True)
    except access.NotFound:
        raise ValidationFailed(
            "No such site in your hospitals.", fields={"site": ["No such site."]}
        ) from None


@extend_schema_view(list=extend_schema(parameters=[HOSPITAL_FILTER]))
class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MembershipSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if _for_schema(self):
            return Membership.objects.none()
        return selectors.membership_list(
            user=request_user(self.request), hospital_id=_int_param(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_membership(request_user(self.request), self.kwargs["pk"])

    @extend_schema(request=RoleSerializer, responses=MembershipSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = access.access_membership(request_user(request), kwargs["pk"], manage=True)
        data = _valid(RoleSerializer, request)
        membership = services.membership_change_role(
            actor=request_user(request), membership=membership, role=data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = access.access_membership(request_user(request), kwargs["pk"], manage=True)
        services.membership_remove(actor=request_user(request), membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(parameters=[HOSPITAL_FILTER]))
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = InvitationSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if _for_schema(self):
            return Invitation.objects.none()
        return selectors.invitation_list(
            user=request_user(self.request), hospital_id=_int_param(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_invitation(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Invite someone by e-mail; the link is mailed to them and usable once."""
        data = _valid(InvitationSerializer, request)
        hospital = access.access_hospital(request_user(request), data["hospital_id"], manage=True)
        invitation, _token = services.invitation_create(
            actor=request_user(request), hospital=hospital, email=data["email"], role=data["role"]
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Withdraw a pending invitation: its link stops working."""
        invitation = access.access_invitation(request_user(request), kwargs["pk"])
        services.invitation_revoke(actor=request_user(request), invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MembershipSerializer})
    @action(detail=False, methods=["post"])
    def accept(self, request: Request) -> Response:
        """Accept an invitation sent to your e-mail address, with the token from its link."""
        data = _valid(InvitationAcceptSerializer, request)
        invitation = selectors.invitation_by_token(token=data["token"])
        if invitation is None:
            raise access.NotFound("No such invitation.")
        membership = services.invitation_accept(user=request_user(request), invitation=invitation)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

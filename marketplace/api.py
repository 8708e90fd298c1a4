"""REST endpoints for the tenancy objects. Thin: parse, fetch through `access`, call a service."""

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.requests import request_user
from accounts.serializers import ProfileUpdateSerializer
from core.api import for_schema, query_bool, query_filters, query_id, valid_body
from core.errors import ValidationFailed
from core.ids import ID_SCHEMA, as_id
from marketplace import access, selectors, services
from marketplace.access import NO_PROFILE
from marketplace.models import (
    ExamFamily,
    Hospital,
    Invitation,
    Language,
    Membership,
    Scanner,
    SessionPosting,
    Site,
    TechnologistProfile,
)
from marketplace.serializers import (
    DeviceTokenSerializer,
    ExamFamilySerializer,
    HospitalSerializer,
    InvitationAcceptSerializer,
    InvitationSerializer,
    LanguageSerializer,
    MembershipSerializer,
    MeSerializer,
    OpenPostingFilterSerializer,
    OpenPostingPageSerializer,
    PostingCancelSerializer,
    PostingCreateSerializer,
    PostingFilterSerializer,
    PostingSerializer,
    PostingUpdateSerializer,
    RoleSerializer,
    ScannerSerializer,
    ScannerUpdateSerializer,
    SiteSerializer,
    SiteUpdateSerializer,
    TechnologistFilterSerializer,
    TechnologistProfileUpdateSerializer,
    TechnologistSerializer,
)

HOSPITAL_FILTER = OpenApiParameter("hospital", ID_SCHEMA, description="Hospital id")


class HospitalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = HospitalSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Hospital.objects.none()
        return selectors.hospital_list(user=request_user(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not for_schema(self):
            mine = Membership.objects.filter(user=request_user(self.request))
            context["roles"] = dict(mine.order_by().values_list("hospital_id", "role"))
        return context

    def get_object(self) -> Any:
        return access.access_hospital(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = valid_body(HospitalSerializer, request)
        hospital = services.hospital_create(actor=request_user(request), **data)
        return Response(self.get_serializer(hospital).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hospital = access.access_hospital(request_user(request), kwargs["pk"], manage=True)
        data = valid_body(HospitalSerializer, request, instance=hospital, partial=True)
        hospital = services.hospital_update(actor=request_user(request), hospital=hospital, **data)
        return Response(self.get_serializer(hospital).data)


@extend_schema_view(list=extend_schema(parameters=[HOSPITAL_FILTER]))
class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Site.objects.none()
        return selectors.site_list(
            user=request_user(self.request), hospital_id=query_id(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_site(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = valid_body(SiteSerializer, request)
        hospital = access.access_hospital(
            request_user(request), data.pop("hospital_id"), manage=True
        )
        site = services.site_create(actor=request_user(request), hospital=hospital, **data)
        return Response(SiteSerializer(site).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SiteUpdateSerializer, responses=SiteSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        site = access.access_site(request_user(request), kwargs["pk"], manage=True)
        data = valid_body(SiteUpdateSerializer, request, instance=site, partial=True)
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
            OpenApiParameter("site", ID_SCHEMA, description="Site id"),
            OpenApiParameter("cockpit_ready", OpenApiTypes.BOOL),
        ]
    )
)
class ScannerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ScannerSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Scanner.objects.none()
        return selectors.scanner_list(
            user=request_user(self.request),
            hospital_id=query_id(self.request, "hospital"),
            site_id=query_id(self.request, "site"),
            cockpit_ready=query_bool(self.request, "cockpit_ready"),
        )

    def get_object(self) -> Any:
        return access.access_scanner(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = valid_body(ScannerSerializer, request)
        site = _site_for_write(request, data.pop("site_id"))
        scanner = services.scanner_create(actor=request_user(request), site=site, **data)
        return Response(ScannerSerializer(scanner).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ScannerUpdateSerializer, responses=ScannerSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scanner = access.access_scanner(request_user(request), kwargs["pk"], manage=True)
        data = valid_body(ScannerUpdateSerializer, request, instance=scanner, partial=True)
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
            _("No such site in your hospitals."), fields={"site": [_("No such site.")]}
        ) from None


@extend_schema_view(list=extend_schema(parameters=[HOSPITAL_FILTER]))
class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MembershipSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Membership.objects.none()
        return selectors.membership_list(
            user=request_user(self.request), hospital_id=query_id(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_membership(request_user(self.request), self.kwargs["pk"])

    @extend_schema(request=RoleSerializer, responses=MembershipSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = access.access_membership(request_user(request), kwargs["pk"], manage=True)
        data = valid_body(RoleSerializer, request)
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
        if for_schema(self):
            return Invitation.objects.none()
        return selectors.invitation_list(
            user=request_user(self.request), hospital_id=query_id(self.request, "hospital")
        )

    def get_object(self) -> Any:
        return access.access_invitation(request_user(self.request), self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Invite someone by e-mail; the link is mailed to them and usable once."""
        data = valid_body(InvitationSerializer, request)
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
        data = valid_body(InvitationAcceptSerializer, request)
        invitation = selectors.invitation_by_token(token=data["token"])
        if invitation is None:
            raise access.NotFound(_("No such invitation."))
        membership = services.invitation_accept(user=request_user(request), invitation=invitation)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


# --- Vocabularies, technologists and postings -------------------------------------------------

PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1},
        description="Rows per page, 50 unless given (more than 200 gives 200).",
    ),
]
TECHNOLOGIST_ID = OpenApiParameter(
    "id", ID_SCHEMA, OpenApiParameter.PATH, description="The technologist's user id."
)


class ExamFamilyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The exam families postings require and technologists are competent in (kept by admins)."""

    serializer_class = ExamFamilySerializer
    queryset = ExamFamily.objects.all()


class LanguageViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """ISO 639-1 languages, by name."""

    serializer_class = LanguageSerializer
    queryset = Language.objects.all()


@extend_schema_view(
    list=extend_schema(parameters=[TechnologistFilterSerializer]),
    retrieve=extend_schema(parameters=[TECHNOLOGIST_ID]),
)
class TechnologistViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Technologist profiles: platform admins see all, managers their hospitals'
    technologists, everyone their own. `eligible` and `ineligibility_reasons` say whether a
    technologist can be booked today and why not."""

    serializer_class = TechnologistSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return TechnologistProfile.objects.none()
        filters = query_filters(TechnologistFilterSerializer, self.request)
        return selectors.technologist_list(
            user=request_user(self.request),
            hospital_id=filters.get("hospital"),
            verified=filters.get("verified"),
        )

    def get_object(self) -> Any:
        user_id = as_id(self.kwargs["pk"], message=_("No such technologist."))
        profiles = selectors.technologist_list(user=request_user(self.request))
        profile = profiles.filter(user_id=user_id).first()
        if profile is None:
            raise access.NotFound(_("No such technologist."))
        return profile

    @extend_schema(methods=["GET"], responses=TechnologistSerializer)
    @extend_schema(
        methods=["PATCH"],
        request=TechnologistProfileUpdateSerializer,
        responses=TechnologistSerializer,
    )
    @action(detail=False, methods=["get", "patch"])
    def me(self, request: Request) -> Response:
        """Your own profile. PATCH creates it if you have none yet and changes only the fields
        sent; changing the licence withdraws its verification."""
        user = request_user(request)
        if request.method == "PATCH":
            data = valid_body(TechnologistProfileUpdateSerializer, request)
            services.technologist_profile_update(actor=user, user=user, **data)
        profile = selectors.technologist_profile_for(user=user)
        if profile is None:
            raise access.NotFound(str(NO_PROFILE))
        return Response(TechnologistSerializer(profile).data)

    @extend_schema(parameters=[TECHNOLOGIST_ID], request=None, responses=TechnologistSerializer)
    @action(detail=True, methods=["post"], url_path="verify-licence")
    def verify_licence(self, request: Request, pk: str) -> Response:
        """Platform admins: confirm the licence is genuine and current (audited). 409 when there
        is no licence, or an expired one, to verify."""
        verified = services.technologist_licence_verify(
            actor=request_user(request), profile=self.get_object()
        )
        return Response(
            TechnologistSerializer(selectors.technologist_profile_for(user=verified.user)).data
        )


def _hospital_for_write(request: Request, hospital_id: int) -> Hospital:
    """A hospital named in a body: one the caller cannot see is a field error; one they see
    but do not manage is a 403."""
    try:
        return access.access_hospital(request_user(request), hospital_id, manage=True)
    except access.NotFound:
        raise ValidationFailed(
            _("No such hospital among yours."), fields={"hospital": [_("No such hospital.")]}
        ) from None


def _scanner_for_write(request: Request, scanner_id: int) -> Scanner:
    """A scanner named in a body: one the caller cannot see is a field error, not a 404 of the
    URL; one of another of their hospitals is refused by the service, also on `scanner`."""
    try:
        return access.access_scanner(request_user(request), scanner_id)
    except access.NotFound:
        raise ValidationFailed(
            _("No such scanner in your hospitals."), fields={"scanner": [_("No such scanner.")]}
        ) from None


def _posting_filters(filters: dict[str, Any]) -> dict[str, Any]:
    renamed = {"hospital": "hospital_id", "site": "site_id"}
    found = {renamed.get(key, key): value for key, value in filters.items()}
    if "exam_family" in found:
        found["exam_family"] = found["exam_family"].code
    return found


@extend_schema_view(list=extend_schema(parameters=[PostingFilterSerializer]))
class PostingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Session postings. The list is the postings of the hospitals you manage; a posting is
    seen by its hospital's members and, once open, by every technologist; only its hospital's
    managers create, change, publish and cancel it."""

    serializer_class = PostingSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return SessionPosting.objects.none()
        filters = query_filters(PostingFilterSerializer, self.request)
        return selectors.posting_list(user=request_user(self.request), **_posting_filters(filters))

    def get_object(self) -> Any:
        return access.access_posting(request_user(self.request), self.kwargs["pk"])

    @extend_schema(request=PostingCreateSerializer, responses={201: PostingSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A draft, or an open posting with `publish: true`. Refused with field errors, saving
        nothing: a scanner not of this hospital, an end not after the start or more than 12
        hours later, a start in the past, notes that look like a patient identifier."""
        data = valid_body(PostingCreateSerializer, request)
        hospital = _hospital_for_write(request, data.pop("hospital"))
        data["scanner"] = _scanner_for_write(request, data["scanner"])
        posting = services.posting_create(actor=request_user(request), hospital=hospital, **data)
        return Response(PostingSerializer(posting).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PostingUpdateSerializer, responses=PostingSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a draft or open posting (409 once filled, cancelled or expired); it is checked
        again as a whole, like a new one."""
        posting = access.access_posting(request_user(request), kwargs["pk"], manage=True)
        data = valid_body(PostingUpdateSerializer, request)
        if "scanner" in data:
            data["scanner"] = _scanner_for_write(request, data["scanner"])
        posting = services.posting_update(actor=request_user(request), posting=posting, **data)
        return Response(PostingSerializer(posting).data)

    @extend_schema(request=None, responses=PostingSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Open a draft on the market (409 if it is not a draft or has already started)."""
        posting = access.access_posting(request_user(request), pk, manage=True)
        posting = services.posting_publish(actor=request_user(request), posting=posting)
        return Response(PostingSerializer(posting).data)

    @extend_schema(request=PostingCancelSerializer, responses=PostingSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a draft or open posting, saying why (409 once filled, cancelled or expired)."""
        posting = access.access_posting(request_user(request), pk, manage=True)
        data = valid_body(PostingCancelSerializer, request)
        posting = services.posting_cancel(
            actor=request_user(request), posting=posting, reason=data["reason"]
        )
        return Response(PostingSerializer(posting).data)

    @extend_schema(
        operation_id="v1_postings_open_list",
        parameters=[OpenPostingFilterSerializer, *PAGE_PARAMETERS],
        responses=OpenPostingPageSerializer,
    )
    @action(detail=False, methods=["get"], url_path="open")
    def open_for_me(self, request: Request) -> Response:
        """Open, future postings you qualify for: every required exam family, the scanner's
        vendor, a shared language when languages are asked, your seniority. While you cannot be
        booked (no profile, licence unverified or expired) the list is empty and
        `ineligibility_reasons` says why."""
        filters = _posting_filters(query_filters(OpenPostingFilterSerializer, request))
        # Only what the filter needs: no prefetch of names this list never shows.
        profile = TechnologistProfile.objects.filter(user=request_user(request)).first()
        postings: QuerySet[SessionPosting] = SessionPosting.objects.none()
        if profile is None:
            reasons = [str(NO_PROFILE)]
        else:
            reasons = profile.ineligibility_reasons()
            postings = selectors.open_postings_for(profile=profile, **filters)
        page = self.paginate_queryset(postings)
        response = self.get_paginated_response(PostingSerializer(page, many=True).data)
        response.data["ineligibility_reasons"] = reasons
        return response


# --- Who you are, with your hospitals ---------------------------------------------------------
# Here, not in accounts: the answer lists the hospitals you belong to, which accounts (below the
# marketplace) does not know.


class MeView(APIView):
    """Who you are, and the hospitals you belong to with your role in each."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_me(request)).data)

    @extend_schema(request=ProfileUpdateSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = request_user(request)
        account_services.user_update_profile(
            user=user,
            first_name=serializer.validated_data.get("first_name", user.first_name),
            last_name=serializer.validated_data.get("last_name", user.last_name),
        )
        return Response(MeSerializer(_me(request)).data)


def _me(request: Request) -> Any:
    user: Any = request_user(request)
    user.memberships_list = list(user.memberships.select_related("hospital"))
    return user

"""REST endpoints for matching: a posting's ranked candidates (for its hospital's managers), and
the signed-in technologist's ranked open postings. Thin: parse, fetch through `access`, call
`scheduling.matching`."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import request_user
from core.api import query_filters
from core.ids import ID_SCHEMA
from marketplace import access
from marketplace.access import NO_PROFILE
from marketplace.models import ExamFamily, TechnologistProfile, Urgency
from marketplace.serializers import PostingSerializer
from scheduling import matching

MAX_LIMIT = 100


# --- In: query parameters -----------------------------------------------------------------------


class CandidateQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_LIMIT, default=20, help_text="How many, from 1 to 100."
    )


class MatchQuerySerializer(serializers.Serializer):
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    exam_family = serializers.SlugRelatedField(
        slug_field="code",
        queryset=ExamFamily.objects.all(),
        required=False,
        error_messages={"does_not_exist": _("Not an exam family code: {value}.")},
        help_text="Exam family code, e.g. neuro.",
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_LIMIT, default=50, help_text="How many, from 1 to 100."
    )


# --- Out ----------------------------------------------------------------------------------------


class ReasonSerializer(serializers.Serializer):
    term = serializers.CharField(help_text="A stable key: licence, families, vendor, … fairness.")
    text = serializers.CharField(help_text="What was found, in words; times in the site's zone.")
    points = serializers.FloatField(help_text="This term's share of the score (0: a hard filter).")


class CandidateTechnologistSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="technologist.pk", help_text="The user id.")
    name = serializers.CharField(source="technologist.display_name")
    seniority = serializers.CharField(source="profile.seniority")


class HospitalBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CandidateSerializer(serializers.Serializer):
    technologist = CandidateTechnologistSerializer(source="*")
    score = serializers.FloatField()
    hours_this_week = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        help_text="Confirmed hours in the session's week (Monday to Sunday, their time zone).",
    )
    lending_hospital = HospitalBriefSerializer(
        allow_null=True, help_text="The hospital lending them; null: they offer their own time."
    )
    reasons = ReasonSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """The fields above, written out by hand: the nested serializers cost more CPU than
        the ranking itself on a posting's candidates page (the schema still comes from the
        declared fields)."""
        candidate: matching.Candidate = instance
        lender = candidate.lending_hospital
        return {
            "technologist": {
                "id": candidate.technologist.pk,
                "name": candidate.technologist.display_name,
                "seniority": candidate.profile.seniority,
            },
            "score": float(candidate.score),
            "hours_this_week": self.fields["hours_this_week"].to_representation(
                candidate.hours_this_week
            ),
            "lending_hospital": None if lender is None else {"id": lender.pk, "name": lender.name},
            "reasons": [
                {"term": reason.term, "text": str(reason.text), "points": float(reason.points)}
                for reason in candidate.reasons
            ],
        }


class CandidateListSerializer(serializers.Serializer):
    posting = serializers.IntegerField()
    results = CandidateSerializer(many=True)


class MatchSerializer(PostingSerializer):
    """An open posting, as the open-postings list gives it, with its score and reasons."""

    # A plain string here: a second use of the posting status enum would rename it in the
    # schema (drf-spectacular names an enum after its one component). Matches are all open.
    status = serializers.CharField(read_only=True, help_text="open: matches are open postings.")
    score = serializers.FloatField(read_only=True)
    reasons = ReasonSerializer(many=True, read_only=True)

    class Meta(PostingSerializer.Meta):
        fields = [*PostingSerializer.Meta.fields, "score", "reasons"]
        read_only_fields = fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        match: matching.Match = instance
        return {
            **PostingSerializer(match.posting, context=self.context).data,
            "score": match.score,
            "reasons": ReasonSerializer(match.reasons, many=True).data,
        }


class MatchListSerializer(serializers.Serializer):
    results = MatchSerializer(many=True)
    ineligibility_reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Empty when you can be booked; otherwise why the list is empty.",
    )


# --- Views --------------------------------------------------------------------------------------

POSTING_ID = OpenApiParameter(
    "posting_id", ID_SCHEMA, OpenApiParameter.PATH, description="The posting's id."
)


class PostingCandidatesView(APIView):
    """The technologists who can take this posting, best first, each with a score and the
    reasons for it: hard filters (licence, exam families, vendor, language, seniority,
    availability, rest, weekly cap), then the soft terms (urgency, experience with this vendor
    and this hospital, reciprocity with the lending hospital, hours already held this week).
    Those already invited or applied are not listed. For the posting's hospital's managers and
    platform admins; empty once the posting is no longer open or has started."""

    @extend_schema(
        operation_id="v1_postings_candidates_list",
        parameters=[POSTING_ID, CandidateQuerySerializer],
        responses=CandidateListSerializer,
    )
    def get(self, request: Request, posting_id: int) -> Response:
        posting = access.access_posting(request_user(request), posting_id, manage=True)
        limit = query_filters(CandidateQuerySerializer, request)["limit"]
        candidates = matching.candidates_for(posting=posting, limit=limit)
        return Response(
            {"posting": posting.pk, "results": CandidateSerializer(candidates, many=True).data}
        )


class MyMatchesView(APIView):
    """The open postings you can take, best first, each with a score and the reasons for it:
    the open-postings list narrowed to those your availability covers and that fit your
    bookings (rest, weekly cap), ranked by urgency, your experience with the vendor and the
    hospital, the hospital's reciprocity balance and the hours you hold that week. While you
    cannot be booked the list is empty and `ineligibility_reasons` says why."""

    @extend_schema(
        operation_id="v1_me_matches_list",
        parameters=[MatchQuerySerializer],
        responses=MatchListSerializer,
    )
    def get(self, request: Request) -> Response:
        filters = query_filters(MatchQuerySerializer, request)
        profile = TechnologistProfile.objects.filter(user=request_user(request)).first()
        if profile is None:
            raise access.NotFound(NO_PROFILE)
        family = filters.get("exam_family")
        matches = matching.matches_for(
            profile=profile,
            limit=filters["limit"],
            urgency=filters.get("urgency"),
            exam_family=family.code if family else None,
        )
        return Response(
            {
                "results": MatchSerializer(matches, many=True).data,
                "ineligibility_reasons": profile.ineligibility_reasons(),
            }
        )

"""REST endpoints for bookings. Thin: read through the selectors (scoped, 404 for what one may
not see), move through one service per transition (409 with a message when the move is refused).

    GET  /api/v1/bookings/                  yours, and your hospitals' (managers, local staff)
    POST /api/v1/bookings/                  {posting, technologist}: a manager invites;
                                            {posting}: a technologist applies
    GET  /api/v1/bookings/{id}/
    POST /api/v1/bookings/{id}/accept/      the other side confirms
    POST /api/v1/bookings/{id}/decline/     {reason?}
    POST /api/v1/bookings/{id}/cancel/      {reason}: late under 24 h before the start
    POST /api/v1/bookings/{id}/start/       from 15 minutes before the start
    POST /api/v1/bookings/{id}/complete/
    POST /api/v1/bookings/{id}/no-show/     the hospital, 15 minutes after the start
    POST /api/v1/bookings/{id}/site-no-show/  the technologist: the site was not there to scan
"""

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.requests import request_user
from core.api import IdField, StrictSerializer, for_schema, query_filters, valid_body
from marketplace import access
from marketplace.models import SessionPosting
from marketplace.serializers import UTCDateTimeField
from scheduling import selectors, services
from scheduling.exams import booking_exam, booking_status_label, bookings_with_exam
from scheduling.models import Booking, BookingStatus, Initiator, Side
from scheduling.no_shows import bookings_with_operator_joins


class _Named(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class _Site(_Named):
    time_zone = serializers.CharField()


class _Scanner(_Named):
    vendor = serializers.CharField()


class _Person(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class _BookingPosting(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    hospital = _Named()
    site = _Site()
    scanner = _Scanner()


class _BlankAsNullChoiceField(serializers.ChoiceField):
    """A choice the model keeps as "" when unset, told as null: "" is no member of the enum."""

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(value) if value else None


class _Exam(serializers.Serializer):
    """How the exam ran in the cockpit (`scheduling.exams`)."""

    outcome = serializers.CharField(
        allow_blank=True,
        help_text='completed, partial or aborted once the exam ended; "" while it runs.',
    )
    status_label = serializers.CharField(
        source="label",
        allow_blank=True,
        help_text='e.g. "Completed — partial (3 of 5 sequences)".',
    )
    sequences_done = serializers.IntegerField(source="done")
    sequences_total = serializers.IntegerField(source="total")
    started_at = UTCDateTimeField(allow_null=True)
    ended_at = UTCDateTimeField(allow_null=True)
    hours = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        coerce_to_string=False,
        allow_null=True,
        help_text="The hours it ran, as the ledger credits them (null until it ended).",
    )


class _BookingList(serializers.ListSerializer):
    """A page of bookings: how their exams went, and whether their operators joined the
    cockpit (the no-shows' evidence), are read once for the page."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = data.all() if hasattr(data, "all") else data
        return super().to_representation(bookings_with_operator_joins(bookings_with_exam(rows)))


class BookingSerializer(serializers.ModelSerializer):
    posting = _BookingPosting()
    technologist = _Person()
    lending_hospital = _Named(allow_null=True)
    starts_at = UTCDateTimeField()
    ends_at = UTCDateTimeField()
    hours = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=False)
    cancelled_side = _BlankAsNullChoiceField(
        choices=Initiator.choices,
        allow_null=True,
        help_text="Which side cancelled; null unless the booking was cancelled.",
    )
    cancelled_hours_before = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    no_show_side = _BlankAsNullChoiceField(
        choices=Side.choices,
        allow_null=True,
        help_text="Which side did not come: technologist (recorded by the hospital) or hospital "
        "(the site was not there to scan, recorded by the technologist); null unless a no-show.",
    )
    actions = serializers.SerializerMethodField(
        help_text="What you may do with this booking now: accept, decline, cancel, start, "
        "complete, no_show (the hospital records the technologist's), site_no_show (the "
        "technologist records the site's)."
    )
    status_label = serializers.SerializerMethodField(
        help_text="The status as people read it: a completed booking whose exam was partial or "
        'aborted says so, e.g. "Completed — partial (3 of 5 sequences)".'
    )
    exam = serializers.SerializerMethodField(
        help_text="How the exam ran in the cockpit once it started; null before."
    )

    class Meta:
        list_serializer_class = _BookingList
        model = Booking
        fields = [
            "id",
            "status",
            "initiated_by",
            "posting",
            "technologist",
            "starts_at",
            "ends_at",
            "hours",
            "lending_hospital",
            "cancelled_side",
            "cancel_reason",
            "cancelled_hours_before",
            "late",
            "no_show_side",
            "created_at",
            "confirmed_at",
            "started_at",
            "completed_at",
            "closed_at",
            "actions",
            "status_label",
            "exam",
        ]
        read_only_fields = fields

    def get_status_label(self, booking: Booking) -> str:
        return str(booking_status_label(booking))

    @extend_schema_field(_Exam(allow_null=True))
    def get_exam(self, booking: Booking) -> dict[str, Any] | None:
        exam = booking_exam(booking)
        if exam is None:
            return None
        return dict(
            _Exam(
                {
                    "outcome": exam.outcome,
                    "label": exam.label,
                    "done": exam.done,
                    "total": exam.total,
                    "started_at": exam.started_at,
                    "ended_at": exam.ended_at,
                    "hours": exam.hours(booking.hours),
                }
            ).data
        )

    def get_actions(self, booking: Booking) -> list[str]:
        user: User | None = self.context.get("user")
        if user is None:
            return []
        managed: set[int] = self.context["managed_hospital_ids"]
        return services.booking_actions(
            booking=booking,
            user=user,
            manages=user.is_staff or booking.posting.hospital_id in managed,
            now=self.context["now"],
        )


class BookingCreateSerializer(StrictSerializer):
    posting = IdField(help_text="The posting to book.")
    technologist = IdField(
        required=False,
        help_text="Whom a manager invites. Leave out to apply for the posting yourself.",
    )


class BookingReasonSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=Booking._meta.get_field("cancel_reason").max_length,
        allow_blank=True,
        required=False,
        help_text="Why; shown to the other side. Required to cancel. Never patient data.",
    )


class BookingFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    hospital = IdField(required=False)
    posting = IdField(required=False)
    technologist = IdField(required=False)
    when = serializers.ChoiceField(
        choices=[("upcoming", "Not over yet"), ("past", "Over")], required=False
    )


def _context(request: Request) -> dict[str, Any]:
    user = request_user(request)
    return {
        "user": user,
        "now": timezone.now(),
        "managed_hospital_ids": set(access.hospitals_managed_by(user).values_list("pk", flat=True)),
    }


class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Bookings: a technologist on a posting, pending until the other side accepts, then
    confirmed, in progress and completed; or declined, cancelled, no-show or expired. You see
    your own bookings and those of hospitals where you are a manager or local staff."""

    serializer_class = BookingSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if for_schema(self):
            return Booking.objects.none()
        filters = query_filters(BookingFilterSerializer, self.request)
        for key in ("hospital", "posting", "technologist"):
            if key in filters:
                filters[f"{key}_id"] = filters.pop(key)
        return selectors.booking_list(user=request_user(self.request), **filters)

    def get_object(self) -> Any:
        return selectors.access_booking(request_user(self.request), self.kwargs["pk"])

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not for_schema(self):
            context.update(_context(self.request))
        return context

    @extend_schema(parameters=[BookingFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=BookingCreateSerializer, responses={201: BookingSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Invite a technologist (a manager of the posting's hospital, with `technologist`) or
        apply yourself (without it). 409 with the reason when they do not qualify, are not
        available for the whole session, are already booked within 30 minutes of it, would pass
        the 38 h weekly cap, or the posting takes no bookings."""
        user = request_user(request)
        data = valid_body(BookingCreateSerializer, request)
        posting = access.access_posting(user, data["posting"])
        if "technologist" in data and data["technologist"] != user.pk:
            booking = services.booking_invite(
                actor=user, posting=posting, technologist=_invitee(user, posting, data)
            )
        else:
            booking = services.booking_apply(actor=user, posting=posting)
        booking = selectors.access_booking(user, booking.pk)
        return self._answer(request, booking, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """The other side confirms: the technologist an invitation, a manager an application."""
        return self._move(request, pk, services.booking_accept)

    @extend_schema(request=BookingReasonSerializer, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        reason = valid_body(BookingReasonSerializer, request).get("reason", "")
        return self._move(request, pk, services.booking_decline, reason=reason)

    @extend_schema(request=BookingReasonSerializer, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Either side, before the start, saying why. Under 24 h before the start a confirmed
        booking's cancellation is late: it shows on the record of the side that cancelled, and
        a hospital owes the booked hours in the reciprocity ledger."""
        reason = valid_body(BookingReasonSerializer, request).get("reason", "")
        return self._move(request, pk, services.booking_cancel, reason=reason)

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        return self._move(request, pk, services.booking_start)

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        return self._move(request, pk, services.booking_complete)

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request: Request, pk: str) -> Response:
        """A manager of the hospital records that the technologist did not come, 15 minutes
        after the start at the earliest."""
        return self._move(request, pk, services.booking_mark_no_show)

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"], url_path="site-no-show")
    def site_no_show(self, request: Request, pk: str) -> Response:
        """The booked technologist records that the site was not there to scan (no local
        staff, the scanner not ready), 15 minutes after the start at the earliest and before any
        exam started in the cockpit. The hospital owes the booked hours in the reciprocity
        ledger; its managers are told. 403 for anyone else, 409 when too early or the booking
        is not confirmed."""
        return self._move(request, pk, services.booking_mark_site_no_show)

    def _move(
        self, request: Request, pk: str, service: Callable[..., Booking], **kwargs: Any
    ) -> Response:
        booking = selectors.access_booking(request_user(request), pk)
        moved = service(actor=request_user(request), booking=booking, **kwargs)
        # What the move left, on the rows already loaded: no second read of the same booking.
        for field in ("status", "confirmed_at", "started_at", "completed_at", "closed_at"):
            setattr(booking, field, getattr(moved, field))
        for field in (
            "cancelled_side",
            "cancel_reason",
            "cancelled_hours_before",
            "late",
            "no_show_side",
        ):
            setattr(booking, field, getattr(moved, field))
        booking.posting.status = moved.posting.status
        return self._answer(request, booking)

    def _answer(self, request: Request, booking: Booking, code: int = 200) -> Response:
        return Response(BookingSerializer(booking, context=_context(request)).data, status=code)


def _invitee(user: User, posting: SessionPosting, data: dict[str, Any]) -> User:
    """The technologist a manager invites: anyone with a technologist profile (the market is
    open), once the inviter may manage the posting."""
    access.require_manager(user, posting.hospital)
    return selectors.bookable_technologist(technologist_id=data["technologist"])

"""Calendar feed addresses over the API: one's own (bookings) and a hospital's (sessions, for
its managers). Reading one makes it on first use; rotating gives it a new address and the old
one answers 404 from then on. The feeds themselves are served at `/calendar/<token>.ics`."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import request_user
from marketplace import access
from scheduling import services
from scheduling.models import CalendarFeed


class CalendarFeedSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["person", "hospital"])
    url = serializers.URLField(help_text="The private address of the iCalendar feed.")
    webcal_url = serializers.CharField(help_text="The same, for calendar apps on phones.")
    rotated_at = serializers.DateTimeField(allow_null=True)


def _answer(request: Request, feed: CalendarFeed) -> Response:
    url = request.build_absolute_uri(reverse("calendar_feed", args=[feed.token]))
    data = {
        "kind": feed.kind,
        "url": url,
        "webcal_url": "webcal://" + url.split("://", 1)[1],
        "rotated_at": feed.rotated_at,
    }
    return Response(CalendarFeedSerializer(data).data)


class MyCalendarView(APIView):
    """Your bookings as an iCalendar feed: its private address."""

    @extend_schema(responses=CalendarFeedSerializer)
    def get(self, request: Request) -> Response:
        return _answer(request, services.calendar_feed_for(user=request_user(request)))


class MyCalendarRotateView(APIView):
    """Give your feed a new address; the old one stops working."""

    @extend_schema(request=None, responses=CalendarFeedSerializer)
    def post(self, request: Request) -> Response:
        user = request_user(request)
        feed = services.calendar_feed_for(user=user)
        return _answer(request, services.calendar_feed_rotate(actor=user, feed=feed))


class HospitalCalendarView(APIView):
    """A hospital's sessions as an iCalendar feed: its private address, for its managers."""

    @extend_schema(responses=CalendarFeedSerializer)
    def get(self, request: Request, hospital_id: int) -> Response:
        user = request_user(request)
        hospital = access.access_hospital(user, hospital_id, manage=True)
        return _answer(request, services.calendar_feed_for_hospital(actor=user, hospital=hospital))


class HospitalCalendarRotateView(APIView):
    """Give the hospital's feed a new address; the old one stops working."""

    @extend_schema(request=None, responses=CalendarFeedSerializer)
    def post(self, request: Request, hospital_id: int) -> Response:
        user = request_user(request)
        hospital = access.access_hospital(user, hospital_id, manage=True)
        feed = services.calendar_feed_for_hospital(actor=user, hospital=hospital)
        return _answer(request, services.calendar_feed_rotate(actor=user, feed=feed))

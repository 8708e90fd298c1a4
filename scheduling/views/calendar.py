"""Calendar feeds: the public `.ics` address (the token is the only key: calendar apps cannot
sign in), and the pages where a person, or a hospital's manager, copies or rotates it."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.requests import AuthenticatedHttpRequest
from marketplace import access, selectors
from marketplace.models import Hospital
from marketplace.selectors import hospital_time_zone
from scheduling import ical, services
from scheduling.models import CalendarFeed, CalendarFeedKind


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    feed = ical.calendar_feed_by_token(token=token)
    if feed is None:
        raise Http404(_("No calendar at this address: it may have been given a new one."))

    def url_for(name: str, pk: int) -> str:
        return request.build_absolute_uri(reverse(name, args=[pk]))

    if feed.kind == CalendarFeedKind.PERSON:
        body = ical.render_person_feed(
            feed=feed, bookings=ical.feed_bookings(feed=feed), url_for=url_for
        )
    else:
        assert feed.hospital is not None  # the calendar_feed_one_owner constraint
        body = ical.render_hospital_feed(
            feed=feed, postings=ical.feed_postings(hospital=feed.hospital), url_for=url_for
        )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="wescan.ics"'
    # The address is a secret: no shared cache keeps it, no search engine lists it.
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _feed_page(
    request: AuthenticatedHttpRequest,
    feed: CalendarFeed,
    *,
    hospital: Hospital | None,
    rotate_url: str,
) -> HttpResponse:
    address = request.build_absolute_uri(reverse("calendar_feed", args=[feed.token]))
    if hospital is not None:
        time_zone = hospital_time_zone(hospital)
    else:
        profile = selectors.technologist_profile_for(user=request.user)
        time_zone = profile.home_time_zone if profile else settings.TIME_ZONE
    return render(
        request,
        "scheduling/calendar.html",
        {
            "feed": feed,
            "hospital": hospital,
            "address": address,
            "webcal": "webcal://" + address.split("://", 1)[1],
            "rotate_url": rotate_url,
            "time_zone": time_zone,
        },
    )


@login_required
def my_calendar(request: AuthenticatedHttpRequest) -> HttpResponse:
    feed = services.calendar_feed_for(user=request.user)
    return _feed_page(request, feed, hospital=None, rotate_url=reverse("my_calendar_rotate"))


@login_required
@require_POST
def my_calendar_rotate(request: AuthenticatedHttpRequest) -> HttpResponse:
    feed = services.calendar_feed_for(user=request.user)
    services.calendar_feed_rotate(actor=request.user, feed=feed)
    messages.success(request, str(_ROTATED))
    return redirect("my_calendar")


@login_required
def hospital_calendar(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    feed = services.calendar_feed_for_hospital(actor=request.user, hospital=hospital)
    return _feed_page(
        request,
        feed,
        hospital=hospital,
        rotate_url=reverse("hospital_calendar_rotate", args=[hospital.pk]),
    )


@login_required
@require_POST
def hospital_calendar_rotate(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    feed = services.calendar_feed_for_hospital(actor=request.user, hospital=hospital)
    services.calendar_feed_rotate(actor=request.user, feed=feed)
    messages.success(request, str(_ROTATED))
    return redirect("hospital_calendar", hospital_id=hospital.pk)


_ROTATED = gettext_lazy(
    "The calendar has a new address. The old one no longer works: subscribe again with the new "
    "one on every device."
)

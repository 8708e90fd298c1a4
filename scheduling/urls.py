from django.urls import path, re_path

from scheduling.views import availability as views
from scheduling.views import bookings
from scheduling.views import calendar as calendar_views
from scheduling.views import ledger as ledger_views
from scheduling.views import plans as plan_views
from scheduling.views import postings as posting_views

urlpatterns = [
    path("me/availability/", views.availability_week, name="availability_week"),
    path("me/availability/new/", views.availability_add, name="availability_add"),
    path("availability/<id:window_id>/edit/", views.availability_edit, name="availability_edit"),
    path(
        "availability/<id:window_id>/delete/",
        views.availability_delete,
        name="availability_delete",
    ),
    path("availability/<id:window_id>/skip/", views.availability_skip, name="availability_skip"),
    path("hospitals/<id:hospital_id>/staff/", views.hospital_staff, name="hospital_staff"),
    path(
        "hospitals/<id:hospital_id>/staff/<id:technologist_id>/lend/",
        views.staff_lend,
        name="staff_lend",
    ),
    path("me/postings/", posting_views.open_postings, name="open_postings"),
    path("postings/<id:posting_id>/", posting_views.posting_detail, name="posting_detail"),
    path("postings/<id:posting_id>/cancel/", posting_views.posting_cancel, name="posting_cancel"),
    path("me/bookings/", bookings.my_bookings, name="my_bookings"),
    path("bookings/<id:booking_id>/<slug:move>/", bookings.booking_move, name="booking_move"),
    path("postings/<id:posting_id>/invite/", bookings.posting_invite, name="posting_invite"),
    path("postings/<id:posting_id>/apply/", bookings.posting_apply, name="posting_apply"),
    path(
        "hospitals/<id:hospital_id>/bookings/",
        bookings.hospital_bookings,
        name="hospital_bookings",
    ),
    path(
        "hospitals/<id:hospital_id>/ledger/", ledger_views.hospital_ledger, name="hospital_ledger"
    ),
    path(
        "hospitals/<id:hospital_id>/ledger/<str:month>/",
        ledger_views.ledger_statement,
        name="ledger_statement",
    ),
    path("me/calendar/", calendar_views.my_calendar, name="my_calendar"),
    path("me/calendar/rotate/", calendar_views.my_calendar_rotate, name="my_calendar_rotate"),
    path(
        "hospitals/<id:hospital_id>/calendar/",
        calendar_views.hospital_calendar,
        name="hospital_calendar",
    ),
    path(
        "hospitals/<id:hospital_id>/calendar/rotate/",
        calendar_views.hospital_calendar_rotate,
        name="hospital_calendar_rotate",
    ),
    path("plans/", plan_views.plan_list, name="plan_list"),
    path("plans/network/new/", plan_views.network_plan_create, name="network_plan_create"),
    path(
        "hospitals/<id:hospital_id>/plans/new/",
        plan_views.hospital_plan_create,
        name="hospital_plan_create",
    ),
    path("plans/<id:plan_id>/", plan_views.plan_detail, name="plan_detail"),
    path("plans/<id:plan_id>/cancel/", plan_views.plan_cancel, name="plan_cancel"),
    path("plans/<id:plan_id>/send/", plan_views.plan_send, name="plan_send"),
    # The token alphabet of secrets.token_urlsafe; anything else is no feed.
    re_path(
        r"^calendar/(?P<token>[A-Za-z0-9_-]{20,64})\.ics$",
        calendar_views.calendar_feed,
        name="calendar_feed",
    ),
]

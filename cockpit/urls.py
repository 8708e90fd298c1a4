from django.urls import path

from cockpit import assist_views, views

urlpatterns = [
    path("cockpits/", views.cockpit_list, name="cockpit_list"),
    path("cockpit/<id:cockpit_id>/", views.cockpit_console, name="cockpit_console"),
    path(
        "cockpit/<id:cockpit_id>/stops/<id:stop_id>/reason/",
        views.cockpit_stop_reason,
        name="cockpit_stop_reason",
    ),
    # The booking's own page shows its cockpit section: the cockpit composes it.
    path("bookings/<id:booking_id>/", views.booking_detail, name="booking_detail"),
    path("bookings/<id:booking_id>/cockpit/", views.booking_cockpit, name="booking_cockpit"),
    path(
        "bookings/<id:booking_id>/cockpit/approve/",
        views.cockpit_preapprove,
        name="cockpit_preapprove",
    ),
    # Senior assistance: requests for help a person was asked to answer, their history, and
    # the on-call schedule.
    path("assist/", assist_views.assist_incoming, name="assist_incoming"),
    path("assist/history/", assist_views.assist_history, name="assist_history"),
    path("assist/<id:assist_id>/accept/", assist_views.assist_accept, name="assist_accept"),
    path("assist/<id:assist_id>/cancel/", assist_views.assist_cancel, name="assist_cancel"),
    path("assist/<id:assist_id>/finish/", assist_views.assist_finish, name="assist_finish"),
    path("me/on-call/", assist_views.on_call_page, name="on_call"),
    path("me/on-call/new/", assist_views.on_call_add, name="on_call_add"),
    path("me/on-call/now/", assist_views.on_call_now, name="on_call_now"),
    path("me/on-call/switch/", assist_views.on_call_switch, name="on_call_switch"),
    path("on-call/<id:window_id>/delete/", assist_views.on_call_delete, name="on_call_delete"),
]

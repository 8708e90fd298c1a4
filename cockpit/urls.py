from django.urls import path

from cockpit import views

urlpatterns = [
    path("cockpits/", views.cockpit_list, name="cockpit_list"),
    path("cockpit/<int:cockpit_id>/", views.cockpit_console, name="cockpit_console"),
    path("bookings/<int:booking_id>/cockpit/", views.booking_cockpit, name="booking_cockpit"),
    path(
        "bookings/<int:booking_id>/cockpit/approve/",
        views.cockpit_preapprove,
        name="cockpit_preapprove",
    ),
]

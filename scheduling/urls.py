from django.urls import path

from scheduling.views import availability as views

urlpatterns = [
    path("me/availability/", views.availability_week, name="availability_week"),
    path("me/availability/new/", views.availability_add, name="availability_add"),
    path("availability/<int:window_id>/edit/", views.availability_edit, name="availability_edit"),
    path(
        "availability/<int:window_id>/delete/",
        views.availability_delete,
        name="availability_delete",
    ),
    path("availability/<int:window_id>/skip/", views.availability_skip, name="availability_skip"),
    path("hospitals/<int:hospital_id>/staff/", views.hospital_staff, name="hospital_staff"),
    path(
        "hospitals/<int:hospital_id>/staff/<int:technologist_id>/lend/",
        views.staff_lend,
        name="staff_lend",
    ),
]

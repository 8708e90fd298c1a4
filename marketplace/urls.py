from django.urls import path

from marketplace import views

urlpatterns = [
    path("hospitals/<id:hospital_id>/", views.hospital_detail, name="hospital_detail"),
    path("hospitals/<id:hospital_id>/invite/", views.hospital_invite, name="hospital_invite"),
    path("hospitals/<id:hospital_id>/sites/", views.site_add, name="site_add"),
    path("hospitals/<id:hospital_id>/scanners/", views.scanner_add, name="scanner_add"),
    path(
        "scanners/<id:scanner_id>/rotate-token/",
        views.scanner_rotate_token,
        name="scanner_rotate_token",
    ),
    path(
        "invitations/<id:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("memberships/<id:membership_id>/role/", views.membership_role, name="membership_role"),
    path(
        "memberships/<id:membership_id>/remove/",
        views.membership_remove,
        name="membership_remove",
    ),
    path("join/<str:token>/", views.invitation_detail, name="invitation_detail"),
    path(
        "invitations/<id:invitation_id>/accept/",
        views.invitation_accept,
        name="invitation_accept",
    ),
]

# A posting's own page, its cancelling and a technologist's open postings show bookings and
# matches: they are scheduling's (scheduling.urls).
urlpatterns += [
    path("me/technologist/", views.technologist_profile, name="technologist_profile"),
    path("hospitals/<id:hospital_id>/postings/", views.hospital_postings, name="hospital_postings"),
    path("hospitals/<id:hospital_id>/postings/new/", views.posting_create, name="posting_create"),
    path("postings/<id:posting_id>/edit/", views.posting_edit, name="posting_edit"),
    path("postings/<id:posting_id>/publish/", views.posting_publish, name="posting_publish"),
]

urlpatterns += [
    # A person's notices, on their own wall clock (core keeps the moves on them: core.urls).
    path("notifications/", views.notifications, name="notifications"),
]

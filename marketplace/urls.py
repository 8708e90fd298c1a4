from django.urls import path

from marketplace import views

urlpatterns = [
    path("hospitals/<int:hospital_id>/", views.hospital_detail, name="hospital_detail"),
    path("hospitals/<int:hospital_id>/invite/", views.hospital_invite, name="hospital_invite"),
    path("hospitals/<int:hospital_id>/sites/", views.site_add, name="site_add"),
    path("hospitals/<int:hospital_id>/scanners/", views.scanner_add, name="scanner_add"),
    path(
        "scanners/<int:scanner_id>/rotate-token/",
        views.scanner_rotate_token,
        name="scanner_rotate_token",
    ),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("memberships/<int:membership_id>/role/", views.membership_role, name="membership_role"),
    path(
        "memberships/<int:membership_id>/remove/",
        views.membership_remove,
        name="membership_remove",
    ),
    path("join/<str:token>/", views.invitation_detail, name="invitation_detail"),
    path(
        "invitations/<int:invitation_id>/accept/",
        views.invitation_accept,
        name="invitation_accept",
    ),
]

urlpatterns += [
    path("me/technologist/", views.technologist_profile, name="technologist_profile"),
    path("me/postings/", views.open_postings, name="open_postings"),
    path(
        "hospitals/<int:hospital_id>/postings/", views.hospital_postings, name="hospital_postings"
    ),
    path("hospitals/<int:hospital_id>/postings/new/", views.posting_create, name="posting_create"),
    path("postings/<int:posting_id>/", views.posting_detail, name="posting_detail"),
    path("postings/<int:posting_id>/edit/", views.posting_edit, name="posting_edit"),
    path("postings/<int:posting_id>/publish/", views.posting_publish, name="posting_publish"),
    path("postings/<int:posting_id>/cancel/", views.posting_cancel, name="posting_cancel"),
]

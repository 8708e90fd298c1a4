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
]

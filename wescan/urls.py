from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from accounts import language, mfa_views, privacy_views, sessions_views, tokens_views
from accounts import views as account_views
from accounts.api import MyTokenRevokeView, MyTokensView, TokenView
from cockpit import api as cockpit_api
from core import views as core_views
from core.api import Router
from core.api_notifications import NotificationViewSet
from marketplace import api as marketplace_api
from scheduling.api import availability as availability_api
from scheduling.api import bookings as bookings_api
from scheduling.api import calendar as calendar_api
from scheduling.api import ledger as ledger_api
from scheduling.api import matching as matching_api
from scheduling.api import plans as plans_api
from wescan import api_docs

router = Router()
router.register("hospitals", marketplace_api.HospitalViewSet, basename="hospital")
router.register("sites", marketplace_api.SiteViewSet, basename="site")
router.register("scanners", marketplace_api.ScannerViewSet, basename="scanner")
router.register("memberships", marketplace_api.MembershipViewSet, basename="membership")
router.register("invitations", marketplace_api.InvitationViewSet, basename="invitation")
router.register("exam-families", marketplace_api.ExamFamilyViewSet, basename="exam-family")
router.register("languages", marketplace_api.LanguageViewSet, basename="language")
router.register("technologists", marketplace_api.TechnologistViewSet, basename="technologist")
router.register("postings", marketplace_api.PostingViewSet, basename="posting")
router.register("availability", availability_api.AvailabilityViewSet, basename="availability")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("bookings", bookings_api.BookingViewSet, basename="booking")
router.register("on-call-windows", cockpit_api.OnCallWindowViewSet, basename="on-call-window")
router.register("assist-requests", cockpit_api.AssistRequestViewSet, basename="assist-request")
router.register("plans", plans_api.PlanViewSet, basename="plan")

urlpatterns = [
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("", include("operations.urls")),
    # allauth's sign-in page, answering 429 when sign-ins are held back (before allauth's own).
    path("accounts/login/", account_views.login, name="account_login"),
    # allauth's second-factor step, answering 429 when wrong codes hold it back.
    path("accounts/2fa/authenticate/", mfa_views.authenticate, name="mfa_authenticate"),
    # Its "confirm it is you" with a code, worded by what the person has.
    path("accounts/2fa/reauthenticate/", mfa_views.reauthenticate, name="mfa_reauthenticate"),
    # allauth's own list of sessions needs django.contrib.humanize (not installed): WeScan's
    # page, under both names.
    path(
        "accounts/sessions/",
        RedirectView.as_view(pattern_name="account_sessions"),
        name="usersessions_list",
    ),
    path("accounts/", include("allauth.urls")),
    path("profile/", account_views.profile, name="profile"),
    # The header's language switch (accounts.language), and the JavaScript's own catalogue
    # (djangojs), a static script as the Content Security Policy wants.
    path("language/", language.set_language, name="set_language"),
    path("jsi18n/<str:language>.js", core_views.javascript_catalog, name="javascript_catalog"),
    # Sessions and personal data (accounts.sessions, accounts.privacy).
    path("account/sessions/", sessions_views.session_list, name="account_sessions"),
    path(
        "account/sessions/sign-out/",
        sessions_views.sessions_sign_out,
        name="account_sessions_sign_out",
    ),
    path("account/privacy/", privacy_views.privacy_page, name="account_privacy"),
    path("account/privacy/export/", privacy_views.privacy_export, name="account_privacy_export"),
    path("account/privacy/erase/", privacy_views.privacy_erase, name="account_privacy_erase"),
    # Personal access tokens for the API (accounts.tokens).
    path("account/tokens/", tokens_views.token_list, name="access_tokens"),
    path(
        "account/tokens/<id:token_id>/revoke/",
        tokens_views.token_revoke,
        name="access_token_revoke",
    ),
    path("account/second-factor/", mfa_views.second_factor_setup, name="second_factor_setup"),
    path("", include("core.urls")),
    path("", include("marketplace.urls")),
    # Before scheduling's: its `bookings/<id>/<move>/` would take `bookings/<id>/cockpit/`.
    path("", include("cockpit.urls")),
    path("", include("scheduling.urls")),
    # Sign-in to the admin is WeScan's own, with its limits on guessing.
    path("admin/login/", account_views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", TokenView.as_view(), name="api_token"),
    path("api/v1/me/", marketplace_api.MeView.as_view(), name="api_me"),
    path("api/v1/me/tokens/", MyTokensView.as_view(), name="api_my_tokens"),
    path(
        "api/v1/me/tokens/<id:token_id>/revoke/",
        MyTokenRevokeView.as_view(),
        name="api_my_token_revoke",
    ),
    path("api/v1/me/on-call/", cockpit_api.MyOnCallView.as_view(), name="api_my_on_call"),
    path(
        "api/v1/cockpits/<id:cockpit_id>/assist-requests/",
        cockpit_api.CockpitAssistRequestView.as_view(),
        name="api_cockpit_assist_requests",
    ),
    path(
        "api/v1/postings/<id:posting_id>/candidates/",
        matching_api.PostingCandidatesView.as_view(),
        name="api_posting_candidates",
    ),
    path("api/v1/me/matches/", matching_api.MyMatchesView.as_view(), name="api_my_matches"),
    path(
        "api/v1/hospitals/<id:hospital_id>/ledger/",
        ledger_api.LedgerView.as_view(),
        name="api_hospital_ledger",
    ),
    path(
        "api/v1/hospitals/<id:hospital_id>/ledger/<str:month>/",
        ledger_api.LedgerStatementView.as_view(),
        name="api_ledger_statement",
    ),
    path("api/v1/me/calendar/", calendar_api.MyCalendarView.as_view(), name="api_my_calendar"),
    path(
        "api/v1/me/calendar/rotate/",
        calendar_api.MyCalendarRotateView.as_view(),
        name="api_my_calendar_rotate",
    ),
    path(
        "api/v1/hospitals/<id:hospital_id>/calendar/",
        calendar_api.HospitalCalendarView.as_view(),
        name="api_hospital_calendar",
    ),
    path(
        "api/v1/hospitals/<id:hospital_id>/calendar/rotate/",
        calendar_api.HospitalCalendarRotateView.as_view(),
        name="api_hospital_calendar_rotate",
    ),
    path("api/v1/", include("operations.api_urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The schema as a page of WeScan's own (wescan/api_docs.py), in the reader's language.
    path("api/docs/", api_docs.api_docs, name="api_docs"),
    # Last: whatever else is under /api/ is a JSON 404 in every mode, DEBUG included.
    re_path(r"^api/", core_views.api_not_found),
]

handler400 = "core.views.bad_request"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"

from typing import Any

from allauth.mfa.admin import AuthenticatorAdmin as BaseAuthenticatorAdmin
from allauth.mfa.models import Authenticator
from allauth.usersessions.admin import UserSessionAdmin as BaseUserSessionAdmin
from allauth.usersessions.models import UserSession
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts import tokens
from accounts.models import AccessToken, User
from accounts.privacy import account_erase, erasure_refusals, is_erased
from core.admin import LABELLED_DATETIME
from core.errors import DomainError

# The most people one erasure action takes (it is one person's right; a few at a time).
ERASE_AT_ONCE = 20


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """People. Their hospitals (a filter by role, and their memberships inline) are added by
    `marketplace.admin.MemberAdmin`: accounts sits below the marketplace and knows no hospital."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    # Plain labelled multiple selects: Django's two-box filter puts aria-label on a <span>, which
    # may not carry one (WCAG 4.1.2).
    filter_horizontal = ()
    formfield_overrides = LABELLED_DATETIME
    actions = ["erase_accounts"]

    @admin.action(description=_("Erase the selected people (anonymise; ledger and audit kept)"))
    def erase_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        """The same rules as a person's own request (accounts.privacy), after a confirmation
        page that says who would be erased and who cannot be yet."""
        people = list(queryset.order_by("pk")[: ERASE_AT_ONCE + 1])
        if len(people) > ERASE_AT_ONCE:
            self.message_user(
                request,
                gettext("Erase at most %(count)s people at once.") % {"count": ERASE_AT_ONCE},
                messages.ERROR,
            )
            return None
        if request.POST.get("confirmed") != "yes":
            rows = [
                {
                    "person": person,
                    "erased": is_erased(person),
                    "refusals": erasure_refusals(user=person),
                }
                for person in people
            ]
            return TemplateResponse(
                request,
                "admin/accounts/user/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": gettext("Erase these people?"),
                    "rows": rows,
                    "opts": self.model._meta,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        assert isinstance(request.user, User)
        erased = 0
        for person in people:
            try:
                account_erase(actor=request.user, user=person)
            except DomainError as error:
                self.message_user(request, f"{person.email}: {error.message}", messages.WARNING)
            else:
                erased += 1
        if erased:
            self.message_user(
                request, f"Erased {erased} account{'s' if erased != 1 else ''}.", messages.SUCCESS
            )
        return None


# Django's and allauth's own admins, with WeScan's labelled date and time inputs and plain
# multiple selects (see UserAdmin).
admin.site.unregister(Group)
admin.site.unregister(Authenticator)
admin.site.unregister(UserSession)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    filter_horizontal = ()


@admin.register(Authenticator)
class AuthenticatorAdmin(BaseAuthenticatorAdmin):
    formfield_overrides = LABELLED_DATETIME


@admin.register(UserSession)
class UserSessionAdmin(BaseUserSessionAdmin):
    formfield_overrides = LABELLED_DATETIME


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    """Personal access tokens, to see and revoke (a leaked one, a departed person's). Read-only:
    secrets are made by their owner on the tokens page, and only their hash is here."""

    list_display = [
        "name",
        "user",
        "prefix",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_with_second_factor",
    ]
    list_filter = ["scope", "created_with_second_factor", "by_password_sign_in"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user"]
    # Everything but the hash: a fingerprint of a live secret has no reader here.
    readonly_fields = [
        field.name for field in AccessToken._meta.fields if field.name not in {"id", "secret_hash"}
    ]
    fields = tuple(readonly_fields)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AccessToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessToken | None = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["view"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        for token in queryset.select_related("user"):
            tokens.access_token_revoke(user=token.user, token_id=token.pk, actor=actor)
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%(count)s token revoked.", "%(count)s tokens revoked.", count)
            % {"count": count},
        )

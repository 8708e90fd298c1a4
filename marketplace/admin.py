from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from accounts.admin import UserAdmin
from accounts.models import User
from core.admin import LABELLED_DATETIME
from core.errors import DomainError
from marketplace import services
from marketplace.models import (
    ExamFamily,
    Hospital,
    Invitation,
    Language,
    Membership,
    Scanner,
    SessionPosting,
    Site,
    TechnologistProfile,
    VendorFamiliarity,
)


# Inlines are stacked, not tabular: a tabular row's inputs have only the column's heading, which
# names none of them (WCAG 1.3.1, 4.1.2); a stacked one labels each field.
class MembershipInline(admin.StackedInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["hospital"]


# A person's hospitals on their admin page: accounts' UserAdmin registered it without them.
admin.site.unregister(User)


@admin.register(User)
class MemberAdmin(UserAdmin):
    list_filter = [*UserAdmin.list_filter, "memberships__role"]
    inlines = [*UserAdmin.inlines, MembershipInline]


class SiteInline(admin.StackedInline):
    model = Site
    extra = 0


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "country", "created_at"]
    list_filter = ["country"]
    search_fields = ["name", "city"]
    inlines = [SiteInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "hospital", "city", "time_zone"]
    list_filter = ["time_zone", "hospital"]
    search_fields = ["name", "city", "hospital__name"]
    list_select_related = ["hospital"]
    autocomplete_fields = ["hospital"]


@admin.register(Scanner)
class ScannerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "site",
        "modality",
        "vendor",
        "model_name",
        "field_strength_tesla",
        "cockpit_ready",
        "device_token_rotated_at",
    ]
    list_filter = ["modality", "vendor", "cockpit_ready", "site__hospital"]
    search_fields = ["name", "model_name", "site__name", "site__hospital__name"]
    list_select_related = ["site__hospital"]
    autocomplete_fields = ["site"]
    readonly_fields = ["device_token_hash", "device_token_rotated_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "hospital", "role", "created_at"]
    list_filter = ["role", "hospital"]
    search_fields = ["user__email", "user__last_name", "hospital__name"]
    list_select_related = ["user", "hospital"]
    autocomplete_fields = ["user", "hospital"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "hospital",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
    list_filter = ["role", "hospital"]
    search_fields = ["email", "hospital__name"]
    list_select_related = ["hospital"]
    readonly_fields = ["token_hash", "accepted_at", "accepted_by", "email_sent_at"]
    formfield_overrides = LABELLED_DATETIME


# --- Vocabularies -----------------------------------------------------------------------------


def _count_links(through: Any) -> Coalesce:
    """How many rows of a many-to-many through table point at the exam family."""
    counted = (
        through.objects.filter(examfamily_id=OuterRef("pk"))
        .order_by()
        .values("examfamily_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ExamFamilyPositionForm(forms.ModelForm):
    """A row of the list's editable positions: its input named after its family (the column's
    heading names no input, WCAG 1.3.1 and 4.1.2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "position" in self.fields:
            self.fields["position"].widget.attrs["aria-label"] = _("Position of %(family)s") % {
                "family": self.instance.name
            }


@admin.register(ExamFamily)
class ExamFamilyAdmin(admin.ModelAdmin):
    """The managed vocabulary postings require and technologists claim. A family in use is not
    deleted: postings would silently stop requiring it."""

    list_display = ["name", "code", "position", "technologist_count", "posting_count"]
    list_editable = ["position"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    actions = None  # no bulk delete: see has_delete_permission

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:
        kwargs.setdefault("form", ExamFamilyPositionForm)
        return super().get_changelist_form(request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExamFamily]:
        # One counting subquery each: two joins would multiply technologists by postings.
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_technologists=_count_links(TechnologistProfile.exam_families.through),
                n_postings=_count_links(SessionPosting.required_exam_families.through),
            )
        )

    @admin.display(description=gettext_lazy("technologists"), ordering="n_technologists")
    def technologist_count(self, obj: Any) -> int:
        return int(obj.n_technologists)

    @admin.display(description=gettext_lazy("postings"), ordering="n_postings")
    def posting_count(self, obj: Any) -> int:
        return int(obj.n_postings)

    def has_delete_permission(self, request: HttpRequest, obj: ExamFamily | None = None) -> bool:
        if obj is not None and (obj.technologists.exists() or obj.postings.exists()):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


# --- Technologists ----------------------------------------------------------------------------


class VendorFamiliarityInline(admin.StackedInline):
    model = VendorFamiliarity
    extra = 0


class LicenceStatusFilter(admin.SimpleListFilter):
    title = gettext_lazy("licence")
    parameter_name = "licence"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("verified", _("Verified and current")),
            ("unverified", _("Awaiting verification")),
            (
                "expiring",
                _("Expiring within %(days)s days") % {"days": services.LICENCE_WARNING_DAYS},
            ),
            ("expired", _("Expired")),
            ("missing", _("None on file")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        today = timezone.localdate()
        current = {"licence_valid_until__gte": today}
        match self.value():
            case "verified":
                return queryset.filter(licence_verified_at__isnull=False, **current)
            case "unverified":
                return queryset.exclude(licence_number="").filter(
                    licence_verified_at__isnull=True, **current
                )
            case "expiring":
                return queryset.filter(
                    licence_valid_until__lte=today + timedelta(days=services.LICENCE_WARNING_DAYS),
                    **current,
                )
            case "expired":
                return queryset.filter(licence_valid_until__lt=today)
            case "missing":
                return queryset.filter(licence_number="")
        return queryset


@admin.register(TechnologistProfile)
class TechnologistProfileAdmin(admin.ModelAdmin):
    """Platform admins check licences here: the `verify_licence` action records who verified
    and when. Saving goes through `technologist_profile_update`, so a changed licence loses its
    verification and the change is audited, as everywhere else."""

    list_display = [
        "user",
        "seniority",
        "years_experience",
        "licence_number",
        "licence_valid_until",
        "licence_status",
        "licence_verified_at",
    ]
    list_filter = [
        LicenceStatusFilter,
        "seniority",
        ("licence_verified_at", admin.EmptyFieldListFilter),
        "licence_valid_until",
        "exam_families",
    ]
    search_fields = [
        "user__email",
        "user__first_name",
        "user__last_name",
        "licence_number",
        "licence_authority",
    ]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    # Plain labelled multiple selects: Django's two-box filter puts aria-label on a <span>,
    # which may not carry one (WCAG 4.1.2).
    filter_horizontal = ()
    inlines = [VendorFamiliarityInline]
    readonly_fields = [
        "licence_verified_at",
        "licence_verified_by",
        "licence_expiry_warned_for",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["user", "seniority", "years_experience", "home_time_zone"]}),
        (gettext_lazy("Competencies"), {"fields": ["exam_families", "languages"]}),
        (
            gettext_lazy("Licence"),
            {
                "fields": [
                    "licence_number",
                    "licence_authority",
                    "licence_valid_until",
                    "licence_verified_at",
                    "licence_verified_by",
                    "licence_expiry_warned_for",
                ]
            },
        ),
        (gettext_lazy("Record"), {"fields": ["updated_at"]}),
    ]
    actions = ["verify_licence"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user"] if obj is not None else fields

    @admin.display(description=gettext_lazy("licence"))
    def licence_status(self, obj: TechnologistProfile) -> str:
        today = timezone.localdate()
        if not obj.licence_number:
            return _("none on file")
        if obj.licence_valid_until is not None and obj.licence_valid_until < today:
            return pgettext("licence", "expired")
        if obj.licence_verified_at is None:
            return _("awaiting verification")
        if obj.licence_valid_until is None:
            return _("no expiry date")
        if obj.licence_valid_until <= today + timedelta(days=services.LICENCE_WARNING_DAYS):
            return _("verified, expiring soon")
        return pgettext("licence", "verified")

    def save_model(
        self, request: HttpRequest, obj: TechnologistProfile, form: ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        profile = services.technologist_profile_update(
            actor=request.user,  # type: ignore[arg-type]
            user=obj.user,
            seniority=data.get("seniority"),
            years_experience=data.get("years_experience"),
            home_time_zone=data.get("home_time_zone"),
            licence_number=data.get("licence_number"),
            licence_authority=data.get("licence_authority"),
            licence_valid_until=data.get("licence_valid_until"),
        )
        # The form's related fields and the inlines are saved onto the service's row.
        obj.pk = profile.pk
        obj.refresh_from_db()

    @admin.action(
        description=gettext_lazy("Verify the licence of the selected technologists"),
        permissions=["change"],
    )
    def verify_licence(self, request: HttpRequest, queryset: QuerySet[TechnologistProfile]) -> None:
        verified: list[str] = []
        for profile in queryset.select_related("user"):
            try:
                services.technologist_licence_verify(
                    actor=request.user,  # type: ignore[arg-type]
                    profile=profile,
                )
            except DomainError as error:
                self.message_user(
                    request,
                    _("%(person)s: not verified. %(reason)s")
                    % {"person": profile.user, "reason": error.message},
                    messages.ERROR,
                )
            else:
                verified.append(str(profile.user))
        if verified:
            self.message_user(
                request,
                ngettext(
                    "Licence verified for %(count)s technologist: %(names)s.",
                    "Licence verified for %(count)s technologists: %(names)s.",
                    len(verified),
                )
                % {"count": len(verified), "names": ", ".join(verified)},
                messages.SUCCESS,
            )


# --- Postings ---------------------------------------------------------------------------------


@admin.register(SessionPosting)
class SessionPostingAdmin(admin.ModelAdmin):
    """Read-only: postings belong to their hospitals and change only through the managers'
    services (status rules, the patient-data check, the audit trail)."""

    list_display = [
        "starts_at",
        "ends_at",
        "hospital",
        "site",
        "scanner",
        "urgency",
        "status",
        "min_seniority",
        "compensation",
        "hourly_rate_eur",
    ]
    list_filter = ["status", "urgency", "hospital", "vendor", "min_seniority", "compensation"]
    search_fields = ["hospital__name", "site__name", "scanner__name", "notes"]
    list_select_related = ["hospital", "site", "scanner"]
    date_hierarchy = "starts_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

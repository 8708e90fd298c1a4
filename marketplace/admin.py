from django.contrib import admin

from marketplace.models import (
    Hospital,
    Invitation,
    Membership,
    Scanner,
    Site,
    TechnologistProfile,
)


class SiteInline(admin.TabularInline):
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


@admin.register(TechnologistProfile)
class TechnologistProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "seniority", "years_experience"]
    list_filter = ["seniority"]
    search_fields = ["user__email", "user__last_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]

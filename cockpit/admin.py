from django.contrib import admin

from cockpit.models import CockpitSession


@admin.register(CockpitSession)
class CockpitSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "booking", "protocol", "status", "controller", "started_at", "ended_at"]
    list_filter = ["status", "protocol"]
    raw_id_fields = ["booking", "controller", "join_approved_by", "control_requested_by"]
    filter_horizontal = ["assistants"]
    readonly_fields = ["created_at", "updated_at"]

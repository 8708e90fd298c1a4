from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cockpit.models import CockpitSession, CockpitStop, ExamRecord, PrescanCheck
from core.admin import LABELLED_DATETIME


@admin.register(CockpitSession)
class CockpitSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "booking", "protocol", "status", "controller", "started_at", "ended_at"]
    list_filter = ["status", "protocol"]
    raw_id_fields = ["booking", "controller", "join_approved_by", "control_requested_by"]
    # A plain labelled multiple select (Django's two-box filter breaks WCAG 4.1.2).
    filter_horizontal = ()
    formfield_overrides = LABELLED_DATETIME
    readonly_fields = ["created_at", "updated_at"]


@admin.register(PrescanCheck)
class PrescanCheckAdmin(admin.ModelAdmin):
    """The pre-scan checklists, as confirmed (changed only through `prescan_confirm`)."""

    list_display = ["cockpit", "confirmed_at", "confirmed_by", "beside_patient", "link_level"]
    list_filter = ["link_level"]
    raw_id_fields = ["cockpit", "confirmed_by", "beside_patient"]
    formfield_overrides = LABELLED_DATETIME

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


# --- The exam's outcome (written by the services, read here) ----------------------------------


@admin.register(ExamRecord)
class ExamRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "cockpit", "outcome", "sequences_done", "sequences_total", "ending"]
    list_filter = ["outcome", "ending"]
    raw_id_fields = ["cockpit", "ended_by"]
    formfield_overrides = LABELLED_DATETIME

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CockpitStop)
class CockpitStopAdmin(admin.ModelAdmin):
    list_display = ["id", "cockpit", "by", "role", "at", "reason"]
    list_filter = ["role"]
    raw_id_fields = ["cockpit", "by", "reason_by"]
    formfield_overrides = LABELLED_DATETIME

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, in the admin as everywhere."""

    list_display = [
        "seq",
        "created_at",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "hospital",
    ]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor_label", "action", "target_id"]
    date_hierarchy = "created_at"
    list_select_related = ["hospital"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

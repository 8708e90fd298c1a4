from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, in the admin as everywhere."""

    list_display = [
        "seq",
        "created_at",
        "who",
        "action",
        "target_type",
        "target_id",
        "hospital",
    ]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor__email", "action", "target_id"]
    # No date hierarchy: its min/max of created_at fails on a tampered row, and the trail must
    # stay readable exactly when tampering is suspected (`manage.py audit_verify` names the row).
    list_select_related = ["hospital", "actor"]

    @admin.display(description=_("Who"))
    def who(self, event: AuditEvent) -> str:
        """The person of the hashed actor id (their address now: the pseudonym once erased),
        not the unhashed label a change to the database could rewrite; the label only when no
        account answers the id."""
        if event.actor_id is None:
            return "WeScan"
        actor = event.actor
        return actor.email if actor is not None else event.actor_label or f"#{event.actor_id}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

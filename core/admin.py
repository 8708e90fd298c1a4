from typing import Any

from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.forms.renderers import BaseRenderer, get_default_renderer
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from core.models import AuditEvent


class LabelledSplitDateTime(AdminSplitDateTime):
    """Django's admin date and time inputs, with their "Date:" and "Time:" as real labels of
    each input (Django's template prints them as plain text: two inputs with no name, WCAG
    1.3.1 and 4.1.2). The markup is written here, not in a template of templates/admin/: the
    form renderer reads only the apps' templates, where Django's own comes first."""

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: BaseRenderer | None = None,
    ) -> SafeString:
        context = self.get_context(name, value, attrs)
        date, time = context["widget"]["subwidgets"]
        if not date["attrs"].get("id"):
            return super().render(name, value, attrs, renderer)
        renderer = renderer or get_default_renderer()
        return format_html(
            '<p class="datetime"><label for="{}">{}</label> {}<br>'
            '<label for="{}">{}</label> {}</p>',
            date["attrs"]["id"],
            context["date_label"],
            SafeString(renderer.render(date["template_name"], {"widget": date})),
            time["attrs"]["id"],
            context["time_label"],
            SafeString(renderer.render(time["template_name"], {"widget": time})),
        )


# Every ModelAdmin with an editable date and time: `formfield_overrides = LABELLED_DATETIME`.
LABELLED_DATETIME: dict[Any, dict[str, Any]] = {
    models.DateTimeField: {"widget": LabelledSplitDateTime}
}


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

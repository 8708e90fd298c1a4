from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from scheduling import services
from scheduling.models import AvailabilityWindow


@admin.register(AvailabilityWindow)
class AvailabilityWindowAdmin(admin.ModelAdmin):
    """Read-only but for deletion: windows change through the scheduling services, which check
    the rule and work out when its last occurrence ends (`last_ends_at`, which the queries rely
    on). Deleting goes through `availability_delete`, so it is audited."""

    list_display = [
        "technologist",
        "starts_at",
        "ends_at",
        "time_zone",
        "rrule",
        "last_ends_at",
        "lending_hospital",
        "created_by",
    ]
    list_filter = ["lending_hospital", "time_zone", ("rrule", admin.EmptyFieldListFilter)]
    search_fields = [
        "technologist__email",
        "technologist__first_name",
        "technologist__last_name",
        "lending_hospital__name",
    ]
    list_select_related = ["technologist", "lending_hospital", "created_by"]
    date_hierarchy = "starts_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AvailabilityWindow) -> None:
        services.availability_delete(actor=request.user, window=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AvailabilityWindow]) -> None:
        for window in queryset:
            self.delete_model(request, window)

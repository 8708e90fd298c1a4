"""When technologists can work remotely (and, later, what they are booked for)."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models

from marketplace.models import Hospital, validate_time_zone


class AvailabilityWindow(models.Model):
    """A window in which a technologist can work remotely: one-off, or recurring by an RFC 5545
    RRULE in the wall-clock time of `time_zone`. Times are stored in UTC; `starts_at`/`ends_at`
    are the first occurrence. Occurrences are expanded per query (scheduling.recurrence), never
    stored ahead.

    Published by the technologist, or by a manager of a hospital they belong to: that is lending
    staff, and `lending_hospital` records which hospital gives the hours."""

    technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    rrule = models.CharField(
        max_length=500, blank=True, help_text="RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO."
    )
    # Local start times (ISO 8601, no offset) of occurrences that do not happen.
    exdates = models.JSONField(default=list, blank=True)
    # The last moment any occurrence can end (None: the rule never ends). Lets a query skip
    # windows that are over without expanding them.
    last_ends_at = models.DateTimeField(null=True, blank=True)
    lending_hospital = models.ForeignKey(
        Hospital,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lent_windows",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [models.Index(fields=["technologist", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="availability_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        kind = f"every {self.rrule}" if self.rrule else "once"
        return f"{self.technologist} from {self.starts_at:%Y-%m-%d %H:%M} UTC ({kind})"

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule)

    def excluded_local_starts(self) -> list[datetime]:
        return [datetime.fromisoformat(value) for value in self.exdates]

    def occurrences(self, range_start: datetime, range_end: datetime) -> list[Any]:
        from scheduling.recurrence import expand

        return list(
            expand(
                starts_at=self.starts_at,
                ends_at=self.ends_at,
                time_zone=self.time_zone,
                rule=self.rrule,
                exdates=self.excluded_local_starts(),
                range_start=range_start,
                range_end=range_end,
            )
        )

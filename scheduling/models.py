"""When technologists can work remotely or are on call, and the bookings that put them on a
posting."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from marketplace.models import Hospital, SessionPosting, validate_time_zone
from scheduling import workload

logger = logging.getLogger(__name__)


class RecurringWindow(models.Model):
    """A window of time, one-off or recurring by an RFC 5545 RRULE in the wall-clock time of
    `time_zone`. Times are stored in UTC; `starts_at`/`ends_at` are the first occurrence.
    Occurrences are expanded per query (scheduling.recurrence), never stored ahead."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    rrule = models.CharField(
        max_length=500, blank=True, help_text=_("RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO.")
    )
    # Local start times (ISO 8601, no offset) of occurrences that do not happen.
    exdates = models.JSONField(default=list, blank=True)
    # The last moment any occurrence can end (None: the rule never ends). Lets a query skip
    # windows that are over without expanding them.
    last_ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

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

    def covers(self, moment: datetime) -> bool:
        """Whether an occurrence of this window is under way at `moment`. A rule stored before
        its kind was refused (see scheduling.recurrence.parse_rule) covers nothing."""
        from scheduling.recurrence import RecurrenceError

        try:
            return bool(self.occurrences(moment, moment + timedelta(microseconds=1)))
        except RecurrenceError:
            logger.warning("window %s of %s: its rule cannot be expanded", self.pk, type(self))
            return False


class AvailabilityWindow(RecurringWindow):
    """A window in which a technologist can work remotely (see RecurringWindow).

    Published by the technologist, or by a manager of a hospital they belong to: that is lending
    staff, and `lending_hospital` records which hospital gives the hours."""

    technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_windows"
    )
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


class OnCallWindow(RecurringWindow):
    """When a senior technologist answers requests for help from cockpits, for some exam
    families (none listed: every family they are competent in). Published by the technologist,
    or lent by a manager of their hospital: `lending_hospital` is the hospital the reciprocity
    ledger credits for the assist time. A person whose on-call switch is off
    (TechnologistProfile.on_call_paused) is not asked, whatever their windows say."""

    technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="on_call_windows"
    )
    exam_families = models.ManyToManyField(
        "marketplace.ExamFamily", blank=True, related_name="on_call_windows"
    )
    lending_hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.SET_NULL, related_name="lent_on_call"
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
                name="on_call_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        kind = f"every {self.rrule}" if self.rrule else "once"
        return f"{self.technologist} on call from {self.starts_at:%Y-%m-%d %H:%M} UTC ({kind})"


# --- Bookings ---------------------------------------------------------------------------------

# The rest buffer and the weekly cap live in scheduling.workload, with the week they are
# counted in; named here too for the code that has always read them from the models.
REST_BUFFER = workload.REST_BUFFER
WEEKLY_CAP_HOURS = workload.WEEKLY_CAP_HOURS


class BookingStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("booking status", "Pending")
    CONFIRMED = "confirmed", pgettext_lazy("booking status", "Confirmed")
    IN_PROGRESS = "in_progress", pgettext_lazy("booking status", "In progress")
    COMPLETED = "completed", pgettext_lazy("booking status", "Completed")
    DECLINED = "declined", pgettext_lazy("booking status", "Declined")
    CANCELLED = "cancelled", pgettext_lazy("booking status", "Cancelled")
    NO_SHOW = "no_show", pgettext_lazy("booking status", "No-show")
    EXPIRED = "expired", pgettext_lazy("booking status", "Expired")


# A posting holds at most one of these; they are the hours a technologist has committed to.
CONFIRMED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS, BookingStatus.COMPLETED)
# Confirmed bookings of one technologist in these may not overlap (rest buffer included).
OCCUPYING_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS)
# A technologist has at most one of these per posting.
LIVE_STATUSES = (BookingStatus.PENDING, *CONFIRMED_STATUSES)


class Initiator(models.TextChoices):
    HOSPITAL = "hospital", _("Invited by the hospital")
    TECHNOLOGIST = "technologist", _("Applied by the technologist")


class Side(models.TextChoices):
    """One side of a booking, as a no-show names it (same values as `Initiator`)."""

    HOSPITAL = "hospital", _("The hospital")
    TECHNOLOGIST = "technologist", _("The technologist")


class Booking(models.Model):
    """A technologist on a posting: pending (invited or applied) until the other side accepts.

    `starts_at`/`ends_at` are copied from the posting so that the database's own constraints can
    see them: one confirmed booking per posting (a partial unique index), and, on PostgreSQL, no
    technologist in two overlapping confirmed bookings with the rest buffer (an exclusion
    constraint, migration 0003). Moves go through `scheduling.services`, one per transition."""

    posting = models.ForeignKey(SessionPosting, on_delete=models.PROTECT, related_name="bookings")
    technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings"
    )
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.PENDING
    )
    initiated_by = models.CharField(max_length=16, choices=Initiator.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    hours = models.DecimalField(max_digits=5, decimal_places=2)
    # The hospital that lends the technologist (from the availability window the booking falls
    # in); None when they offered their own time. The reciprocity ledger credits it.
    lending_hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.SET_NULL, related_name="lent_bookings"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Which side cancelled (hospital or technologist): the record of facts counts late
    # cancellations per side, and only a hospital's late cancellation is owed in the ledger.
    cancelled_side = models.CharField(max_length=16, choices=Initiator.choices, blank=True)
    cancel_reason = models.TextField(blank=True, max_length=1000)
    cancelled_hours_before = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    late = models.BooleanField(default=False, help_text=_("Cancelled under 24 h before the start."))
    # Which side did not come to a no-show: the technologist (the hospital records it), or the
    # hospital (the technologist records that the site was not there to scan).
    no_show_side = models.CharField(max_length=16, choices=Side.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Every transition saves it (services list it in update_fields): calendar feeds take their
    # DTSTAMP and SEQUENCE from it.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["technologist", "status", "starts_at"]),
            models.Index(fields=["status", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="booking_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["posting"],
                condition=models.Q(status__in=CONFIRMED_STATUSES),
                name="booking_one_confirmed_per_posting",
            ),
            models.UniqueConstraint(
                fields=["posting", "technologist"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="booking_one_live_per_technologist",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.technologist} on posting {self.posting_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in LIVE_STATUSES


# --- Reciprocity ledger -----------------------------------------------------------------------


class LedgerKind(models.TextChoices):
    COMPLETED = "completed", _("Hours worked")
    LATE_CANCELLATION = "late_cancellation", _("Late cancellation by the hospital")
    HOSPITAL_NO_SHOW = "hospital_no_show", _("No-show by the hospital")
    ASSIST = "assist", _("Senior assistance")


class LedgerEntry(models.Model):
    """Hours one side gave another. A completed booking credits the lending hospital (or the
    independent technologist) and debits the receiving hospital with the hours worked, from the
    cockpit's record of start and end; a hospital's late cancellation or no-show debits it the
    booked hours.
    A senior who answered a request for help in the booking's cockpit credits their hospital
    with the assist time (`assist`). One entry per booking and kind (per assist request for
    assistance), so recording twice changes nothing. Written by `scheduling.services.ledger`,
    never edited."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=24, choices=LedgerKind.choices)
    creditor_hospital = models.ForeignKey(
        Hospital,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_credits",
    )
    creditor_technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_credits",
        help_text=_("An independent technologist, when no hospital lent them."),
    )
    debtor_hospital = models.ForeignKey(
        Hospital, on_delete=models.PROTECT, related_name="ledger_debits"
    )
    hours = models.DecimalField(max_digits=6, decimal_places=2)
    occurred_at = models.DateTimeField(
        help_text=_("When the work ended or the booking was cancelled.")
    )
    assist = models.ForeignKey(
        "cockpit.AssistRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        help_text=_("The request for help a senior answered (kind 'assist' only)."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["debtor_hospital", "occurred_at"]),
            models.Index(fields=["creditor_hospital", "occurred_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "kind"],
                condition=~models.Q(kind="assist"),
                name="ledger_one_entry_per_kind",
            ),
            models.UniqueConstraint(
                fields=["assist"],
                condition=models.Q(assist__isnull=False),
                name="ledger_one_entry_per_assist",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="assist", assist__isnull=False)
                | (~models.Q(kind="assist") & models.Q(assist__isnull=True)),
                name="ledger_assist_entries_name_their_request",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(creditor_hospital__isnull=False, creditor_technologist__isnull=True)
                    | models.Q(creditor_hospital__isnull=True, creditor_technologist__isnull=False)
                ),
                name="ledger_one_creditor",
            ),
            models.CheckConstraint(condition=models.Q(hours__gte=0), name="ledger_hours_positive"),
        ]

    def __str__(self) -> str:
        creditor = self.creditor_hospital_id or f"technologist {self.creditor_technologist_id}"
        return f"{self.hours} h {self.kind}: {creditor} <- {self.debtor_hospital_id}"


# --- Calendar feeds ---------------------------------------------------------------------------


class CalendarFeedKind(models.TextChoices):
    PERSON = "person", _("A person's bookings")
    HOSPITAL = "hospital", _("A hospital's sessions")


class CalendarFeed(models.Model):
    """A private iCalendar address: a person's bookings or a hospital's sessions. The token in
    the address is the only key (calendar apps cannot sign in); rotating it replaces the token,
    and the old address answers 404 from then on. Kept readable so that the owner can copy the
    address again onto another device."""

    kind = models.CharField(max_length=16, choices=CalendarFeedKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
    )
    hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="person", user__isnull=False, hospital__isnull=True)
                    | models.Q(kind="hospital", user__isnull=True, hospital__isnull=False)
                ),
                name="calendar_feed_one_owner",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(kind="person"), name="calendar_feed_per_user"
            ),
            models.UniqueConstraint(
                fields=["hospital"],
                condition=models.Q(kind="hospital"),
                name="calendar_feed_per_hospital",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user_id if self.kind == "person" else self.hospital_id
        return f"{self.kind} feed of {owner}"


# --- Plans: the market-wide optimiser's proposals (scheduling.services.plans) --------------------


class PlanStatus(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("plan status", "Queued")
    RUNNING = "running", pgettext_lazy("plan status", "Running")
    DONE = "done", pgettext_lazy("plan status", "Done")
    CANCELLED = "cancelled", pgettext_lazy("plan status", "Cancelled")
    FAILED = "failed", pgettext_lazy("plan status", "Failed")
    # Claimed by a send under way: its rows get their outcomes one by one.
    SENDING = "sending", pgettext_lazy("plan status", "Sending")
    SENT = "sent", pgettext_lazy("plan status", "Sent")


# A scope (one hospital, or the network) has at most one plan in these at a time.
ACTIVE_PLAN_STATUSES = (PlanStatus.QUEUED, PlanStatus.RUNNING)


class Plan(models.Model):
    """One run of the optimiser over a scope's open postings: queued, running (with the solver's
    progress), then done with one row per posting, or cancelled (the best found so far), or
    failed (with why). Sending its ticked rows invites each proposed technologist. No patient
    data: a plan describes work (postings) and people (technologists), never an exam's subject."""

    # None: the whole network (platform admins, and the nightly job).
    hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.CASCADE, related_name="plans"
    )
    # "hospital:<id>" or "network": one active plan per scope, held by a unique index.
    scope_key = models.CharField(max_length=32)
    # None: the nightly job.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    horizon_start = models.DateTimeField()
    horizon_end = models.DateTimeField()
    time_limit_s = models.FloatField()
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.QUEUED)
    # The solver's progress while running: building, solving, explaining, done.
    phase = models.CharField(max_length=16, blank=True)
    objective = models.BigIntegerField(null=True, blank=True)
    bound = models.BigIntegerField(null=True, blank=True)
    seconds_left = models.FloatField(null=True, blank=True)
    solutions = models.PositiveIntegerField(default=0)
    # The solver's own word once over: optimal, feasible, cancelled, infeasible.
    solver_status = models.CharField(max_length=16, blank=True)
    solve_seconds = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True, max_length=2000)
    cancel_requested = models.BooleanField(default=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="plan_status_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["scope_key"],
                condition=models.Q(status__in=ACTIVE_PLAN_STATUSES),
                name="plan_one_active_per_scope",
            ),
            models.CheckConstraint(
                condition=models.Q(horizon_end__gt=models.F("horizon_start")),
                name="plan_horizon_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        scope = self.hospital.name if self.hospital_id and self.hospital else "the network"
        return f"Plan {self.pk} for {scope} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_PLAN_STATUSES


class RowOutcome(models.TextChoices):
    SENT = "sent", pgettext_lazy("plan row outcome", "Invitation sent")
    STALE = "stale", pgettext_lazy("plan row outcome", "No longer holds")


class PlanRow(models.Model):
    """One posting of a plan: the technologist proposed for it, with the reasons and the
    runner-up; or nobody, with why. After sending, what became of it."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="rows")
    posting = models.ForeignKey(SessionPosting, on_delete=models.CASCADE, related_name="+")
    # Copied from the posting when proposed: the table and the week view read them.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    urgency = models.CharField(max_length=16)
    label = models.CharField(max_length=300)
    technologist = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{"term", "text", "points"}] as the ranking's Reason.
    reasons = models.JSONField(default=list, blank=True)
    # {"id", "name", "why"} or None.
    runner_up = models.JSONField(null=True, blank=True)
    unfilled_why = models.TextField(blank=True)
    blockers = models.JSONField(default=list, blank=True)
    ticked = models.BooleanField(default=True)
    outcome = models.CharField(max_length=16, choices=RowOutcome.choices, blank=True)
    outcome_message = models.TextField(blank=True)
    booking = models.ForeignKey(
        "Booking", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["starts_at", "posting_id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "posting"], name="plan_row_one_per_posting"),
        ]

    def __str__(self) -> str:
        return f"Plan {self.plan_id}: posting {self.posting_id} → {self.technologist_id}"

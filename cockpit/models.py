"""The cockpit: the room in which a booked exam is done, one per booking.

The relay (`cockpit.consumers`) carries the scanner's console state to the people in the room and
their commands back. What must survive a server restart or be shared by several Daphne processes
lives here (consent, who holds control, when the exam started and ended); the stream of numbered
events lives in the relay's store (`cockpit.store`)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scheduling.models import Booking


class Role(models.TextChoices):
    """Who a participant is in a cockpit session."""

    SCANNER = "scanner", _("Scanner")
    OPERATOR = "operator", _("Operator")
    LOCAL = "local", _("Local staff")
    ASSISTANT = "assistant", _("Assistant")
    OBSERVER = "observer", _("Observer")


# Who may hold control of the console (the scanner and observers never do).
CONTROL_ROLES = (Role.OPERATOR, Role.LOCAL, Role.ASSISTANT)


class CockpitStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the first sequence")
    LIVE = "live", _("Exam in progress")
    ENDED = "ended", _("Ended")


class CockpitSession(models.Model):
    """One booking's cockpit. Open from 15 minutes before the booking starts until it is
    completed. `started_at` / `ended_at` are the cockpit's own record of the exam (the first
    sequence started, the operator closed the finished protocol): the hours the ledger credits."""

    booking = models.OneToOneField(Booking, on_delete=models.PROTECT, related_name="cockpit")
    protocol = models.CharField(
        max_length=32, help_text="The simulator's exam protocol, from the posting's exam families."
    )
    status = models.CharField(
        max_length=16, choices=CockpitStatus.choices, default=CockpitStatus.WAITING
    )
    # Consent: local staff approve the remote operator's join on the day, or approve it ahead
    # (pre-approval on the booking page). Until then the operator watches but cannot control.
    join_approved_at = models.DateTimeField(null=True, blank=True)
    join_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The control token: exactly one controller at a time, or nobody.
    controller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="controlled_cockpits",
    )
    controller_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    # Local staff took the scanner back (a STOP does this too): the operator's take-over is
    # refused until local staff hand control back.
    local_override = models.BooleanField(default=False)
    # Someone asked for control and waits for the holder (or local staff) to grant it.
    control_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    control_requested_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="The last local STOP.")
    # The booked technologist's first connection as operator (waiting in the lobby counts): the
    # evidence that they came, which decides either side's no-show (`scheduling.no_shows`).
    operator_joined_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Seniors who answered a request for help (issue 7 joins them here); they connect as
    # assistants.
    assistants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="assisted_cockpits"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["booking__starts_at", "pk"]
        indexes = [models.Index(fields=["controller", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(controller__isnull=True, controller_role="")
                    | models.Q(controller__isnull=False, controller_role__in=CONTROL_ROLES)
                ),
                name="cockpit_controller_has_role",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(started_at__isnull=False, ended_at__gte=models.F("started_at")),
                name="cockpit_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Cockpit of booking {self.booking_id} ({self.status})"

    @property
    def join_approved(self) -> bool:
        return self.join_approved_at is not None


# --- Before the first sequence ----------------------------------------------------------------


class PrescanCheck(models.Model):
    """The pre-scan checklist, confirmed once by local staff before the first sequence may
    start: who is beside the patient (a registered technologist of the scanning hospital's local
    staff), that the patient was told the exam is run remotely, and the link check at that
    moment (the figures of the remote participants, as the relay measured them)."""

    cockpit = models.OneToOneField(
        CockpitSession, on_delete=models.CASCADE, related_name="prescan_check"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(default=timezone.now)
    beside_patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The registered technologist beside the patient.",
    )
    patient_informed = models.BooleanField(
        help_text="The patient was told the exam is run remotely."
    )
    link_level = models.CharField(
        max_length=8,
        help_text="The worst level of the remote links at confirmation: ok or warn (off: the "
        "relay's link check is turned off).",
    )
    link_figures = models.JSONField(
        default=list, help_text="Each remote participant's link at confirmation."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient_informed=True), name="prescan_patient_informed"
            ),
            models.CheckConstraint(
                condition=models.Q(link_level__in=["ok", "warn", "off"]), name="prescan_link_passed"
            ),
        ]

    def __str__(self) -> str:
        return f"Pre-scan checklist of cockpit {self.cockpit_id}"


# --- Asking a senior for help -----------------------------------------------------------------


class AssistStatus(models.TextChoices):
    OPEN = "open", _("Waiting for a senior")
    ACCEPTED = "accepted", _("A senior is assisting")
    RESOLVED = "resolved", _("Resolved")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Closed unanswered")


class AssistStage(models.IntegerChoices):
    """How far an unanswered request has escalated."""

    SENIORS = 1, _("On-call seniors asked")
    WIDENED = 2, _("Widened to experienced technologists")
    MANAGERS = 3, _("Managers alerted")


# Who may ask for help in a cockpit.
ASSIST_REQUESTER_ROLES = (Role.OPERATOR, Role.LOCAL)


class AssistRequest(models.Model):
    """A request for help raised in a cockpit by the operator or local staff: an exam family and
    a short note about the difficulty (about the work, never the patient). On-call seniors who
    qualify are told at once; the first to accept joins the cockpit as assistant. Unanswered, it
    escalates (`cockpit.tasks.assist_escalate_due`); the requester cancels it once solved, and
    the assist time (accepted to ended) is credited to the senior's hospital."""

    cockpit = models.ForeignKey(
        CockpitSession, on_delete=models.PROTECT, related_name="assist_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assist_requests"
    )
    requester_role = models.CharField(max_length=16, choices=Role.choices)
    exam_family = models.ForeignKey(
        "marketplace.ExamFamily", on_delete=models.PROTECT, related_name="assist_requests"
    )
    vendor = models.CharField(max_length=32, help_text="The scanner's vendor, at the time.")
    note = models.CharField(
        max_length=500, blank=True, help_text="The difficulty; never patient data."
    )
    status = models.CharField(
        max_length=16, choices=AssistStatus.choices, default=AssistStatus.OPEN
    )
    stage = models.PositiveSmallIntegerField(
        choices=AssistStage.choices, default=AssistStage.SENIORS
    )
    stage_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the current stage began."
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assists_given",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    # The hospital that gives the senior's time (their on-call window's lender, else the hospital
    # they work for); None for an independent senior. The ledger credits it.
    senior_hospital = models.ForeignKey(
        "marketplace.Hospital",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assists_given",
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "stage_changed_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["cockpit"],
                condition=models.Q(status__in=["open", "accepted"]),
                name="assist_one_request_under_way_per_cockpit",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_by__isnull=True, accepted_at__isnull=True)
                | models.Q(accepted_by__isnull=False, accepted_at__isnull=False),
                name="assist_accepted_by_someone_at_a_time",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["accepted", "resolved"])
                | models.Q(accepted_by__isnull=False),
                name="assist_accepted_has_senior",
            ),
        ]

    def __str__(self) -> str:
        return f"Assist request {self.pk} in cockpit {self.cockpit_id} ({self.status})"


class AssistNotice(models.Model):
    """Who was asked to answer a request, at which stage: nobody is told twice, only those told
    may accept (seniors and widened technologists), and each is told when it is taken."""

    request = models.ForeignKey(AssistRequest, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assist_notices"
    )
    stage = models.PositiveSmallIntegerField(choices=AssistStage.choices)
    may_accept = models.BooleanField(
        default=True, help_text="Technologists asked to join; managers are only alerted."
    )
    notified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["notified_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "user"], name="assist_notice_once"),
        ]

    def __str__(self) -> str:
        return f"Request {self.request_id} told to {self.user_id} (stage {self.stage})"


# --- The exam's outcome -----------------------------------------------------------------------


class ExamOutcome(models.TextChoices):
    """How the exam ended (`cockpit.outcome.exam_outcome`): a partial or aborted exam is never
    shown as plainly completed."""

    COMPLETED = "completed", _("Completed")
    PARTIAL = "partial", _("Partial")
    ABORTED = "aborted", _("Aborted")


class ExamEnding(models.TextChoices):
    """How the cockpit came to end."""

    CLOSED = "closed", _("Closed once the protocol was finished")
    EARLY = "early", _("Ended early")
    BOOKING = "booking", _("Ended from the booking")


class ExamRecord(models.Model):
    """The closing summary of one cockpit's exam, written once when it ends: every sequence as
    done, aborted or skipped (from the scanner's console state the relay kept), the outcome, who
    ended it and how."""

    cockpit = models.OneToOneField(
        CockpitSession, on_delete=models.PROTECT, related_name="exam_record"
    )
    outcome = models.CharField(max_length=16, choices=ExamOutcome.choices)
    # [{"name": str, "outcome": "done" | "aborted" | "skipped", "progress": 0.0..1.0}]
    sequences = models.JSONField(default=list, blank=True)
    sequences_done = models.PositiveSmallIntegerField(default=0)
    sequences_total = models.PositiveSmallIntegerField(default=0)
    ending = models.CharField(max_length=16, choices=ExamEnding.choices)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    ended_at = models.DateTimeField()

    class Meta:
        ordering = ["-ended_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sequences_done__lte=models.F("sequences_total")),
                name="exam_record_done_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"Exam of cockpit {self.cockpit_id}: {self.outcome}"

    @property
    def label(self) -> str:
        from cockpit.outcome import outcome_label

        return outcome_label(self.outcome, self.sequences_done, self.sequences_total)


# The longest reason given for a STOP.
STOP_REASON_MAX = 500


class CockpitStop(models.Model):
    """One STOP: who pressed it, in which role, when; and why, which local staff (or whoever
    pressed it) may say after the fact."""

    cockpit = models.ForeignKey(CockpitSession, on_delete=models.PROTECT, related_name="stops")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=STOP_REASON_MAX, blank=True)
    reason_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["cockpit", "at"])]

    def __str__(self) -> str:
        return f"STOP in cockpit {self.cockpit_id} at {self.at:%Y-%m-%d %H:%M} UTC"

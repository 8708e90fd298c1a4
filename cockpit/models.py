"""The cockpit: the room in which a booked exam is done, one per booking.

The relay (`cockpit.consumers`) carries the scanner's console state to the people in the room and
their commands back. What must survive a server restart or be shared by several Daphne processes
lives here (consent, who holds control, when the exam started and ended); the stream of numbered
events lives in the relay's store (`cockpit.store`)."""

from django.conf import settings
from django.db import models

from scheduling.models import Booking


class Role(models.TextChoices):
    """Who a participant is in a cockpit session."""

    SCANNER = "scanner", "Scanner"
    OPERATOR = "operator", "Operator"
    LOCAL = "local", "Local staff"
    ASSISTANT = "assistant", "Assistant"
    OBSERVER = "observer", "Observer"


# Who may hold control of the console (the scanner and observers never do).
CONTROL_ROLES = (Role.OPERATOR, Role.LOCAL, Role.ASSISTANT)


class CockpitStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for the first sequence"
    LIVE = "live", "Exam in progress"
    ENDED = "ended", "Ended"


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

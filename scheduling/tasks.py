"""Periodic jobs of scheduling (CELERY_BEAT_SCHEDULE). Each queries by status and deadline and is
safe to run twice: the notices they send carry dedupe keys, so a doubled run tells nobody twice.
`now` is for tests; beat passes nothing."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from core.models import Notification
from core.notify import notification_send
from marketplace.models import Membership, Role, TechnologistProfile
from scheduling import services
from scheduling.models import Booking, BookingStatus
from scheduling.wording import session_when

# A confirmed booking is reminded once when its start is this close (the "24h" reminder), and
# once more when it is an hour away; a booking confirmed within the hour gets only the second.
DAY_AHEAD = timedelta(hours=24)
HOUR_AHEAD = timedelta(hours=1)


@shared_task
def booking_reminders(now: datetime | None = None) -> int:
    """Every few minutes: remind the technologist and the posting hospital's managers of each
    confirmed booking that starts within 24 hours (and again within the hour), once each.
    Bookings already started, cancelled or over are not confirmed, or not ahead, and so not
    reminded. Returns how many notices were made."""
    now = now or timezone.now()
    due = list(
        Booking.objects.filter(
            status=BookingStatus.CONFIRMED, starts_at__gt=now, starts_at__lte=now + DAY_AHEAD
        )
        .order_by("starts_at", "pk")
        .values_list("pk", "technologist_id", "starts_at")
    )
    windows = {pk: "1h" if starts_at - now <= HOUR_AHEAD else "24h" for pk, _, starts_at in due}
    # The technologist's reminder stands for the booking's: skip those already told.
    told = set(
        Notification.objects.filter(
            dedupe_key__in=[
                f"booking:{pk}:reminder:{windows[pk]}:{technologist_id}"
                for pk, technologist_id, _ in due
            ]
        ).values_list("dedupe_key", flat=True)
    )
    made = 0
    for pk, technologist_id, _ in due:
        window = windows[pk]
        if f"booking:{pk}:reminder:{window}:{technologist_id}" in told:
            continue
        with transaction.atomic():
            booking = (
                Booking.objects.select_for_update(of=("self",))
                .select_related("technologist", "posting__hospital", "posting__site")
                .select_related("posting__scanner")
                .filter(pk=pk, status=BookingStatus.CONFIRMED, starts_at__gt=now)
                .first()
            )
            if booking is None:
                continue  # cancelled or started since the query
            made += _remind(booking, window=window)
    return made


def _remind(booking: Booking, *, window: str) -> int:
    posting = booking.posting
    profile = TechnologistProfile.objects.filter(user_id=booking.technologist_id).first()
    own_zone = profile.home_time_zone if profile is not None else posting.site.time_zone
    if window == "24h":
        to_technologist = gettext_lazy("Reminder: your session at {hospital}, {site}, {when}.")
        to_managers = gettext_lazy("Reminder: {name} works on {scanner} at {site} {when}.")
    else:
        to_technologist = gettext_lazy("Starting soon: your session at {hospital}, {site}, {when}.")
        to_managers = gettext_lazy("Starting soon: {name} works on {scanner} at {site} {when}.")

    def send(user_ids: Iterable[int], message: Promise) -> int:
        return len(
            notification_send(
                user_ids=user_ids,
                kind=f"booking.reminder_{window}",
                message=message,
                url=reverse("booking_detail", args=[booking.pk]),
                data={"booking": booking.pk},
                dedupe_key_prefix=f"booking:{booking.pk}:reminder:{window}",
            )
        )

    managers = Membership.objects.filter(hospital_id=posting.hospital_id, role=Role.MANAGER)
    return send(
        [booking.technologist_id],
        format_lazy(
            to_technologist,
            hospital=posting.hospital.name,
            site=posting.site.name,
            when=session_when(booking.starts_at, booking.ends_at, own_zone),
        ),
    ) + send(
        managers.values_list("user_id", flat=True),
        format_lazy(
            to_managers,
            name=booking.technologist.display_name,
            scanner=posting.scanner.name,
            site=posting.site.name,
            when=session_when(booking.starts_at, booking.ends_at, posting.site.time_zone),
        ),
    )


@shared_task
def booking_expire_due(now: datetime | None = None) -> int:
    """Every few minutes: pending bookings (invitations and applications nobody answered) whose
    start has passed are expired, and both sides told. Returns how many; a second run finds
    none."""
    return services.booking_expire_due(now=now or timezone.now())


# --- The optimiser's plans (scheduling.services.plans) -----------------------------------------


@shared_task
def plan_solve(plan_id: int) -> None:
    """Solve one queued plan (a second run finds it no longer queued and does nothing)."""
    from scheduling.services.plans import plan_run

    plan_run(plan_id=plan_id)


@shared_task
def plan_network_nightly(now: datetime | None = None) -> int:
    """Every night: a plan for the whole network, for platform admins to review in the
    morning. A proposal only: nothing is sent. Plans lost with their worker are failed first.
    Returns the plan's id (the one already running, if any)."""
    from scheduling.services.plans import plan_create_nightly

    plan, _ = plan_create_nightly(now=now or timezone.now())
    return plan.pk


@shared_task
def plan_fail_stale(now: datetime | None = None) -> int:
    """Every few minutes: plans still queued or running well past their time limit were lost
    with their worker (a restart, a killed process): failed with a message, never left running.
    Returns how many."""
    from scheduling.services.plans import plans_fail_stale

    return plans_fail_stale(now=now or timezone.now())

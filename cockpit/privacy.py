"""What the cockpit holds about a person, for their download and their erasure (registered with
`accounts.privacy` in `CockpitConfig.ready`). Chat lines are not in the database (the relay's
store keeps a running session's last lines and lets them go): the download says so."""

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from cockpit.models import AssistNotice, AssistRequest, AssistStatus, CockpitSession, CockpitStatus
from scheduling.models import OCCUPYING_STATUSES

COCKPIT_FIELDS = (
    "id",
    "booking_id",
    "booking__posting__hospital__name",
    "status",
    "operator_joined_at",
    "started_at",
    "ended_at",
)


def cockpits_as_operator(user: User) -> Any:
    return (
        CockpitSession.objects.filter(booking__technologist=user)
        .order_by("created_at", "pk")
        .values(*COCKPIT_FIELDS)
    )


def cockpits_as_assistant(user: User) -> Any:
    return (
        CockpitSession.objects.filter(assistants=user)
        .order_by("created_at", "pk")
        .values(*COCKPIT_FIELDS)
    )


ASSIST_FIELDS = (
    "id",
    "cockpit_id",
    "requester_role",
    "exam_family__name",
    "vendor",
    "note",
    "status",
    "created_at",
    "accepted_at",
    "ended_at",
)


def assist_requests_made(user: User) -> Any:
    return (
        AssistRequest.objects.filter(requested_by=user)
        .order_by("created_at", "pk")
        .values(*ASSIST_FIELDS)
    )


def assist_requests_answered(user: User) -> Any:
    return (
        AssistRequest.objects.filter(accepted_by=user)
        .order_by("created_at", "pk")
        .values(*ASSIST_FIELDS)
    )


def refusals(user: User) -> list[str]:
    live = CockpitSession.objects.filter(
        Q(booking__technologist=user) | Q(assistants=user) | Q(controller=user),
        ~Q(status=CockpitStatus.ENDED),
        booking__status__in=OCCUPYING_STATUSES,
    ).exists()
    helping = AssistRequest.objects.filter(
        Q(requested_by=user) | Q(accepted_by=user),
        status__in=[AssistStatus.OPEN, AssistStatus.ACCEPTED],
    ).exists()
    if live or helping:
        return [_("You are in a cockpit that has not ended: finish or leave it first.")]
    return []


def erase(user: User) -> None:
    AssistNotice.objects.filter(user=user).delete()


def register() -> None:
    from accounts.privacy import (
        register_erasure_refusal,
        register_personal_data_eraser,
        register_personal_data_section,
    )

    register_personal_data_section("cockpits_as_operator", cockpits_as_operator)
    register_personal_data_section("cockpits_as_assistant", cockpits_as_assistant)
    register_personal_data_section("assist_requests_made", assist_requests_made)
    register_personal_data_section("assist_requests_answered", assist_requests_answered)
    register_erasure_refusal(refusals)
    register_personal_data_eraser("cockpit", erase)

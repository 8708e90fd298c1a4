"""Periodic jobs of the cockpit. Each queries by status and deadline, so a missed or doubled run
does no harm."""

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from cockpit.models import AssistRequest, AssistStage, AssistStatus
from cockpit.selectors import assist_escalate_after
from cockpit.services import assist_close_stale, assist_escalate


@shared_task
def assist_escalate_due(now: datetime | str | None = None) -> int:
    """Escalate every open request for help whose stage has lasted its time: seniors on call,
    then experienced technologists, then the managers of the operator's hospital. `now` is for
    tests; beat passes nothing. Requests whose cockpit closed meanwhile are closed first. How many
    requests moved."""
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    now = now or timezone.now()
    assist_close_stale(now=now)
    due = AssistRequest.objects.filter(
        status=AssistStatus.OPEN,
        stage__lt=AssistStage.MANAGERS,
        stage_changed_at__lte=now - assist_escalate_after(),
    ).values_list("pk", flat=True)
    return sum(
        1 for assist_id in list(due) if assist_escalate(assist_id=assist_id, now=now) is not None
    )

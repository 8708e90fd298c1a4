"""Periodic jobs of the cockpit. Each queries by status and deadline, so a missed or doubled run
does no harm."""

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from cockpit.models import AssistRequest, AssistStage, AssistStatus
from cockpit.selectors import assist_escalate_after
from cockpit.services import assist_ask_newcomers, assist_close_stale, assist_escalate

logger = logging.getLogger(__name__)


@shared_task
def assist_escalate_due(now: datetime | str | None = None) -> int:
    """Escalate every open request for help whose stage has lasted its time: seniors on call,
    then experienced technologists, then the managers of the operator's hospital. `now` is for
    tests; beat passes nothing. Requests whose cockpit closed meanwhile are closed first; a
    widened request still unanswered also asks whoever qualifies since. How many requests moved
    to a next stage."""
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    now = now or timezone.now()
    try:
        assist_close_stale(now=now)
    except Exception:  # the escalations below still run
        logger.exception("closing stale requests for help failed")
    due = AssistRequest.objects.filter(
        status=AssistStatus.OPEN,
        stage__lt=AssistStage.MANAGERS,
        stage_changed_at__lte=now - assist_escalate_after(),
    ).values_list("pk", flat=True)
    moved = 0
    for assist_id in list(due):
        try:
            moved += assist_escalate(assist_id=assist_id, now=now) is not None
        except Exception:  # one request's failure does not hold up the others
            logger.exception("escalating request for help %s failed", assist_id)
    widened = AssistRequest.objects.filter(
        status=AssistStatus.OPEN, stage__gte=AssistStage.WIDENED
    ).values_list("pk", flat=True)
    for assist_id in list(widened):
        try:
            assist_ask_newcomers(assist_id=assist_id, now=now)
        except Exception:
            logger.exception("asking newcomers for request for help %s failed", assist_id)
    return moved

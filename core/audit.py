"""Writing the audit trail. Call inside the service's transaction so that the change and its
record commit or roll back together."""

from typing import TYPE_CHECKING, Any

from django.db import models

from core.models import AuditEvent

if TYPE_CHECKING:
    from accounts.models import User
    from marketplace.models import Hospital


def audit_record(
    *,
    actor: "User | None",
    action: str,
    target: models.Model,
    hospital: "Hospital | None" = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.email if actor is not None else "",
        hospital=hospital,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )

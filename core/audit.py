"""Writing the audit trail. Call inside the service's transaction so that the change and its
record commit or roll back together.

Core sits below accounts and the marketplace: it knows the actor as Django's auth user (the
AUTH_USER_MODEL, `accounts.User`) and the hospital the change belongs to as a model whose id it
keeps (`marketplace.Hospital`)."""

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import connection, models

from core.models import AuditEvent


def audit_record(
    *,
    actor: AbstractUser | None,
    action: str,
    target: models.Model,
    hospital: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor_id=actor.pk if actor is not None else None,
        actor_label=actor.email if actor is not None else "",
        hospital_id=hospital.pk if hospital is not None else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )


# TEMPORARY (privacy helper, issue 18): a minimal stand-in for the audit helper's
# `audit_actor_pseudonymise`, which replaces it at merge (with the hash chain in mind). Events
# are append-only: the ORM refuses updates, so this relabels with a raw UPDATE, on SQLite only;
# on PostgreSQL the append-only trigger refuses any UPDATE, and the label stays until the audit
# helper's version lands.
def audit_actor_pseudonymise(*, actor_id: int, label: str) -> int:
    """Name an erased person by `label` in every event they did; how many events."""
    if connection.vendor != "sqlite":
        return 0
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET actor_label = %s WHERE actor_id = %s",  # noqa: S608
            [label, actor_id],
        )
        return int(cursor.rowcount)

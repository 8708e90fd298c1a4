"""The audit trail can be added to, never rewritten."""

import pytest
from django.db import DatabaseError, connection, transaction

from core.errors import PermissionDenied
from core.models import AppendOnlyError, AuditEvent
from marketplace import services
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(world: World) -> AuditEvent:
    services.scanner_rotate_token(actor=world.manager, scanner=world.scanner)
    return AuditEvent.objects.get(action="scanner.token_rotated")


def test_a_service_records_who_did_what(world: World, event: AuditEvent) -> None:
    assert event.actor == world.manager
    assert event.actor_label == world.manager.email
    assert event.hospital == world.hospital
    assert (event.target_type, event.target_id) == ("marketplace.scanner", str(world.scanner.pk))
    # The token itself is never written down.
    assert "wsd_" not in str(event.data)


def test_the_orm_refuses_to_change_or_delete(event: AuditEvent) -> None:
    event.action = "something.else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "scanner.token_rotated"


def test_a_refused_change_leaves_no_event(world: World) -> None:
    with pytest.raises(PermissionDenied):
        services.scanner_rotate_token(actor=world.technologist, scanner=world.scanner)
    assert not AuditEvent.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the database-level refusal is PostgreSQL's"
)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE core_auditevent SET action = 'rewritten'",
        "DELETE FROM core_auditevent",
    ],
)
def test_postgresql_itself_refuses_raw_sql(event: AuditEvent, sql: str) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "scanner.token_rotated"

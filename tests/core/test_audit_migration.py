"""The events written before the trail was chained are chained by the migration, in the order
they were written, and new events continue that chain."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.audit import GENESIS, audit_chain_verify, audit_record
from core.models import AuditEvent
from tests.factories import HospitalFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("core", "0003_notification")]


def test_the_migration_chains_the_events_already_written() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("core", "AuditEvent")
    written = [
        old.objects.create(
            action=f"test.before_{n}",
            target_type="marketplace.hospital",
            target_id=str(n),
            data={"n": n, "share": 1.5, "name": "Hôpital"},
        ).pk
        for n in range(5)
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    chained = list(AuditEvent.objects.order_by("seq"))
    assert [event.pk for event in chained] == written
    assert [event.seq for event in chained] == [1, 2, 3, 4, 5]
    assert chained[0].prev_hash == GENESIS
    report = audit_chain_verify()
    assert (report.count, report.broken) == (5, None)

    hospital = HospitalFactory()
    event = audit_record(actor=None, action="test.after", target=hospital, hospital=hospital)
    assert (event.seq, event.prev_hash) == (6, chained[-1].hash)
    assert audit_chain_verify().broken is None

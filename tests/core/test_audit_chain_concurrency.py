"""Writers at the same moment still make one line: each event chains onto the one committed
before it, none onto an event another writer chained onto too.

Real threads, each with its own database connection, released together by a barrier, each
writing several events in transactions of its own that stay open a moment after the event is
written (so that they overlap). On PostgreSQL the advisory lock serialises them; on SQLite the
IMMEDIATE transactions queue on the write lock (a test database in a file, see
wescan/settings/test.py)."""

import threading
import time

import pytest
from django.db import connection, transaction

from core.audit import GENESIS, audit_chain_verify, audit_record
from core.models import AuditEvent
from tests.factories import HospitalFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 6
EVENTS_EACH = 5


def test_concurrent_writers_keep_the_chain_linear() -> None:
    hospital = HospitalFactory()
    people = [UserFactory() for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)
    failed: list[BaseException] = []

    def write(person_index: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(EVENTS_EACH):
                with transaction.atomic():
                    audit_record(
                        actor=people[person_index],
                        action="test.concurrent",
                        target=hospital,
                        hospital=hospital,
                        data={"writer": person_index, "n": n},
                    )
                    time.sleep(0.002)  # still in the transaction: the others must wait
        except BaseException as error:  # reported below, whatever it is
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert failed == []
    chain = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [seq for seq, _, _ in chain] == list(range(1, WRITERS * EVENTS_EACH + 1))
    assert [prev for _, prev, _ in chain] == [GENESIS] + [h for _, _, h in chain[:-1]]
    # Each writer's events appear in the order it wrote them.
    for i in range(WRITERS):
        written = AuditEvent.objects.filter(data__writer=i).order_by("seq")
        assert [e.data["n"] for e in written] == list(range(EVENTS_EACH))
    report = audit_chain_verify()
    assert (report.count, report.broken) == (WRITERS * EVENTS_EACH, None)

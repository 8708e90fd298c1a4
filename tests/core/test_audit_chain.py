"""The audit trail is a hash chain: `audit_verify` says it holds, or names the first event at
which someone changed or removed what was written. Erasing a person relabels their events
without breaking it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.audit import (
    GENESIS,
    audit_actor_pseudonymise,
    audit_chain_verify,
    audit_record,
    hash_of,
)
from core.models import AuditEvent
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 5, 8, 30, 0, 123456, tzinfo=UTC)


@pytest.fixture
def events(world: World, monkeypatch: pytest.MonkeyPatch) -> list[AuditEvent]:
    """Five events a minute apart, by two people in two hospitals, with varied data."""
    written = []
    for n, (actor, hospital, data) in enumerate(
        [
            (world.manager, world.hospital, {"b": 1, "a": [1, 2.5, "é"]}),
            (world.other_manager, world.other_hospital, {}),
            (world.manager, world.hospital, {"big": 1e16, "whole": 2.0, "tiny": 1e-7}),
            (None, world.hospital, {"nested": {"z": None, "y": True}}),
            (world.manager, None, {"text": "Ziekenhuis « Scheldeland »"}),
        ]
    ):
        at = T0 + timedelta(minutes=n)
        monkeypatch.setattr(timezone, "now", lambda at=at: at)
        written.append(
            audit_record(
                actor=actor,
                action=f"test.step_{n}",
                target=world.scanner,
                hospital=hospital,
                data=data,
            )
        )
    return written


def _verify() -> str:
    """What `manage.py audit_verify` says (its error, when it fails)."""
    out = _Out()
    try:
        call_command("audit_verify", stdout=out)
    except CommandError as error:
        return f"FAILED (exit {error.returncode}): {error}"
    return out.text


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def _raw(sql: str, params: list[object]) -> None:
    """Tamper as someone with the database would: on PostgreSQL past the append-only trigger
    (replica mode, for this test's transaction only; the test role is a superuser)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_events_are_chained_one_after_the_other(events: list[AuditEvent]) -> None:
    stored = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == GENESIS
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert len({e.hash for e in stored}) == 5


def test_an_intact_chain_verifies_whatever_the_data(events: list[AuditEvent]) -> None:
    # Read back from the database (floats, unicode, nulls as it returns them), the hashes hold.
    assert _verify() == f"5 events, chain intact. Last hash: {events[-1].hash}\n"


def test_an_empty_trail_verifies() -> None:
    assert _verify().startswith("0 events, chain intact.")


def test_changing_one_row_names_it(events: list[AuditEvent]) -> None:
    target = events[2]
    _raw("UPDATE core_auditevent SET action = %s WHERE id = %s", ["test.innocent", target.pk])

    said = _verify()

    assert said.startswith(
        f"FAILED (exit 1): Chain broken at event {target.pk} "
        "(#3, 2026-10-05T08:32:00.123456+00:00, "
        "test.innocent): its content is wrong."
    )
    assert "(2 event(s) before it hold.)" in said
    report = audit_chain_verify()
    assert report.broken is not None
    assert report.broken.event_id == target.pk


def test_changing_the_data_or_the_time_is_seen_too(events: list[AuditEvent]) -> None:
    _raw("UPDATE core_auditevent SET created_at = %s WHERE id = %s", [T0, events[4].pk])
    report = audit_chain_verify()
    assert report.broken is not None
    assert (report.broken.event_id, report.broken.problem) == (events[4].pk, "content")


def test_a_change_hashed_again_breaks_the_next_link(events: list[AuditEvent]) -> None:
    # Whoever rewrites an event and its hash still leaves the next event pointing at the old one.
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.action = "test.innocent"
    _raw(
        "UPDATE core_auditevent SET action = %s, hash = %s WHERE id = %s",
        [forged.action, hash_of(forged), forged.pk],
    )
    report = audit_chain_verify()
    assert report.broken is not None
    assert (report.broken.event_id, report.broken.problem) == (events[2].pk, "link")
    assert "the event before it was changed" in report.broken.detail


def test_deleting_a_row_in_the_middle_is_seen(events: list[AuditEvent]) -> None:
    _raw("DELETE FROM core_auditevent WHERE id = %s", [events[2].pk])

    said = _verify()

    assert said.startswith(
        f"FAILED (exit 1): Chain broken at event {events[3].pk} "
        "(#4, 2026-10-05T08:33:00.123456+00:00, "
        "test.step_3): its link to the previous event is wrong. 1 event(s) missing before it"
    )


def test_deleting_the_first_row_is_seen(events: list[AuditEvent]) -> None:
    _raw("DELETE FROM core_auditevent WHERE id = %s", [events[0].pk])
    report = audit_chain_verify(chunk_size=2)
    assert report.broken is not None
    assert (report.broken.event_id, report.broken.problem) == (events[1].pk, "link")


def test_pseudonymising_an_actor_keeps_the_chain(world: World, events: list[AuditEvent]) -> None:
    relabelled = audit_actor_pseudonymise(actor_id=world.manager.pk, label="erased-person-7f3a")

    assert relabelled == 3
    labels = set(AuditEvent.objects.filter(actor_id=world.manager.pk).values_list("actor_label"))
    assert labels == {("erased-person-7f3a",)}
    assert AuditEvent.objects.get(pk=events[1].pk).actor_label == world.other_manager.email
    assert _verify().startswith("5 events, chain intact.")


def test_an_actors_label_is_the_only_thing_the_orm_relabels(events: list[AuditEvent]) -> None:
    with pytest.raises(ValueError, match="at most 254"):
        audit_actor_pseudonymise(actor_id=events[0].actor_id or 0, label="x" * 255)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_allows_a_relabel_and_nothing_more(events: list[AuditEvent]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET actor_label = 'pseudonym' WHERE id = %s", [events[0].pk]
        )
    for sql in [
        "UPDATE core_auditevent SET actor_label = 'p', action = 'x' WHERE id = %s",
        "UPDATE core_auditevent SET hash = repeat('0', 64) WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [events[0].pk])
    assert AuditEvent.objects.get(pk=events[0].pk).actor_label == "pseudonym"
    assert audit_chain_verify().broken is None


def test_a_bad_chunk_size_is_refused() -> None:
    with pytest.raises(CommandError, match="chunk-size"):
        call_command("audit_verify", "--chunk-size", "0")


# A malformed column, as someone with the database could write it: the verifier names the event
# and exits 1, never a traceback. Each backend gets what it can store: SQLite stores anything in
# any column (a time that is none, a number for a text); PostgreSQL's column types hold only
# values of the right type, malformed for the chain all the same.
SQL_VALUE = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
# The shape of a time, but none: SQLite's driver fails on reading it back as a time, so only the
# verifier (which then reads the row as text) survives it; the admin does not (see the note).
NOT_A_TIME = ("created_at", "2026-13-45 99:00:00")
MALFORMED_ANYWHERE = [
    ("data", "[1, 2]"),
    ("data", '"a text, not an object"'),
    ("target_id", "not-an-id"),
    ("hash", "1.5"),
    ("prev_hash", "12"),
]
MALFORMED = MALFORMED_ANYWHERE + (
    [
        ("created_at", "garbage"),
        NOT_A_TIME,
        ("data", "{not json"),
        ("actor_id", "someone"),
        ("target_id", 7),
        ("hash", 1.5),
        ("prev_hash", 12),
    ]
    if connection.vendor == "sqlite"
    else []
)


def _malform(event: AuditEvent, column: str, value: object) -> None:
    """Write `value` into the event's column past the database's own checks (SQLite's JSON
    check constraint, PostgreSQL's append-only trigger)."""
    placeholder = SQL_VALUE if column == "data" else "%s"
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        _raw("PRAGMA ignore_check_constraints = ON", [])
    try:
        _raw(
            f"UPDATE core_auditevent SET {column} = {placeholder} WHERE id = %s",  # noqa: S608
            [value, event.pk],
        )
    finally:
        if sqlite:
            _raw("PRAGMA ignore_check_constraints = OFF", [])


@pytest.mark.parametrize(("column", "value"), MALFORMED)
def test_a_malformed_column_breaks_the_chain_there_without_a_traceback(
    events: list[AuditEvent], column: str, value: str | int | float
) -> None:
    target = events[2]
    _malform(target, column, value)

    said = _verify()

    assert said.startswith(f"FAILED (exit 1): Chain broken at event {target.pk} "), said
    assert "its content is wrong" in said
    assert "(2 event(s) before it hold.)" in said


def test_the_admin_lists_the_trail_with_malformed_rows_in_it(
    world: World, events: list[AuditEvent]
) -> None:
    """The trail stays readable exactly when tampering is suspected: every malformed value this
    backend can store, each in an event of its own, and the admin still lists them."""
    listed = [case for case in MALFORMED if case != NOT_A_TIME]
    written = list(events)
    while len(written) < len(listed):
        written.append(audit_record(actor=None, action="test.more", target=world.scanner))
    for event, (column, value) in zip(written, listed, strict=False):
        _malform(event, column, value)

    response = client_for(world.admin).get("/admin/core/auditevent/")

    assert response.status_code == 200

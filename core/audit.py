"""Writing the audit trail, chained so that a change to it shows. Call inside the service's
transaction so that the change and its record commit or roll back together.

Core sits below accounts and the marketplace: it knows the actor as Django's auth user (the
AUTH_USER_MODEL, `accounts.User`) and the hospital the change belongs to as a model whose id it
keeps (`marketplace.Hospital`).

The chain
---------
Every event has a position `seq` (1, 2, 3, ... without gaps), `prev_hash` (the `hash` of the
event at `seq - 1`; `GENESIS` for the first) and `hash`: SHA-256, in hex, over a canonical,
versioned serialisation of the event (`event_hash`): the UTF-8 bytes of the compact JSON array

    ["wescan-audit", 1, seq, created_at, actor_id, hospital_id, action, target_type, target_id,
     data, prev_hash]

with `created_at` in UTC ISO 8601 to the microsecond (``2026-10-05T08:30:00.000000+00:00``),
absent ids as ``null`` and `data` as JSON with sorted keys (numbers as the database gives them
back: see `canonical_data`). The version (1) is inside what is hashed: a later serialisation would
be version 2, and `audit_verify` would read the version before hashing.

Why `seq` and not the row's id: the hash must be known when the row is inserted (the row is
never updated afterwards: the ORM and the PostgreSQL trigger refuse it), and the database picks
the id only on insert. `seq` is chosen under the chain's lock as the last one plus one, and is
unique in the database: two transactions that read the same last event cannot both commit onto
it, whatever the backend.

`actor_label` (the person's e-mail when they acted: a display cache) is deliberately outside the
hash: erasing a person (accounts.privacy) replaces it with a pseudonym through
`audit_actor_pseudonymise`, the one update the trail allows. `actor_id` stays, and is hashed.

Serialised writing: the last event is read, and the new one inserted, under a lock that every
writer takes for the rest of its transaction. On PostgreSQL, `pg_advisory_xact_lock(CHAIN_LOCK)`
(held until commit or rollback, so the next writer reads the event just committed). On SQLite,
the settings open every transaction with BEGIN IMMEDIATE, which takes the database's write lock
at once: the read happens under it; `audit_record` opens a transaction itself when called
outside one. The cost: a transaction that writes an audit event holds the chain until it
commits, so audited writes commit one after the other (they are short).

What the chain does not prove: that nothing was cut from its end (an attacker with the
database may delete the newest events). Keeping the latest `hash` somewhere else (a log line,
a receipt) closes that gap; `audit_verify` prints it.
"""

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.contrib.auth.models import AbstractUser
from django.db import connection, models, transaction
from django.utils import timezone

from core.models import AuditEvent

CHAIN_VERSION = 1
GENESIS = "0" * 64
# pg_advisory_xact_lock's key for the audit chain: any 64-bit number nobody else uses
# ("WeAudit" in ASCII).
CHAIN_LOCK = 0x57_65_41_75_64_69_74


def canonical_data(data: dict[str, Any]) -> Any:
    """`data` as the database gives it back: JSON's types only (tuples as lists, keys as
    strings) and whole floats as integers (PostgreSQL's jsonb reads 1e16 back as
    10000000000000000, and 2.0 may come back as 2)."""

    def whole(value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: whole(item) for key, item in value.items()}
        if isinstance(value, list):
            return [whole(item) for item in value]
        return value

    return whole(json.loads(json.dumps(data)))


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    hospital_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    data: Any,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of version 1 of the serialisation described in the module's docstring."""
    serialised = json.dumps(
        [
            "wescan-audit",
            CHAIN_VERSION,
            seq,
            _utc_iso(created_at),
            actor_id,
            hospital_id,
            action,
            target_type,
            target_id,
            canonical_data(data),
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(serialised.encode("utf-8")).hexdigest()


def hash_of(event: AuditEvent) -> str:
    """The hash `event` must carry, computed from its content and `prev_hash`."""
    return event_hash(
        seq=event.seq,
        created_at=event.created_at,
        actor_id=event.actor_id,
        hospital_id=event.hospital_id,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        data=event.data,
        prev_hash=event.prev_hash,
    )


def _lock_chain() -> None:
    """Hold the chain until this transaction ends (see the module's docstring)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    # SQLite: BEGIN IMMEDIATE (the settings' transaction_mode) already holds the write lock.


def audit_record(
    *,
    actor: AbstractUser | None,
    action: str,
    target: models.Model,
    hospital: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last is not None else (1, GENESIS)
        event = AuditEvent(
            created_at=timezone.now(),
            actor_id=actor.pk if actor is not None else None,
            actor_label=actor.email if actor is not None else "",
            hospital_id=hospital.pk if hospital is not None else None,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            data=canonical_data(data or {}),
            seq=seq,
            prev_hash=prev_hash,
        )
        event.hash = hash_of(event)
        event.save(force_insert=True)
    return event


def audit_actor_pseudonymise(*, actor_id: int, label: str) -> int:
    """Replace the display label of every event `actor_id` did by `label` (a pseudonym, on
    erasure); the number of events relabelled. The chain stays intact: the label is not hashed,
    the actor's id is kept."""
    if len(label) > AuditEvent._meta.get_field("actor_label").max_length:  # type: ignore[operator]
        raise ValueError("An actor label holds at most 254 characters.")
    return AuditEvent.objects.filter(actor_id=actor_id).relabel_actor(label)


# --- Verifying the chain -------------------------------------------------------------------------


def _when(moment: object) -> str:
    """`created_at` as the report shows it, whatever a malformed row holds."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return _utc_iso(moment)
    return repr(moment)[:60]


@dataclass(frozen=True)
class BrokenLink:
    """The first event at which the chain does not hold, and why: its `content` no longer
    gives its hash (it was changed), or its `link` to the event before it is wrong (an event
    before it was removed, or changed and hashed again)."""

    event_id: int | None
    seq: object  # as the row holds it: a malformed row may hold anything
    created_at: object
    action: object
    problem: Literal["content", "link"]
    detail: str

    def __str__(self) -> str:
        what = "its content" if self.problem == "content" else "its link to the previous event"
        return (
            f"Chain broken at event {self.event_id} (#{self.seq}, {_when(self.created_at)}, "
            f"{self.action}): {what} is wrong. {self.detail}"
        )


@dataclass(frozen=True)
class ChainReport:
    count: int
    head: str  # the last event's hash (GENESIS when there is none)
    broken: BrokenLink | None


def _problem(
    event: AuditEvent, *, expected_seq: int, prev_hash: str
) -> tuple[Literal["content", "link"], str] | None:
    """What is wrong with `event` where the chain expects #`expected_seq` after `prev_hash`."""
    malformed = _malformed(event)
    if malformed:
        return "content", f"It holds a malformed {malformed}: the row was changed."
    try:
        expected_hash = hash_of(event)
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        return "content", f"Its content cannot be hashed ({type(error).__name__}): it was changed."
    if expected_hash != event.hash:
        return "content", "What it holds no longer gives the hash it was written with."
    if event.seq != expected_seq:
        missing = event.seq - expected_seq
        if missing > 0:
            return "link", (
                f"{missing} event(s) missing before it: #{expected_seq} expected, "
                f"#{event.seq} found."
            )
        return "link", f"#{expected_seq} expected, #{event.seq} found."
    if event.prev_hash != prev_hash:
        return "link", (
            "The previous event's hash is not the one it was chained to: the event before it "
            "was changed and hashed again, or replaced."
        )
    return None


_TYPES: tuple[tuple[str, type | tuple[type, ...], bool], ...] = (
    # (column, the Python type it must come back as, whether null is allowed)
    ("seq", int, False),
    ("created_at", datetime, False),
    ("actor_id", int, True),
    ("hospital_id", int, True),
    ("action", str, False),
    ("target_type", str, False),
    ("target_id", str, False),
    ("data", dict, False),
    ("prev_hash", str, False),
    ("hash", str, False),
)


def _malformed(event: AuditEvent) -> str | None:
    """The first column of `event` whose value no writer could have put there (null, another
    type, text that is not JSON, a naive time), or None. audit_record writes only a dict as
    `data`, so a JSON column that reads back as anything else was changed."""
    for column, kind, nullable in _TYPES:
        value = getattr(event, column)
        if value is None and nullable:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{column} ({repr(value)[:40]})"
    if event.created_at.tzinfo is None:
        return "created_at (no time zone)"
    return None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the whole trail in chain order, a chunk at a time (constant memory), and stop at
    the first event that breaks it. A row the database cannot even hand back as an event (a
    column it fails to convert) breaks it too."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for event in _events_in_order(chunk_size=chunk_size):
        count += 1
        if isinstance(event, BrokenLink):
            return ChainReport(count=count, head=prev_hash, broken=event)
        problem = _problem(event, expected_seq=expected_seq, prev_hash=prev_hash)
        if problem is not None:
            broken = BrokenLink(
                event_id=event.pk,
                seq=event.seq,
                created_at=event.created_at,
                action=event.action,
                problem=problem[0],
                detail=problem[1],
            )
            return ChainReport(count=count, head=prev_hash, broken=broken)
        prev_hash, expected_seq = event.hash, event.seq + 1
    return ChainReport(count=count, head=prev_hash, broken=None)


# What the database raises converting a malformed value into Python (a time that is none, a
# number that is text).
_UNREADABLE = (TypeError, ValueError, OverflowError, ArithmeticError)


def _events_in_order(*, chunk_size: int) -> Iterator[AuditEvent | BrokenLink]:
    """Every event by `seq`; in place of the first one that cannot be read back, a BrokenLink
    naming it (and nothing after it). When a chunk fails, it is read again one row at a time
    from the last event handed out, to find the row."""
    last_seq: Any = None
    try:
        for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
            last_seq = event.seq
            yield event
        return
    except _UNREADABLE:
        pass
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    while True:
        with connection.cursor() as cursor:
            if last_seq is None:
                cursor.execute(f"SELECT id, seq, action FROM {table} ORDER BY seq LIMIT 1")  # noqa: S608
            else:
                cursor.execute(
                    f"SELECT id, seq, action FROM {table} WHERE seq > %s ORDER BY seq LIMIT 1",  # noqa: S608
                    [last_seq],
                )
            row = cursor.fetchone()
        if row is None:
            return
        event_id, seq, action = row
        try:
            event = AuditEvent.objects.get(pk=event_id)
        except _UNREADABLE as error:
            yield BrokenLink(
                event_id=event_id,
                seq=seq,
                created_at=None,
                action=action,
                problem="content",
                detail=f"It cannot be read back ({type(error).__name__}): a column was changed.",
            )
            return
        last_seq = event.seq
        yield event

"""The audit trail becomes a hash chain (core.audit): each event gets its position `seq`, the
previous event's hash and its own. Events already written are chained in id order (the order
they were written in). On PostgreSQL the append-only trigger is set aside while they are, then
replaced by one that allows a single kind of update: the actor's display label (erasure puts a
pseudonym there; the label is outside the hash), and still refuses every other UPDATE and every
DELETE."""

import django.utils.timezone
from django.db import migrations, models

CHUNK = 2000

TRIGGER = "core_auditevent_append_only"

# Same function name as 0002's, so its trigger now runs this body.
ALLOW_RELABEL = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND (to_jsonb(NEW) - 'actor_label') = (to_jsonb(OLD) - 'actor_label') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

REFUSE_ALL = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def chain_existing(apps, schema_editor):
    # The serialisation is versioned (version 1 here, forever), so the code that writes new
    # events hashes the old ones too.
    from core.audit import GENESIS, event_hash

    AuditEvent = apps.get_model("core", "AuditEvent")
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(f"ALTER TABLE core_auditevent DISABLE TRIGGER {TRIGGER}")
    prev_hash, seq, batch = GENESIS, 0, []
    for event in AuditEvent.objects.order_by("pk").iterator(chunk_size=CHUNK):
        seq += 1
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = event_hash(
            seq=seq,
            created_at=event.created_at,
            actor_id=event.actor_id,
            hospital_id=event.hospital_id,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            data=event.data,
            prev_hash=prev_hash,
        )
        prev_hash = event.hash
        batch.append(event)
        if len(batch) >= CHUNK:
            AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
            batch = []
    if batch:
        AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
    if postgresql:
        schema_editor.execute(f"ALTER TABLE core_auditevent ENABLE TRIGGER {TRIGGER}")


def allow_relabel(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: the "%" in RAISE is PL/pgSQL's, not a placeholder.
        schema_editor.execute(ALLOW_RELABEL, params=None)


def refuse_all(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_ALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_notification")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["hospital", "-created_at", "-id"], name="core_audit_hospital_time"
            ),
        ),
        migrations.RunPython(allow_relabel, refuse_all),
    ]

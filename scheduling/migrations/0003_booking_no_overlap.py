"""No technologist in two overlapping confirmed bookings, the rest buffer included: on
PostgreSQL an exclusion constraint (btree_gist) the database itself enforces. SQLite has no such
constraint; there the confirm service checks inside its IMMEDIATE (write-locking) transaction.

Each booking occupies [starts_at, ends_at + 30 min): two of them are apart by at least the rest
buffer exactly when those ranges do not overlap. The buffer is scheduling.models.REST_BUFFER.
`timestamptz + interval` is only STABLE in PostgreSQL (a day or a month depends on the time
zone), which an index refuses; adding minutes does not, so a small IMMUTABLE function says so."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    CREATE OR REPLACE FUNCTION scheduling_booking_span(starts timestamptz, ends timestamptz)
    RETURNS tstzrange LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT tstzrange(starts, ends + interval '30 minutes', '[)') $$
    """,
    """
    ALTER TABLE scheduling_booking ADD CONSTRAINT booking_no_overlap_with_rest
    EXCLUDE USING gist (
        technologist_id WITH =,
        scheduling_booking_span(starts_at, ends_at) WITH &&
    ) WHERE (status IN ('confirmed', 'in_progress'))
    """,
]
BACKWARD = [
    "ALTER TABLE scheduling_booking DROP CONSTRAINT IF EXISTS booking_no_overlap_with_rest",
    "DROP FUNCTION IF EXISTS scheduling_booking_span(timestamptz, timestamptz)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0002_booking")]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False),
    ]

"""Database triggers that refuse UPDATE and DELETE on the log's tables, whoever asks.

The ORM already refuses; these make a hand-written SQL statement fail too. On PostgreSQL they cover
UPDATE and DELETE. On SQLite only UPDATE is refused: Django's test runner empties tables with DELETE
between transactional tests, and SQLite has no TRUNCATE to tell that apart from a real delete.
Anyone who can drop a trigger can still edit a row; the self-audit is what catches that.
"""

from django.db import migrations

TABLES = ["transparency_logentry", "transparency_treehash", "transparency_checkpoint", "transparency_auditrun"]

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION vitrina_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transparency log rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$;
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vitrina_log_append_only();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'transparency log rows are append-only: UPDATE on {table} refused'); END;"
            )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        schema_editor.execute("DROP FUNCTION IF EXISTS vitrina_log_append_only();")
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")


class Migration(migrations.Migration):
    dependencies = [("transparency", "0002_tree_checkpoints_audit")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]

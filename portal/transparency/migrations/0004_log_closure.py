"""The log fails closed: operators' resolutions of a failed self-audit, and TRUNCATE refused.

``AuditResolution`` joins the append-only tables and gets the same UPDATE/DELETE triggers as the others
(migration 0003). On PostgreSQL every log table also refuses TRUNCATE, which skips row triggers: a
statement-level trigger calls the same function. The test suite disables only these TRUNCATE triggers,
in its own database, to flush between transactional tests.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

LOG_TABLES = [
    "transparency_logentry",
    "transparency_treehash",
    "transparency_checkpoint",
    "transparency_auditrun",
    "transparency_auditresolution",
]
NEW_TABLE = "transparency_auditresolution"


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {NEW_TABLE}_append_only BEFORE UPDATE OR DELETE ON {NEW_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION vitrina_log_append_only();"
        )
        for table in LOG_TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION vitrina_log_append_only();"
            )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {NEW_TABLE}_no_update BEFORE UPDATE ON {NEW_TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'transparency log rows are append-only: "
            f"UPDATE on {NEW_TABLE} refused'); END;"
        )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in LOG_TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {NEW_TABLE}_append_only ON {NEW_TABLE};")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {NEW_TABLE}_no_update;")


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0003_append_only_triggers"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditResolution",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("note", models.TextField(help_text="What the operator found and did, in their words.")),
                ("resolved_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["-run_id"],
            },
        ),
        migrations.AddIndex(
            model_name="auditrun",
            index=models.Index(
                condition=models.Q(("ok", False)), fields=["id"], name="transparency_auditrun_failed"
            ),
        ),
        migrations.AddField(
            model_name="auditresolution",
            name="failed_run",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="transparency.auditrun"
            ),
        ),
        migrations.AddField(
            model_name="auditresolution",
            name="run",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="resolution",
                to="transparency.auditrun",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

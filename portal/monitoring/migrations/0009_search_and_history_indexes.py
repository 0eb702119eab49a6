from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0008_verbose_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="observation",
            index=models.Index(
                condition=models.Q(("changed_status", True)),
                fields=["environment", "-checked_at"],
                name="observation_status_changes",
            ),
        ),
        migrations.AddIndex(
            model_name="observation",
            index=models.Index(
                condition=models.Q(("reason", "unregistered_artifact")),
                fields=["live_digest"],
                name="observation_unregistered",
                opclasses=["varchar_pattern_ops"],
            ),
        ),
    ]

"""The append-only transparency log's rows.

A ``LogEntry`` is one record's canonical JSON (RFC 8785) with its RFC 9162 leaf hash and its index in
the log. Entries are written in the same transaction as the record they describe and are never
changed or deleted.
"""

from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """Raised on any attempt to change or delete a log row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly(f"{self.model.__name__} rows are append-only; they cannot be updated.")

    def delete(self):
        raise AppendOnly(f"{self.model.__name__} rows are append-only; they cannot be deleted.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly(f"{type(self).__name__} rows are append-only; they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly(f"{type(self).__name__} rows are append-only; they cannot be deleted.")


class LogEntry(AppendOnlyModel):
    class Kind(models.TextChoices):
        RELEASE = "release"
        DEPLOYMENT = "deployment"
        KEY_ADDED = "key_added"
        KEY_REVOKED = "key_revoked"
        STATUS = "status"

    index = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_id = models.BigIntegerField(null=True, db_index=True)
    entry = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    logged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        indexes = [models.Index(fields=["kind", "object_id"])]

    def __str__(self):
        return f"#{self.index} {self.kind}"

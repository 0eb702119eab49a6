"""Appending to the transparency log.

``append_entry`` must run inside the transaction that writes the record it describes, so a record
and its entry exist together or not at all. Indexes are dense and consecutive: appends are serialised
by a PostgreSQL advisory lock held to the end of the transaction (SQLite serialises writers itself).
"""

import datetime
import json

import rfc8785
from django.db import connection
from django.utils import timezone

from verifier.merkle import leaf_hash

from .models import LogEntry

# Any fixed 64-bit number; it names the "log append" lock among the application's advisory locks.
APPEND_LOCK_ID = 0x56_49_54_52_49_4E_41_01

ENTRY_SCHEMA_VERSION = 1


def lock_log():
    """Serialise appends until the end of the current transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_ID])


def canonical_entry(kind, body, logged_at):
    document = {"v": ENTRY_SCHEMA_VERSION, "type": kind, "logged_at": format_time(logged_at), **body}
    return rfc8785.dumps(document)


def format_time(moment):
    """Log times are UTC ISO 8601 with microseconds and a Z, the same everywhere they appear."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append_entry(kind, body, *, object_id=None):
    """Append one entry and return it; its index is final once the caller's transaction commits."""
    if not connection.in_atomic_block:
        raise RuntimeError("append_entry must run inside the transaction that writes its record")
    lock_log()
    last = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    index = 0 if last is None else last + 1
    logged_at = timezone.now()
    entry = canonical_entry(kind, body, logged_at)
    return LogEntry.objects.create(
        index=index,
        kind=kind,
        object_id=object_id,
        entry=entry,
        leaf_hash=leaf_hash(entry),
        logged_at=logged_at,
    )


def parse_entry(entry_bytes):
    return json.loads(bytes(entry_bytes))


def entry_for(kind, object_id):
    return LogEntry.objects.filter(kind=kind, object_id=object_id).first()


__all__ = ["append_entry", "entry_for", "format_time", "parse_entry"]

"""What the public log page shows for each entry: a one-line summary and a link to its record."""

import json

from portal.monitoring.models import Observation
from portal.registry.models import Deployment, Release, SigningKey

from .models import LogEntry

LINKED = {
    LogEntry.Kind.RELEASE: Release.objects.select_related("project"),
    LogEntry.Kind.DEPLOYMENT: Deployment.objects.select_related("environment__project", "release"),
    LogEntry.Kind.KEY_ADDED: SigningKey.objects.select_related("project"),
    LogEntry.Kind.KEY_REVOKED: SigningKey.objects.select_related("project"),
    LogEntry.Kind.STATUS: Observation.objects.select_related("environment__project"),
}


def entry_rows(entries, integrated_size):
    """One dict per entry, loading each kind's records with one query."""
    entries = list(entries)
    records = {}
    for kind, queryset in LINKED.items():
        ids = [e.object_id for e in entries if e.kind == kind and e.object_id is not None]
        if ids:
            records[kind] = queryset.in_bulk(ids)
    rows = []
    for entry in entries:
        body = _parse(entry.entry)
        record = records.get(entry.kind, {}).get(entry.object_id)
        rows.append(
            {
                "index": entry.index,
                "kind": entry.kind,
                "logged_at": entry.logged_at,
                "summary": summary(entry.kind, body),
                "url": record_url(entry.kind, record),
                "integrated": entry.index < integrated_size,
            }
        )
    return rows


def summary(kind, body):
    project = body.get("project", "")
    if kind == LogEntry.Kind.RELEASE:
        return f"{project} {body.get('version', '')} ({body.get('artifact_digest', '')})"
    if kind == LogEntry.Kind.DEPLOYMENT:
        return f"{project} {body.get('version', '')} deployed to {body.get('environment', '')}"
    if kind in (LogEntry.Kind.KEY_ADDED, LogEntry.Kind.KEY_REVOKED):
        return f"{project} key {str(body.get('key_id', ''))[:16]}"
    if kind == LogEntry.Kind.STATUS:
        return f"{project}/{body.get('environment', '')}: {body.get('result', '')} {body.get('reason') or ''}"
    return ""


def record_url(kind, record):
    if record is None:
        return ""
    if kind in (LogEntry.Kind.KEY_ADDED, LogEntry.Kind.KEY_REVOKED):
        return record.project.get_absolute_url()
    if kind == LogEntry.Kind.STATUS:
        return record.environment.get_absolute_url()
    return record.get_absolute_url()


def _parse(entry_bytes):
    try:
        body = json.loads(bytes(entry_bytes))
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

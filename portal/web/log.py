"""The transparency log's public page: the latest checkpoint with its witnesses' cosignatures, the
witnesses, and every entry, newest first, each with a one-line summary and a link to its record.

The page reads the records the entries describe (releases, deployments, keys, observations), so it
lives here with the other pages; the log's machine-readable endpoints stay with the log
(``portal.transparency.views``).
"""

import datetime

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext as _

from portal.http import public_read
from portal.monitoring import reasons
from portal.monitoring.models import Observation
from portal.registry.models import Deployment, Release, SigningKey, StatusNote
from portal.registry.words import environment_label
from portal.transparency import services, witnesses
from portal.transparency.models import LogEntry
from portal.transparency.signing import LogKeyError
from portal.transparency.views import parse_index
from verifier.entries import parse_entry
from verifier.errors import FormatError

LOG_PAGE_SIZE = 50

LINKED = {
    LogEntry.Kind.RELEASE: Release.objects.select_related("project"),
    LogEntry.Kind.DEPLOYMENT: Deployment.objects.select_related("environment__project", "release"),
    LogEntry.Kind.KEY_ADDED: SigningKey.objects.select_related("project"),
    LogEntry.Kind.KEY_REVOKED: SigningKey.objects.select_related("project"),
    LogEntry.Kind.STATUS: Observation.objects.select_related("environment__project"),
    LogEntry.Kind.NOTE: StatusNote.objects.select_related("project", "environment"),
}


@public_read
def log_page(request):
    paginator = Paginator(LogEntry.objects.order_by("-index"), LOG_PAGE_SIZE)
    entries = paginator.get_page(page_of_entry(request.GET.get("entry")) or request.GET.get("page"))
    try:
        vkey = services.verifier_key()
    except LogKeyError:
        vkey = None
    checkpoint = services.latest_checkpoint()
    context = {
        "checkpoint": checkpoint,
        "cosigned_note": witnesses.cosigned_note(checkpoint) if checkpoint else "",
        "witnesses": witness_rows(checkpoint),
        "origin": settings.VITRINA_LOG_ORIGIN,
        "verifier_key": vkey,
        "page": entries,
        "rows": entry_rows(entries.object_list),
    }
    return render(request, "web/log.html", context)


def witness_rows(checkpoint):
    """Each active witness, its key ID and when it cosigned ``checkpoint`` (None: not yet). Two queries."""
    cosigned = {} if checkpoint is None else {c.witness_id: c for c in checkpoint.cosignatures.all()}
    rows = []
    for witness in witnesses.active_witnesses():
        cosignature = cosigned.get(witness.pk)
        rows.append(
            {
                "name": witness.name,
                "key_id": witnesses.key_id(witness),
                "cosigned_at": None
                if cosignature is None
                else datetime.datetime.fromtimestamp(cosignature.timestamp, datetime.UTC),
            }
        )
    return rows


def page_of_entry(value):
    """``?entry=N`` opens the page that shows entry N, so ``/log/?entry=N#entry-N`` links work."""
    try:
        index = parse_index(value, "entry")
    except services.LogRequestError:
        return None
    newest = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    if newest is None or index > newest:
        return None
    return (newest - index) // LOG_PAGE_SIZE + 1


def entry_rows(entries):
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
                "kind_label": kind_label(entry.kind),
                "logged_at": entry.logged_at,
                "summary": summary(entry.kind, body),
                "url": record_url(entry.kind, record),
            }
        )
    return rows


def kind_label(kind):
    """An entry type in the reader's words ("key added"), or the type as written if this version does
    not know it."""
    try:
        return LogEntry.Kind(kind).label
    except ValueError:
        return kind


def summary(kind, body):
    """One line saying what an entry records, in the reader's language; names, versions and digests as
    written in the entry."""
    project = body.get("project", "")
    environment = environment_label(body.get("environment", ""))
    if kind == LogEntry.Kind.RELEASE:
        return _("%(project)s %(version)s (%(digest)s)") % {
            "project": project,
            "version": body.get("version", ""),
            "digest": body.get("artifact_digest", ""),
        }
    if kind == LogEntry.Kind.DEPLOYMENT:
        return _("%(project)s %(version)s deployed to %(environment)s") % {
            "project": project,
            "version": body.get("version", ""),
            "environment": environment,
        }
    if kind == LogEntry.Kind.KEY_ADDED:
        return _("%(project)s: signing key %(key)s trusted") % {"project": project, "key": _key(body)}
    if kind == LogEntry.Kind.KEY_REVOKED:
        return _("%(project)s: signing key %(key)s revoked") % {"project": project, "key": _key(body)}
    if kind == LogEntry.Kind.STATUS:
        words = reasons.result_word(body.get("result", ""))
        sentence = reasons.reason_sentence(body.get("reason") or "")
        line = _("%(project)s/%(environment)s: %(result)s") % {
            "project": project,
            "environment": environment,
            "result": words,
        }
        return f"{line} — {sentence}" if sentence else line
    if kind == LogEntry.Kind.NOTE:
        return note_summary(project, body)
    if kind == LogEntry.Kind.WITNESS_ADDED:
        return _("witness %(name)s added") % {"name": body.get("name", "")}
    if kind == LogEntry.Kind.WITNESS_REMOVED:
        return _("witness %(name)s removed") % {"name": body.get("name", "")}
    return ""


def note_summary(project, body):
    """An operator's note: where, its kind in the reader's words, and the operator's own words."""
    where = f"{project}/{environment_label(body['environment'])}" if body.get("environment") else project
    try:
        kind = StatusNote.Kind(body.get("kind")).label
    except ValueError:
        kind = body.get("kind", "")
    return _("%(where)s: operator's note, %(kind)s: “%(text)s”") % {
        "where": where,
        "kind": kind,
        "text": body.get("text", ""),
    }


def _key(body):
    return str(body.get("key_id", ""))[:16]


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
        return parse_entry(bytes(entry_bytes))
    except FormatError:
        return {}

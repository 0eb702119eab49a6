"""The self-audit's second half: every release, deployment, signing key, CI identity, operator's note,
observer, observer report, rebuilder, rebuild, answer to a rebuild and witness must still say what it
logged.

The log's tree audit proves its entries were not changed; this proves the records they describe were
not either, by someone editing the database directly. It needs both the records and the log, so it
lives here, above the log, and registers itself with the log's ``audit`` (``RegistryConfig.ready``).
Each Release, Deployment, SigningKey, TrustedIdentity, StatusNote, Observer, ObserverReport, Rebuilder,
Rebuild, RebuildAnswer and Witness row is turned into the entry body its app would write for it today
(the same builders, so the two can never drift apart) and compared member by member with the entry
logged when it was written, by ``verifier.entries.entry_differences``, the comparison volunteers run on
proof bundles. ``by`` is left out: it names a token or a user, and those may be renamed. A release's
envelope (and an observer report's, and a rebuild's) is compared through its SHA-256, recomputed from
the stored text.

A row without its entry was inserted behind the application's back; an entry without its row means the
row was deleted. Rows are read in chunks of primary keys, each chunk together with its entries, so time
is linear and memory bounded. A record and its entry are committed in one transaction, but a chunk's
two queries may straddle a registration or a revocation: every discrepancy is read again, row and
entries, before it counts.
"""

import hashlib
from dataclasses import dataclass

from django.db.models import Q

from portal.transparency.models import Witness
from portal.transparency.services import LogCorrupted, logged_entries
from portal.transparency.witnesses import witness_added_entry_body, witness_removed_entry_body
from verifier.entries import ABSENT, entry_differences, parse_entry

from .models import (
    Deployment,
    Observer,
    ObserverReport,
    Rebuild,
    RebuildAnswer,
    Rebuilder,
    Release,
    SigningKey,
    StatusNote,
    TrustedIdentity,
)
from .services import (
    deployment_entry_body,
    identity_added_entry_body,
    identity_removed_entry_body,
    key_added_entry_body,
    key_revoked_entry_body,
    note_entry_body,
    observer_report_entry_body,
    party_added_entry_body,
    party_kind,
    party_removed_entry_body,
    rebuild_answer_entry_body,
    rebuild_entry_body,
    release_entry_body,
)

# How many discrepancies a failed audit spells out; the rest are counted.
MESSAGES_SHOWN = 5


@dataclass(frozen=True)
class Expected:
    """One entry a row must have: its kind and the members it must say. ``required`` False: none is fine,
    one must agree. ``label`` names the members in a finding when the row holds them in another form."""

    kind: str
    body: dict
    required: bool = True
    label: str = ""


def release_entries(release):
    body = release_entry_body(release)
    # The envelope itself is not in the entry; its hash is. Recompute it so an edited text is caught even
    # when the stored ``envelope_sha256`` column was left alone.
    if release.is_keyless:
        bundle = {"sigstore_bundle_sha256": hashlib.sha256(release.sigstore_bundle.encode()).hexdigest()}
        return [Expected("release", body), Expected("release", bundle, label="Sigstore bundle (its sha256)")]
    envelope = {"envelope_sha256": hashlib.sha256(release.envelope.encode()).hexdigest()}
    return [Expected("release", body), Expected("release", envelope, label="envelope (its sha256)")]


def deployment_entries(deployment):
    return [Expected("deployment", deployment_entry_body(deployment))]


def key_entries(signing_key):
    return [
        Expected("key_added", key_added_entry_body(signing_key)),
        Expected(
            "key_revoked", key_revoked_entry_body(signing_key), required=signing_key.revoked_at is not None
        ),
    ]


def identity_entries(identity):
    return [
        Expected("identity_added", identity_added_entry_body(identity)),
        Expected(
            "identity_removed",
            identity_removed_entry_body(identity),
            required=identity.removed_at is not None,
        ),
    ]


def identity_name(identity):
    return f"CI identity {identity.pk} ({identity.repository}) of project '{identity.project.slug}'"


def note_entries(note):
    return [Expected("note", note_entry_body(note))]


def party_entries(party):
    """An observer's or a rebuilder's ``<kind>_added`` entry, and its ``<kind>_removed`` once removed."""
    kind = party_kind(type(party))
    return [
        Expected(f"{kind}_added", party_added_entry_body(party)),
        Expected(f"{kind}_removed", party_removed_entry_body(party), required=party.removed_at is not None),
    ]


def party_name(party):
    return f"{party_kind(type(party))} {party.pk} ({party.name})"


def witness_entries(witness):
    """A witness's ``witness_added`` entry, and its ``witness_removed`` once removed."""
    return [
        Expected("witness_added", witness_added_entry_body(witness)),
        Expected(
            "witness_removed", witness_removed_entry_body(witness), required=witness.removed_at is not None
        ),
    ]


def witness_name(witness):
    return f"witness {witness.pk} ({witness.name})"


def envelope_entries(kind, body, record):
    """A signed record's entry, and its envelope's hash recomputed from the stored text (as a release's),
    so an edited text is caught even when the stored ``envelope_sha256`` column was left alone."""
    envelope = {"envelope_sha256": hashlib.sha256(record.envelope.encode()).hexdigest()}
    return [Expected(kind, body), Expected(kind, envelope, label="envelope (its sha256)")]


def observer_report_entries(report):
    return envelope_entries("observer_report", observer_report_entry_body(report), report)


def observer_report_name(report):
    environment = report.environment
    return (
        f"observer report {report.pk} of observer '{report.observer.name}' on project "
        f"'{environment.project.slug}' ({environment.name})"
    )


def rebuild_entries(rebuild):
    return envelope_entries("rebuild", rebuild_entry_body(rebuild), rebuild)


def rebuild_name(rebuild):
    release = rebuild.release
    return (
        f"rebuild {rebuild.pk} by rebuilder '{rebuild.rebuilder.name}' of release {release.pk} "
        f"({release.version}) of project '{release.project.slug}'"
    )


def rebuild_answer_entries(answer):
    return [Expected("rebuild_answer", rebuild_answer_entry_body(answer))]


def rebuild_answer_name(answer):
    project = answer.rebuild.release.project
    return f"answer {answer.pk} to rebuild {answer.rebuild_id} of project '{project.slug}'"


def release_name(release):
    return f"release {release.pk} ({release.version}) of project '{release.project.slug}'"


def deployment_name(deployment):
    environment = deployment.environment
    return f"deployment {deployment.pk} of project '{environment.project.slug}' ({environment.name})"


def note_name(note):
    return f"note {note.pk} of project '{note.project.slug}'"


def key_name(signing_key):
    return f"signing key {signing_key.pk} ({signing_key.short_id}…) of project '{signing_key.project.slug}'"


@dataclass(frozen=True)
class RecordType:
    noun: str
    model: type
    related: tuple
    kinds: tuple
    expected: object
    name: object
    plural: str = ""  # when not the noun and an s


RECORD_TYPES = [
    RecordType("release", Release, ("project", "signer_key"), ("release",), release_entries, release_name),
    RecordType(
        "deployment",
        Deployment,
        ("environment__project", "release"),
        ("deployment",),
        deployment_entries,
        deployment_name,
    ),
    RecordType("signing key", SigningKey, ("project",), ("key_added", "key_revoked"), key_entries, key_name),
    RecordType(
        "CI identity",
        TrustedIdentity,
        ("project",),
        ("identity_added", "identity_removed"),
        identity_entries,
        identity_name,
        plural="CI identities",
    ),
    RecordType("note", StatusNote, ("project", "environment"), ("note",), note_entries, note_name),
    RecordType("observer", Observer, (), ("observer_added", "observer_removed"), party_entries, party_name),
    RecordType(
        "observer report",
        ObserverReport,
        ("observer", "environment__project"),
        ("observer_report",),
        observer_report_entries,
        observer_report_name,
    ),
    RecordType(
        "rebuilder", Rebuilder, (), ("rebuilder_added", "rebuilder_removed"), party_entries, party_name
    ),
    RecordType(
        "rebuild",
        Rebuild,
        ("rebuilder", "release__project"),
        ("rebuild",),
        rebuild_entries,
        rebuild_name,
    ),
    RecordType(
        "answer to a rebuild",
        RebuildAnswer,
        ("rebuild__release__project",),
        ("rebuild_answer",),
        rebuild_answer_entries,
        rebuild_answer_name,
        plural="answers to rebuilds",
    ),
    RecordType(
        "witness",
        Witness,
        (),
        ("witness_added", "witness_removed"),
        witness_entries,
        witness_name,
        plural="witnesses",
    ),
]


class Findings:
    """Discrepancies found so far: the first few spelled out, all counted, per record type."""

    def __init__(self):
        self.messages = []
        self.count = 0

    def add(self, message):
        self.count += 1
        if len(self.messages) < MESSAGES_SHOWN:
            self.messages.append(message)

    def summary(self):
        more = self.count - len(self.messages)
        text = "; ".join(self.messages)
        return f"{text}; and {more} more" if more else text


def audit_records(*, chunk_size):
    """The record audit the log's ``audit`` runs: one sentence, or ``LogCorrupted`` naming the differences."""
    counts, findings = check_records(chunk_size=chunk_size)
    if findings.count:
        raise LogCorrupted(
            f"{findings.count} difference(s) between the records and the log, written behind the "
            f"application's back: {findings.summary()}"
        )
    checked = ", ".join(f"{nouns}: {count}" for nouns, count in counts.items())
    return f"Every record matches its log entries ({checked})."


def check_records(*, chunk_size):
    """Compare every record with its log entries. Returns (checked counts by plural noun, Findings)."""
    findings = Findings()
    counts = {}
    for record_type in RECORD_TYPES:
        counts[record_type.plural or f"{record_type.noun}s"] = _check_type(record_type, chunk_size, findings)
    return counts, findings


def _check_type(record_type, chunk_size, findings):
    rows = record_type.model.objects.select_related(*record_type.related).order_by("pk")
    checked = 0
    after = None
    while True:
        chunk = list((rows if after is None else rows.filter(pk__gt=after))[:chunk_size])
        # Rows first, then entries: a record and its entry commit together, so a row seen here has its
        # entry visible below. An entry seen without its row may be a registration just committed.
        if chunk:
            last = chunk[-1].pk
            span = Q(object_id__lte=last) if after is None else Q(object_id__gt=after, object_id__lte=last)
        else:
            # Past the last row: whatever entries remain (and any without a record id) lost their row.
            span = Q() if after is None else Q(object_id__gt=after) | Q(object_id__isnull=True)
        entries = _entries_by_object(record_type, span)
        for row in chunk:
            if _problems(record_type, row, entries.pop(row.pk, {})):
                _confirm(record_type, row.pk, findings)
        for object_id in entries:
            _confirm(record_type, object_id, findings)
        checked += len(chunk)
        if not chunk:
            return checked
        after = last


def _entries_by_object(record_type, span):
    """{object_id: {kind: [(index, parsed entry), ...]}} for the record type's entries in ``span``: those
    sequenced and those queued with their record and not given an index yet (index None), which are no
    less the record's entry."""
    found = {}
    for logged in logged_entries(span & Q(kind__in=record_type.kinds)):
        parsed = parse_entry(logged.entry, what=_entry_name(logged.index))
        found.setdefault(logged.object_id, {}).setdefault(logged.kind, []).append((logged.index, parsed))
    return found


def _entry_name(index):
    return "the pending log entry" if index is None else f"log entry {index}"


def _confirm(record_type, object_id, findings):
    """Read the row and its entries again; whatever still disagrees is a finding."""
    row = record_type.model.objects.select_related(*record_type.related).filter(pk=object_id).first()
    span = Q(object_id__isnull=True) if object_id is None else Q(object_id=object_id)
    entries = _entries_by_object(record_type, span).get(object_id, {})
    if row is None:
        for kind, logged in entries.items():
            for index, _ in logged:
                if object_id is None:
                    findings.add(f"{_entry_name(index)} ({kind}) names no {record_type.noun}")
                    continue
                findings.add(
                    f"{_entry_name(index)} ({kind}) is for {record_type.noun} {object_id}, but there is no "
                    f"such {record_type.noun} in the database: it was deleted behind the application's back"
                )
        return
    for message in _problems(record_type, row, entries):
        findings.add(message)


def _problems(record_type, row, entries):
    """What differs between ``row`` and its entries ({kind: [(index, entry), ...]}), as sentences."""
    name = record_type.name(row)
    problems = []
    seen = set()
    for expected in record_type.expected(row):
        logged = entries.get(expected.kind, [])
        if not logged:
            if expected.required and expected.kind not in seen:
                problems.append(
                    f"{name} has no {expected.kind} log entry: it was written behind the application's back"
                )
            seen.add(expected.kind)
            continue
        if len(logged) > 1 and expected.kind not in seen:
            indexes = ", ".join("pending" if index is None else str(index) for index, _ in logged)
            problems.append(
                f"{name} has {len(logged)} {expected.kind} log entries ({indexes}); it must have one"
            )
        seen.add(expected.kind)
        index, entry = logged[0]
        problems.extend(_differences(name, expected, index, entry))
    return problems


def _differences(name, expected, index, entry):
    return [
        f"{name}: {_label(expected, difference.field)} is {_show(difference.recorded)} in the database "
        f"but {_show(difference.logged)} in {_entry_name(index)}"
        for difference in entry_differences(expected.kind, expected.body, entry)
    ]


def _label(expected, field):
    return expected.label if expected.label and field in expected.body else field


def _show(value):
    if value is ABSENT:
        return "absent"
    if value is None:
        return "empty"
    if isinstance(value, str) and len(value) > 80:
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        return f"{value[:24]!r}… ({len(value)} characters, sha256 {digest}…)"
    return repr(value) if isinstance(value, str) else str(value)

"""Log entries (schema version 1): the one implementation of the format in ``docs/formats/entries.md``.

The format is data: ``ENTRY_FIELDS`` has one row per entry type, its members in order, each with how
its value is written (as is, a time, a time or null, null when empty), and whether the type carries
``by``. ``entry_body`` is the one builder: it takes a record's values for a type's members and returns
the entry's body, every member but ``v``, ``type`` and ``logged_at``, which ``canonical_entry`` adds when
the entry is appended. ``by`` (who caused the entry) is left out when it is None: that is the record as
the audit and the bundles compare it, since who caused an entry is not a value of the record, and token
and user names may change.

The portal writes every entry with ``entry_body`` and ``canonical_entry``; its self-audit, its proof
bundles and a volunteer's bundle check all compare a record with its entry through
``entry_differences``. A new entry type is one row of ``ENTRY_FIELDS``, one value of the portal's
``LogEntry.Kind`` and one section of the format page.

Pure: no Django, no network, no clock; times come in as aware datetimes and go out as ``format_time``
text.
"""

import datetime
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import jsontext
from .errors import FormatError

ENTRY_SCHEMA_VERSION: Final = 1

Body = dict[str, Any]
Actor = Mapping[str, str]


def format_time(moment: datetime.datetime) -> str:
    """A time as every entry spells it: UTC, ISO 8601, microseconds and a ``Z``.

    >>> format_time(datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC))
    '2026-01-02T03:04:05.000006Z'
    """
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(kind: str, body: Mapping[str, Any], logged_at: datetime.datetime) -> bytes:
    """The bytes of the entry the log appends: ``body`` with its schema version, type and time, in
    RFC 8785 canonical JSON (the bytes the log hashes, never re-encoded).

    Only the portal writes entries; a volunteer's verifier only reads them, with the standard library,
    so the encoder is imported here rather than at the top.
    """
    import rfc8785

    entry_fields(kind)
    document = {"v": ENTRY_SCHEMA_VERSION, "type": kind, "logged_at": format_time(logged_at), **body}
    return rfc8785.dumps(document)


def parse_entry(data: bytes, *, what: str = "the log entry") -> dict[str, Any]:
    """An entry's bytes as a JSON object, read strictly; ``FormatError`` naming ``what`` otherwise."""
    entry = jsontext.loads(data, what=what)
    if not isinstance(entry, dict):
        raise FormatError(f"{what} is not a JSON object")
    return entry


class Written(enum.Enum):
    """How a member's value is written in its entry."""

    AS_IS = "as is"
    TIME = "a time, as format_time spells it"
    TIME_OR_NULL = "a time, or null for None"
    EMPTY_AS_NULL = "as is, or null when empty"
    # For members a type gained after its first entries were logged: an entry without the member (None)
    # is written as before, so entries logged earlier still read as their records.
    LEFT_OUT_WHEN_NONE = "as is, and left out of the body when None"

    def write(self, value: Any) -> Any:
        match self:
            case Written.TIME:
                return format_time(value)
            case Written.TIME_OR_NULL:
                return None if value is None else format_time(value)
            case Written.EMPTY_AS_NULL:
                return value or None
            case Written.AS_IS | Written.LEFT_OUT_WHEN_NONE:
                return value


@dataclass(frozen=True)
class EntryFields:
    """An entry type's members in order (the order of a body, and of a record's differences), each with how
    its value is written, and whether the type carries ``by`` (who caused it)."""

    members: Mapping[str, Written]
    by: bool


AS_IS, TIME, TIME_OR_NULL, EMPTY_AS_NULL, LEFT_OUT_WHEN_NONE = Written

# The format, one row per entry type (docs/formats/entries.md has a section for each). A key_revoked
# entry's revoked_at is null only when the audit rebuilds the entry of a key that is not revoked, to show
# that its row lost a revocation the log has.
ENTRY_FIELDS: Final[Mapping[str, EntryFields]] = {
    "release": EntryFields(
        {
            "project": AS_IS,
            "release_id": AS_IS,
            "version": AS_IS,
            "artifact_name": AS_IS,
            "artifact_digest": AS_IS,
            "source_commit": AS_IS,
            "repo_url": AS_IS,
            "ci_build_url": AS_IS,
            "envelope_sha256": AS_IS,
            "signer_key_id": AS_IS,
            "registered_at": TIME,
            # A keyless release (a Sigstore bundle; envelope_sha256 and signer_key_id null): the bundle's
            # hash and what its certificate says. Left out of a keyed release's entry.
            "sigstore_bundle_sha256": LEFT_OUT_WHEN_NONE,
            "certificate_issuer": LEFT_OUT_WHEN_NONE,
            "certificate_identity": LEFT_OUT_WHEN_NONE,
            "source_ref": LEFT_OUT_WHEN_NONE,
            "sigstore_log_index": LEFT_OUT_WHEN_NONE,
            # A release of several components: each {"name", "digest": {algorithm: hex}}, in the
            # statement's order. Left out of a one-artifact release's entry.
            "components": LEFT_OUT_WHEN_NONE,
        },
        by=True,
    ),
    "deployment": EntryFields(
        {
            "project": AS_IS,
            "environment": AS_IS,
            "deployment_id": AS_IS,
            "release_id": AS_IS,
            "version": AS_IS,
            "artifact_digest": AS_IS,
            "deployed_at": TIME,
            "pipeline_run_url": AS_IS,
        },
        by=True,
    ),
    "key_added": EntryFields(
        {
            "project": AS_IS,
            "key_id": AS_IS,
            "algorithm": AS_IS,
            "public_key_pem": AS_IS,
            "valid_from": TIME,
            "valid_until": TIME_OR_NULL,
        },
        by=True,
    ),
    "key_revoked": EntryFields({"project": AS_IS, "key_id": AS_IS, "revoked_at": TIME_OR_NULL}, by=True),
    # A CI identity a project trusts for keyless releases (a policy on a Sigstore certificate), and its
    # removal; workflow and ref are fnmatch patterns, "" for any. removed_at is null as key_revoked's is.
    "identity_added": EntryFields(
        {
            "project": AS_IS,
            "identity_id": AS_IS,
            "issuer": AS_IS,
            "repository": AS_IS,
            "workflow": AS_IS,
            "ref": AS_IS,
            "added_at": TIME,
        },
        by=True,
    ),
    "identity_removed": EntryFields(
        {"project": AS_IS, "identity_id": AS_IS, "removed_at": TIME_OR_NULL}, by=True
    ),
    "status": EntryFields(
        {
            "project": AS_IS,
            "environment": AS_IS,
            "result": AS_IS,
            "reason": EMPTY_AS_NULL,
            "live_digest": EMPTY_AS_NULL,
            "expected_digest": EMPTY_AS_NULL,
            "observed_at": TIME,
        },
        by=False,
    ),
    # An operator's public note beside a light; environment null: the note is for the whole project.
    "note": EntryFields(
        {
            "project": AS_IS,
            "environment": AS_IS,
            "note_id": AS_IS,
            "kind": AS_IS,
            "text": AS_IS,
            "starts_at": TIME,
            "ends_at": TIME_OR_NULL,
        },
        by=True,
    ),
    # An independent observer (docs/observers.md): registered with its key, named in public, removed like
    # a key is revoked (removed_at null as key_revoked's revoked_at is).
    "observer_added": EntryFields(
        {
            "observer_id": AS_IS,
            "name": AS_IS,
            "key_id": AS_IS,
            "algorithm": AS_IS,
            "public_key_pem": AS_IS,
            "added_at": TIME,
        },
        by=True,
    ),
    "observer_removed": EntryFields(
        {"observer_id": AS_IS, "name": AS_IS, "removed_at": TIME_OR_NULL}, by=True
    ),
    # What an observer saw of an environment, as it signed it: the envelope's hash commits to the whole
    # signed statement; the members repeat what the pages and the light use of it.
    "observer_report": EntryFields(
        {
            "project": AS_IS,
            "environment": AS_IS,
            "report_id": AS_IS,
            "observer": AS_IS,
            "observer_key_id": AS_IS,
            "deployment_id": AS_IS,
            "observed_at": TIME,
            "result": AS_IS,
            "reason": EMPTY_AS_NULL,
            "live_digest": EMPTY_AS_NULL,
            "expected_digest": EMPTY_AS_NULL,
            "envelope_sha256": AS_IS,
        },
        by=False,
    ),
    # An independent rebuilder (docs/rebuilders.md), registered and removed as an observer is.
    "rebuilder_added": EntryFields(
        {
            "rebuilder_id": AS_IS,
            "name": AS_IS,
            "key_id": AS_IS,
            "algorithm": AS_IS,
            "public_key_pem": AS_IS,
            "added_at": TIME,
        },
        by=True,
    ),
    "rebuilder_removed": EntryFields(
        {"rebuilder_id": AS_IS, "name": AS_IS, "removed_at": TIME_OR_NULL}, by=True
    ),
    # What a rebuilder got rebuilding a release (subjects as its statement names them), and the portal's
    # comparison with the release ("reproduced" or "differs"); the envelope's hash commits to the statement.
    "rebuild": EntryFields(
        {
            "project": AS_IS,
            "release_id": AS_IS,
            "version": AS_IS,
            "rebuild_id": AS_IS,
            "rebuilder": AS_IS,
            "rebuilder_key_id": AS_IS,
            "rebuilt_at": TIME,
            "result": AS_IS,
            "subjects": AS_IS,
            "envelope_sha256": AS_IS,
        },
        by=False,
    ),
    # An operator's public answer to a rebuild that got something else.
    "rebuild_answer": EntryFields(
        {
            "project": AS_IS,
            "release_id": AS_IS,
            "rebuild_id": AS_IS,
            "answer_id": AS_IS,
            "text": AS_IS,
            "answered_at": TIME,
        },
        by=True,
    ),
    # A witness the portal asks to cosign its checkpoints (C2SP tlog-witness): its public name, its
    # cosignature/v1 verifier key and where it takes checkpoints; removed as an observer is.
    "witness_added": EntryFields(
        {"name": AS_IS, "verifier_key": AS_IS, "url": AS_IS, "added_at": TIME}, by=True
    ),
    "witness_removed": EntryFields(
        {"name": AS_IS, "verifier_key": AS_IS, "removed_at": TIME_OR_NULL}, by=True
    ),
}
ENTRY_TYPES: Final = tuple(ENTRY_FIELDS)


def entry_fields(kind: str) -> EntryFields:
    """``kind``'s row of ``ENTRY_FIELDS``; ``ValueError`` for a name that is not an entry type."""
    if kind not in ENTRY_FIELDS:
        raise ValueError(f"{kind!r} is not an entry type ({', '.join(ENTRY_TYPES)})")
    return ENTRY_FIELDS[kind]


def entry_body(kind: str, values: Mapping[str, Any], *, by: Actor | None = None) -> Body:
    """A ``kind`` entry's body: each member of its ``ENTRY_FIELDS`` row written from ``values``, in the
    row's order, then ``by`` unless it is None.

    ``values`` must hold exactly the type's members, and ``by`` is only for types that carry it: anything
    else is a ``ValueError`` naming the members at fault (a mistake in the calling code, never outside
    input). Times are aware datetimes.

    >>> entry_body("key_revoked", {"project": "demo", "key_id": "9e", "revoked_at": None})
    {'project': 'demo', 'key_id': '9e', 'revoked_at': None}
    """
    fields = entry_fields(kind)
    missing = [name for name in fields.members if name not in values]
    unexpected = [name for name in values if name not in fields.members]
    if missing or unexpected:
        problems = [
            f"{label} {', '.join(names)}"
            for label, names in (("missing", missing), ("unexpected", unexpected))
            if names
        ]
        raise ValueError(f"a {kind} entry's values: {'; '.join(problems)}")
    if by is not None and not fields.by:
        raise ValueError(f"a {kind} entry has no 'by'")
    body: Body = {
        name: written.write(values[name])
        for name, written in fields.members.items()
        if not (written is Written.LEFT_OUT_WHEN_NONE and values[name] is None)
    }
    if by is not None:
        body["by"] = dict(by)
    return body


class _Absent:
    """The value of a member an entry does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


@dataclass(frozen=True)
class Difference:
    """One member on which a record and its log entry disagree: the evidence, both sides of it.

    ``logged`` is ``ABSENT`` when the entry has no such member.
    """

    field: str
    recorded: Any
    logged: Any


def entry_differences(kind: str, record: Mapping[str, Any], entry: Mapping[str, Any]) -> list[Difference]:
    """How ``entry`` disagrees with ``record``, which should be a ``kind`` entry's body (an empty list: it
    agrees). Each member of ``record`` must be in the entry with the same JSON value (``1`` is not ``true``
    nor ``1.0``); members the record does not have (``by``, ``logged_at``) are not compared.

    An entry of another schema version or type is not compared member by member: the one difference is
    then on ``v`` or on ``type``.

    >>> entry_differences("deployment", {"release_id": 7}, {"v": 1, "type": "deployment", "release_id": 8})
    [Difference(field='release_id', recorded=7, logged=8)]
    """
    for field, value in (("v", ENTRY_SCHEMA_VERSION), ("type", kind)):
        difference = _difference(field, value, entry)
        if difference is not None:
            return [difference]
    found = (_difference(field, value, entry) for field, value in record.items())
    return [difference for difference in found if difference is not None]


def _difference(field: str, value: Any, entry: Mapping[str, Any]) -> Difference | None:
    logged = entry.get(field, ABSENT)
    if logged is ABSENT or _json(logged) != _json(value):
        return Difference(field, value, logged)
    return None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


__all__ = [
    "ABSENT",
    "ENTRY_SCHEMA_VERSION",
    "ENTRY_TYPES",
    "Difference",
    "ENTRY_FIELDS",
    "EntryFields",
    "Written",
    "canonical_entry",
    "entry_body",
    "entry_differences",
    "entry_fields",
    "format_time",
    "parse_entry",
]

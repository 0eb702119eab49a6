"""Log entries (schema version 1): the one implementation of the format in ``docs/formats/entries.md``.

The portal writes every entry with these builders and ``canonical_entry``; its self-audit, its proof
bundles and a volunteer's bundle check all compare a record with its entry through ``entry_differences``.
A new entry type is one builder here, one row in the portal's ``LogEntry.Kind`` and one section of the
format page.

A builder takes the record's values and returns the entry's body: every member but ``v``, ``type`` and
``logged_at``, which ``canonical_entry`` adds when the entry is appended. ``by`` (who caused the entry)
is left out when it is None: that is the record as the audit and the bundles compare it, since who
caused an entry is not a value of the record, and token and user names may change.

Pure: no Django, no network, no clock; times come in as aware datetimes and go out as ``format_time``
text.
"""

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import jsontext
from .errors import FormatError

ENTRY_SCHEMA_VERSION: Final = 1
ENTRY_TYPES: Final = ("release", "deployment", "key_added", "key_revoked", "status")

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

    if kind not in ENTRY_TYPES:
        raise ValueError(f"{kind!r} is not an entry type ({', '.join(ENTRY_TYPES)})")
    document = {"v": ENTRY_SCHEMA_VERSION, "type": kind, "logged_at": format_time(logged_at), **body}
    return rfc8785.dumps(document)


def parse_entry(data: bytes, *, what: str = "the log entry") -> dict[str, Any]:
    """An entry's bytes as a JSON object, read strictly; ``FormatError`` naming ``what`` otherwise."""
    entry = jsontext.loads(data, what=what)
    if not isinstance(entry, dict):
        raise FormatError(f"{what} is not a JSON object")
    return entry


def _by(body: Body, by: Actor | None) -> Body:
    if by is not None:
        body["by"] = dict(by)
    return body


def _time_or_none(moment: datetime.datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def release_entry(
    *,
    project: str,
    release_id: int,
    version: str,
    artifact_name: str,
    artifact_digest: str,
    source_commit: str,
    repo_url: str,
    ci_build_url: str,
    envelope_sha256: str,
    signer_key_id: str,
    registered_at: datetime.datetime,
    by: Actor | None = None,
) -> Body:
    """A signed release was registered."""
    body: Body = {
        "project": project,
        "release_id": release_id,
        "version": version,
        "artifact_name": artifact_name,
        "artifact_digest": artifact_digest,
        "source_commit": source_commit,
        "repo_url": repo_url,
        "ci_build_url": ci_build_url,
        "envelope_sha256": envelope_sha256,
        "signer_key_id": signer_key_id,
        "registered_at": format_time(registered_at),
    }
    return _by(body, by)


def deployment_entry(
    *,
    project: str,
    environment: str,
    deployment_id: int,
    release_id: int,
    version: str,
    artifact_digest: str,
    deployed_at: datetime.datetime,
    pipeline_run_url: str,
    by: Actor | None = None,
) -> Body:
    """A release was declared deployed to an environment."""
    body: Body = {
        "project": project,
        "environment": environment,
        "deployment_id": deployment_id,
        "release_id": release_id,
        "version": version,
        "artifact_digest": artifact_digest,
        "deployed_at": format_time(deployed_at),
        "pipeline_run_url": pipeline_run_url,
    }
    return _by(body, by)


def key_added_entry(
    *,
    project: str,
    key_id: str,
    algorithm: str,
    public_key_pem: str,
    valid_from: datetime.datetime,
    valid_until: datetime.datetime | None,
    by: Actor | None = None,
) -> Body:
    """A project started trusting a signing key (``valid_until`` None: no end)."""
    body: Body = {
        "project": project,
        "key_id": key_id,
        "algorithm": algorithm,
        "public_key_pem": public_key_pem,
        "valid_from": format_time(valid_from),
        "valid_until": _time_or_none(valid_until),
    }
    return _by(body, by)


def key_revoked_entry(
    *, project: str, key_id: str, revoked_at: datetime.datetime | None, by: Actor | None = None
) -> Body:
    """A signing key was revoked. ``revoked_at`` is None only when the audit rebuilds the entry of a key
    that is not revoked, to show that its row lost a revocation the log has."""
    body: Body = {"project": project, "key_id": key_id, "revoked_at": _time_or_none(revoked_at)}
    return _by(body, by)


def status_entry(
    *,
    project: str,
    environment: str,
    result: str,
    reason: str | None,
    live_digest: str | None,
    expected_digest: str | None,
    observed_at: datetime.datetime,
) -> Body:
    """An environment's status changed. Empty reasons and digests are logged as null."""
    return {
        "project": project,
        "environment": environment,
        "result": result,
        "reason": reason or None,
        "live_digest": live_digest or None,
        "expected_digest": expected_digest or None,
        "observed_at": format_time(observed_at),
    }


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
    "canonical_entry",
    "deployment_entry",
    "entry_differences",
    "format_time",
    "key_added_entry",
    "key_revoked_entry",
    "parse_entry",
    "release_entry",
    "status_entry",
]

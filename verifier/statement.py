"""in-toto Statement v1 with a SLSA provenance v1 predicate: what a release's signature vouches for.

Vitrina reads four facts from a signed statement (field locations as in the in-toto and SLSA specs):

- the artifact: the first ``subject[]`` with a ``digest.sha256``;
- the source: the first ``predicate.buildDefinition.resolvedDependencies[]`` entry with a
  ``digest.gitCommit``, and its ``uri``;
- the CI build log: ``predicate.runDetails.metadata.invocationId``;
- the builder: ``predicate.runDetails.builder.id``.

Everything else is kept in ``Statement.raw`` for display but decides nothing. Only Statement v1 and
provenance v1 are accepted: older versions put these facts elsewhere, and guessing is how a verifier
ends up checking a field the signer never meant.
"""

import json
from dataclasses import dataclass
from typing import Any

from verifier import jsontext
from verifier.digest import format_digest, is_commit_id, parse_digest
from verifier.errors import FormatError, StatementError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"

# SLSA leaves buildType to each build platform. Ours names a generic CI job that builds one artifact
# from one git commit; the .invalid domain says it is a name, not a page to fetch.
BUILD_TYPE = "https://vitrina.invalid/buildtypes/ci/v1"
DEFAULT_BUILDER_ID = "https://vitrina.invalid/ci"


@dataclass(frozen=True)
class Subject:
    """An artifact named by the statement; ``sha256`` is 64 lowercase hex, without the ``sha256:`` prefix."""

    name: str
    sha256: str


@dataclass
class Statement:
    """The facts Vitrina uses from a statement. ``subjects`` lists only subjects with a sha256 digest."""

    subjects: list[Subject]
    predicate_type: str
    source_uri: str
    source_commit: str
    ci_build_url: str | None
    builder_id: str | None
    raw: dict[str, Any]

    @property
    def artifact_digest(self) -> str:
        """``sha256:<hex>`` of the artifact: the first subject's digest."""
        return format_digest(self.subjects[0].sha256)

    @property
    def artifact_name(self) -> str:
        return self.subjects[0].name


def parse_statement(payload: bytes) -> Statement:
    """Parse a DSSE payload into a ``Statement``, or raise ``StatementError`` saying what is wrong."""
    raw = _load_json_object(payload)
    if raw.get("_type") != STATEMENT_TYPE:
        raise StatementError(
            f"{_field_is(raw, '_type')}; only in-toto Statement v1 ({STATEMENT_TYPE}) is accepted"
        )
    if raw.get("predicateType") != SLSA_PROVENANCE_V1:
        raise StatementError(
            f"{_field_is(raw, 'predicateType')}; only SLSA provenance v1 ({SLSA_PROVENANCE_V1}) is accepted"
        )
    source_uri, source_commit = _source(raw)
    return Statement(
        subjects=_subjects(raw),
        predicate_type=raw["predicateType"],
        source_uri=source_uri,
        source_commit=source_commit,
        ci_build_url=_string_at(raw, "predicate", "runDetails", "metadata", "invocationId"),
        builder_id=_string_at(raw, "predicate", "runDetails", "builder", "id"),
        raw=raw,
    )


def build_statement(
    *,
    artifact_name: str,
    artifact_digest: str,
    repo_uri: str,
    commit: str,
    ci_build_url: str | None = None,
    builder_id: str = DEFAULT_BUILDER_ID,
) -> dict[str, Any]:
    """Return a Statement v1 dict with a SLSA provenance v1 predicate, ready for ``statement_to_payload``.

    What a CI job signs: the artifact (name, ``sha256:<hex>``), the repository and commit it was built
    from, and optionally the URL of the build log. Raises ``FormatError`` for a malformed digest or
    commit, so a CI job cannot sign a statement that every verifier would refuse.
    """
    if not is_commit_id(commit):
        raise FormatError(f"commit must be 40 lowercase hex characters (or 64), got {commit!r}")
    run_details: dict[str, Any] = {"builder": {"id": builder_id}}
    if ci_build_url is not None:
        run_details["metadata"] = {"invocationId": ci_build_url}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": artifact_name, "digest": {"sha256": parse_digest(artifact_digest)}}],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"repository": repo_uri, "commit": commit},
                "resolvedDependencies": [{"uri": repo_uri, "digest": {"gitCommit": commit}}],
            },
            "runDetails": run_details,
        },
    }


def statement_to_payload(statement: dict[str, Any]) -> bytes:
    """Serialize a statement dict as compact UTF-8 JSON with sorted keys (the bytes that get signed)."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load_json_object(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object; a payload that is not one is a refused statement, not bad input."""
    try:
        return jsontext.loads_object(payload, what="the signed payload")
    except FormatError as e:
        raise StatementError(f"{e}, so not an in-toto Statement") from None


def _field_is(raw: dict[str, Any], name: str) -> str:
    return f"{name} is {raw[name]!r}" if name in raw else f"the statement has no {name}"


def _subjects(raw: dict[str, Any]) -> list[Subject]:
    subjects: list[Subject] = []
    entries = raw.get("subject")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        sha256 = _value_at(entry, "digest", "sha256")
        if sha256 is None:
            continue
        try:
            parse_digest(f"sha256:{sha256}" if isinstance(sha256, str) else sha256)
        except FormatError as e:
            raise StatementError(f"subject[{i}].digest.sha256 is malformed: {e}") from e
        name = entry.get("name")
        subjects.append(Subject(name=name if isinstance(name, str) else "", sha256=sha256))
    if not subjects:
        raise StatementError("the statement has no subject with a sha256 digest")
    return subjects


def _source(raw: dict[str, Any]) -> tuple[str, str]:
    """Return (uri, gitCommit) of the first resolved dependency that names a git commit."""
    dependencies = _value_at(raw, "predicate", "buildDefinition", "resolvedDependencies")
    for i, dependency in enumerate(dependencies if isinstance(dependencies, list) else []):
        commit = _value_at(dependency, "digest", "gitCommit")
        if commit is None:
            continue
        where = f"predicate.buildDefinition.resolvedDependencies[{i}]"
        if not is_commit_id(commit):
            raise StatementError(
                f"{where}.digest.gitCommit must be 40 lowercase hex characters "
                f"(64 for a SHA-256 repository), got {commit!r}"
            )
        uri = dependency.get("uri")
        if not isinstance(uri, str) or not uri:
            raise StatementError(f"{where} names a git commit but has no uri saying which repository")
        return uri, commit
    raise StatementError(
        "the statement names no source commit "
        "(no predicate.buildDefinition.resolvedDependencies[] entry with digest.gitCommit)"
    )


def _value_at(obj: Any, *path: str) -> Any:
    """Follow ``path`` through nested objects; ``None`` if any step is missing or not an object."""
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _string_at(obj: Any, *path: str) -> str | None:
    value = _value_at(obj, *path)
    return value if isinstance(value, str) else None

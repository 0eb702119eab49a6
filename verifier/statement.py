"""in-toto Statement v1 with a SLSA provenance v1 predicate: what a release's signature vouches for.

Vitrina reads four facts from a signed statement (field locations as in the in-toto and SLSA specs):

- the artifacts: every ``subject[]`` with a ``digest.sha256`` or ``digest.sha512``. One subject is a
  one-artifact release, named by its sha256; several are a release of several named components (a
  ``web`` image, a ``worker`` image, a ``static`` bundle), each with its digest set. The release's
  ``artifact_digest`` is then the first subject's sha256, and every component counts: none is ignored;
- the source: the first ``predicate.buildDefinition.resolvedDependencies[]`` entry with a
  ``digest.gitCommit``, and its ``uri``;
- the CI build log: ``predicate.runDetails.metadata.invocationId``;
- the builder: ``predicate.runDetails.builder.id``;
- the files a web release serves to browsers (optional): every ``predicate.runDetails.byproducts[]``
  resource descriptor annotated ``{"vitrina.served": "file"}``, its ``name`` the file's public path
  (``/static/app.js``, or a full ``https://`` URL for a file served from another origin) and its
  ``digest.sha256``; and the inline scripts a page may carry, annotated ``{"vitrina.served":
  "inline-script"}``, each named by the sha256 of its text (as a CSP ``'sha256-…'`` source names it).
  The format is in ``docs/formats/served-files.md``;
- how to rebuild it (optional): ``predicate.buildDefinition.externalParameters`` ``buildCommand`` (one
  shell command run at the repository's root), ``buildEnvironment`` (the variables it needs, name to
  value, e.g. a container image digest or a Python version) and ``buildOutputs`` (each subject's name to
  the path, relative to the repository's root, where the build leaves it). ``docs/rebuilders.md``.

Everything else is kept in ``Statement.raw`` for display but decides nothing. Only Statement v1 and
provenance v1 are accepted: older versions put these facts elsewhere, and guessing is how a verifier
ends up checking a field the signer never meant.
"""

import json
import re
from collections.abc import Mapping, Sequence
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


# The digest algorithms a component may be named by, strongest first, with their hex lengths.
DIGEST_ALGORITHMS: dict[str, int] = {"sha512": 128, "sha256": 64}
_COMPONENT_DIGEST = re.compile(r"(sha256|sha512):([0-9a-f]+)")
MAX_COMPONENT_NAME = 200

# Served files: the annotation that marks a byproduct as one, its two values, and the caps.
SERVED_ANNOTATION = "vitrina.served"
SERVED_FILE = "file"
INLINE_SCRIPT = "inline-script"
MAX_SERVED_FILES = 10_000
MAX_SERVED_PATH = 2048
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ServedFile:
    """A file a web release serves: its public ``path`` (``/static/app.js``, or an ``https://`` URL for
    one served from another origin) and the lowercase hex sha256 of its bytes."""

    path: str
    sha256: str


@dataclass(frozen=True)
class Subject:
    """An artifact named by the statement, with its digest set: algorithm (``sha256``, ``sha512``) to
    lowercase hex, without the ``<algorithm>:`` prefix. At least one of the two is there."""

    name: str
    digests: Mapping[str, str]

    @property
    def sha256(self) -> str | None:
        return self.digests.get("sha256")

    def to_json(self) -> dict[str, Any]:
        """The subject as a statement (and a release's log entry) spells it: ``{"name", "digest"}``."""
        return {"name": self.name, "digest": dict(sorted(self.digests.items()))}


@dataclass(frozen=True)
class BuildInstructions:
    """How anyone can rebuild a release: ``command`` run with ``environment`` at the root of a checkout of
    the commit; ``outputs`` maps each subject's name to where the build leaves it."""

    command: str
    environment: Mapping[str, str]
    outputs: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "buildCommand": self.command,
            "buildEnvironment": dict(sorted(self.environment.items())),
            "buildOutputs": dict(sorted(self.outputs.items())),
        }


MAX_BUILD_COMMAND = 4096


@dataclass
class Statement:
    """The facts Vitrina uses from a statement. ``subjects`` lists the subjects with a sha256 or sha512
    digest, in the statement's order."""

    subjects: list[Subject]
    predicate_type: str
    source_uri: str
    source_commit: str
    ci_build_url: str | None
    builder_id: str | None
    raw: dict[str, Any]
    served_files: tuple[ServedFile, ...] = ()
    inline_scripts: frozenset[str] = frozenset()  # sha256 hex of each declared inline script's text
    build: "BuildInstructions | None" = None

    @property
    def artifact_digest(self) -> str:
        """``sha256:<hex>`` of the release: the first subject with a sha256 digest (``parse_statement``
        refuses a statement without one)."""
        return format_digest(next(subject.sha256 for subject in self.subjects if subject.sha256))

    @property
    def artifact_name(self) -> str:
        return next(subject.name for subject in self.subjects if subject.sha256)

    @property
    def components(self) -> list[Subject]:
        """The release's components when it has several; empty for a one-artifact release."""
        return self.subjects if len(self.subjects) > 1 else []


def component_digest(text: object) -> tuple[str, str]:
    """``(algorithm, hex)`` of a component's digest as text, ``sha256:<64 hex>`` or ``sha512:<128 hex>``
    (an OCI image digest is one); ``FormatError`` saying what is wrong otherwise."""
    match = _COMPONENT_DIGEST.fullmatch(text) if isinstance(text, str) else None
    if match is None or len(match[2]) != DIGEST_ALGORITHMS[match[1]]:
        shown = text[:80] if isinstance(text, str) else type(text).__name__
        raise FormatError(
            f"a component digest must be 'sha256:<64 lowercase hex>' or 'sha512:<128 lowercase hex>', "
            f"got {shown!r}"
        )
    return match[1], match[2]


def strongest_common(first: Mapping[str, str], second: Mapping[str, str]) -> str | None:
    """The strongest digest algorithm both digest sets know, or None when they share none."""
    return next((name for name in DIGEST_ALGORITHMS if name in first and name in second), None)


def digest_sets_match(declared: Mapping[str, str], reported: Mapping[str, str]) -> bool | None:
    """Whether two digest sets name the same artifact, by the strongest algorithm both know; None when
    they share no algorithm (nothing can be compared)."""
    algorithm = strongest_common(declared, reported)
    return None if algorithm is None else declared[algorithm] == reported[algorithm]


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
        build=_build(raw),
        **_served(raw),
    )


def build_statement(
    *,
    artifact_name: str,
    artifact_digest: str,
    repo_uri: str,
    commit: str,
    ci_build_url: str | None = None,
    builder_id: str = DEFAULT_BUILDER_ID,
    components: Sequence[tuple[str, str]] = (),
    served_files: Sequence[ServedFile] = (),
    inline_scripts: Sequence[str] = (),
    build: BuildInstructions | None = None,
) -> dict[str, Any]:
    """Return a Statement v1 dict with a SLSA provenance v1 predicate, ready for ``statement_to_payload``.

    What a CI job signs: the artifact (name, ``sha256:<hex>``), or several ``components`` (name, digest:
    ``sha256:<hex>`` or ``sha512:<hex>``) instead, the repository and commit it was built from, and
    optionally the URL of the build log, and the ``served_files`` and ``inline_scripts`` (sha256 hex of
    each script's text) of a web release, and the ``build`` instructions a rebuilder follows. Raises
    ``FormatError`` for a malformed digest or commit, or components (or anything else) ``parse_statement``
    would refuse, so a CI job cannot sign a statement that every verifier would refuse.
    """
    if not is_commit_id(commit):
        raise FormatError(f"commit must be 40 lowercase hex characters (or 64), got {commit!r}")
    subjects = (
        [_component_subject(name, digest) for name, digest in components]
        if components
        else [Subject(artifact_name, {"sha256": parse_digest(artifact_digest)})]
    )
    try:
        _check_subjects(subjects)
    except StatementError as e:
        raise FormatError(str(e)) from None
    run_details: dict[str, Any] = {"builder": {"id": builder_id}}
    if ci_build_url is not None:
        run_details["metadata"] = {"invocationId": ci_build_url}
    byproducts = served_byproducts(served_files, inline_scripts)
    if byproducts:
        try:
            _served({"predicate": {"runDetails": {"byproducts": byproducts}}})
        except StatementError as e:
            raise FormatError(str(e)) from None
        run_details["byproducts"] = byproducts
    external: dict[str, Any] = {"repository": repo_uri, "commit": commit}
    if build is not None:
        external.update(build.to_json())
        try:
            _build({"predicate": {"buildDefinition": {"externalParameters": external}}})
        except StatementError as e:
            raise FormatError(str(e)) from None
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject.to_json() for subject in subjects],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "resolvedDependencies": [{"uri": repo_uri, "digest": {"gitCommit": commit}}],
            },
            "runDetails": run_details,
        },
    }


def served_byproducts(
    served_files: Sequence[ServedFile], inline_scripts: Sequence[str]
) -> list[dict[str, Any]]:
    """The resource descriptors that list a web release's served files and declared inline scripts."""
    files = [
        {"name": f.path, "digest": {"sha256": f.sha256}, "annotations": {SERVED_ANNOTATION: SERVED_FILE}}
        for f in served_files
    ]
    scripts = [
        {
            "name": f"inline-script-{i}",
            "digest": {"sha256": digest},
            "annotations": {SERVED_ANNOTATION: INLINE_SCRIPT},
        }
        for i, digest in enumerate(inline_scripts, 1)
    ]
    return files + scripts


def _served(raw: dict[str, Any]) -> dict[str, Any]:
    """``served_files`` and ``inline_scripts`` from the byproducts marked as served, strictly: a marked
    byproduct that is malformed, a path given twice, or a list over the caps is a ``StatementError``."""
    byproducts = _value_at(raw, "predicate", "runDetails", "byproducts")
    files: list[ServedFile] = []
    scripts: set[str] = set()
    seen: set[str] = set()
    for i, item in enumerate(byproducts if isinstance(byproducts, list) else []):
        marked = _value_at(item, "annotations", SERVED_ANNOTATION)
        if marked is None:
            continue
        where = f"predicate.runDetails.byproducts[{i}]"
        sha256 = _value_at(item, "digest", "sha256")
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise StatementError(f"{where}.digest.sha256 must be 64 lowercase hex characters")
        if marked == INLINE_SCRIPT:
            scripts.add(sha256)
            continue
        if marked != SERVED_FILE:
            raise StatementError(
                f"{where}: annotation {SERVED_ANNOTATION} must be {SERVED_FILE!r} or {INLINE_SCRIPT!r}"
            )
        path = item.get("name")
        if not isinstance(path, str) or not served_path_ok(path):
            raise StatementError(
                f"{where}.name must be a public path starting with '/' or an https:// URL, of at most "
                f"{MAX_SERVED_PATH} characters without spaces"
            )
        if path in seen:
            raise StatementError(f"{where}: the served file {path[:100]!r} is listed twice")
        seen.add(path)
        files.append(ServedFile(path, sha256))
        if len(files) + len(scripts) > MAX_SERVED_FILES:
            raise StatementError(f"the statement lists more than {MAX_SERVED_FILES} served files")
    return {"served_files": tuple(files), "inline_scripts": frozenset(scripts)}


def _build(raw: dict[str, Any]) -> BuildInstructions | None:
    """The build instructions in ``externalParameters``, or None when there is no ``buildCommand``;
    ``StatementError`` naming the member when they are malformed."""
    where = "predicate.buildDefinition.externalParameters"
    external = _value_at(raw, "predicate", "buildDefinition", "externalParameters")
    if not isinstance(external, dict) or "buildCommand" not in external:
        return None
    command = external["buildCommand"]
    if not isinstance(command, str) or not command.strip() or len(command) > MAX_BUILD_COMMAND:
        raise StatementError(f"{where}.buildCommand must be a command of 1 to {MAX_BUILD_COMMAND} characters")
    maps = {}
    for name in ("buildEnvironment", "buildOutputs"):
        value = external.get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
        ):
            raise StatementError(f"{where}.{name} must be an object of strings")
        maps[name] = value
    for path in maps["buildOutputs"].values():
        if not path or path.startswith("/") or ".." in path.split("/") or "\\" in path:
            raise StatementError(f"{where}.buildOutputs: {path[:80]!r} is not a path inside the repository")
    return BuildInstructions(command, maps["buildEnvironment"], maps["buildOutputs"])


def served_path_ok(path: str) -> bool:
    """A served file's name: its path on the site (``/static/app.js``) or an ``https://`` URL, without
    whitespace, a query or a fragment, within ``MAX_SERVED_PATH`` characters."""
    if not path or len(path) > MAX_SERVED_PATH or any(c.isspace() or c in "?#" for c in path):
        return False
    return path.startswith("/") and not path.startswith("//") or path.startswith("https://")


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


def _component_subject(name: str, digest: str) -> Subject:
    algorithm, hex_part = component_digest(digest)
    return Subject(name, {algorithm: hex_part})


def _subjects(raw: dict[str, Any]) -> list[Subject]:
    subjects: list[Subject] = []
    entries = raw.get("subject")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        digests: dict[str, str] = {}
        for algorithm in DIGEST_ALGORITHMS:
            value = _value_at(entry, "digest", algorithm)
            if value is None:
                continue
            try:
                digests[algorithm] = component_digest(
                    f"{algorithm}:{value}" if isinstance(value, str) else value
                )[1]
            except FormatError as e:
                raise StatementError(f"subject[{i}].digest.{algorithm} is malformed: {e}") from e
        if not digests:
            continue
        name = entry.get("name")
        subjects.append(Subject(name=name if isinstance(name, str) else "", digests=digests))
    if not subjects:
        raise StatementError("the statement has no subject with a sha256 digest (nor a sha512 one)")
    _check_subjects(subjects)
    return subjects


def _check_subjects(subjects: list[Subject]) -> None:
    """A release is named by a sha256 digest; the components of a release of several are told apart by
    their names, so each needs one of its own."""
    if not any(subject.sha256 for subject in subjects):
        raise StatementError(
            "the statement has no subject with a sha256 digest, only sha512 ones; Vitrina names a release "
            "by the sha256 digest of its artifact, so sign the statement with the sha256 digest too"
        )
    if len(subjects) < 2:
        return
    seen: set[str] = set()
    for i, subject in enumerate(subjects):
        if not subject.name or len(subject.name) > MAX_COMPONENT_NAME:
            raise StatementError(
                f"subject[{i}] has no name (or one longer than {MAX_COMPONENT_NAME} characters): in a "
                "release of several components each subject names its component"
            )
        if subject.name in seen:
            raise StatementError(
                f"two subjects are named {subject.name!r}: each component of a release needs its own name"
            )
        seen.add(subject.name)


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

"""A rebuilder's signed rebuild attestation: what an independent rebuilder got rebuilding a release.

An attestation is an in-toto Statement v1 with a SLSA provenance v1 predicate (so
``statement.parse_statement`` reads it as any provenance) in a DSSE envelope signed with the rebuilder's
own key; the format is in ``docs/formats/rebuild.md``. Its subjects are what the rebuilder got, one per
subject of the release and under the same names; the build definition (``REBUILD_BUILD_TYPE``) says what
was rebuilt (repository, commit, the release's build instructions) and for which release
(``externalParameters.release``); the run details name the rebuilder as the builder
(``REBUILDER_ID_PREFIX`` + its percent-encoded name) and carry the run's id and times.

``build_rebuild_statement`` writes the statement, ``sign_rebuild`` signs it, ``parse_rebuild`` reads a
signed payload strictly (a missing, extra or malformed member is a ``StatementError`` naming it),
``verify_rebuild`` checks an envelope under one rebuilder's key, then parses it; ``check_release_link``
says whether it is about a given release and ``compare_rebuild`` compares its subjects with the release's.

Pure: no Django, no network, no clock.
"""

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import quote, unquote

from verifier import dsse
from verifier.digest import format_digest, is_commit_id, parse_digest
from verifier.entries import format_time
from verifier.errors import FormatError, StatementError
from verifier.keys import PrivateKey, PublicKey
from verifier.statement import (
    DIGEST_ALGORITHMS,
    MAX_COMPONENT_NAME,
    SLSA_PROVENANCE_V1,
    STATEMENT_TYPE,
    BuildInstructions,
    Subject,
    parse_statement,
    statement_to_payload,
    strongest_common,
)

REBUILD_BUILD_TYPE: Final = "https://vitrina.invalid/buildtypes/rebuild/v1"
REBUILDER_ID_PREFIX: Final = "https://vitrina.invalid/rebuilders/"

REPRODUCED: Final = "reproduced"
DIFFERS: Final = "differs"
RebuildResult = Literal["reproduced", "differs"]

MAX_NAME: Final = 200
MAX_URL: Final = 2048
MAX_INVOCATION_ID: Final = 200
MAX_SUBJECTS: Final = 64

_RELEASE_FIELDS: Final = ("portal", "project", "version", "release_id", "artifact_digest")
_EXTERNAL_FIELDS: Final = (
    "repository",
    "commit",
    "buildCommand",
    "buildEnvironment",
    "buildOutputs",
    "release",
)
_METADATA_FIELDS: Final = ("invocationId", "startedOn", "finishedOn")
# RFC 3339 in UTC with a "Z", as entries.format_time writes it; a fraction of up to 6 digits is optional.
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z")


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild attestation says. ``subjects`` are what the rebuilder got (digest sets as in
    ``statement.Subject``); ``portal``, ``project``, ``version``, ``release_id`` and ``artifact_digest``
    (``sha256:<hex>``) name the release it rebuilt; ``repository``, ``commit`` and ``build`` what it
    built and how; ``started_on`` and ``finished_on`` are aware UTC times; ``invocation_id`` names this
    run of the rebuilder (so two runs are told apart)."""

    subjects: tuple[Subject, ...]
    portal: str
    project: str
    version: str
    release_id: int
    artifact_digest: str
    repository: str
    commit: str
    build: BuildInstructions
    rebuilder: str
    started_on: datetime.datetime
    finished_on: datetime.datetime
    invocation_id: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def rebuilt_at(self) -> datetime.datetime:
        """When the rebuild is said to have happened (a rebuild record's ``rebuilt_at``): when it finished."""
        return self.finished_on


class SubjectDifference(NamedTuple):
    """A subject the rebuilder got otherwise: ``expected`` (the release's) and ``got`` as ``alg:hex``
    in the strongest algorithm both name."""

    name: str
    expected: str
    got: str


@dataclass(frozen=True)
class RebuildComparison:
    """``reproduced`` when every subject matches the release's, ``differs`` with the ones that do not."""

    result: RebuildResult
    differences: tuple[SubjectDifference, ...] = ()


def rebuilder_id(name: str) -> str:
    """The builder id naming the rebuilder ``name`` in its attestations."""
    return REBUILDER_ID_PREFIX + quote(name, safe="")


def build_rebuild_statement(rebuilt: Rebuilt) -> dict[str, Any]:
    """The Statement v1 dict of ``rebuilt``, ready for ``sign_rebuild``; ``FormatError`` if it would not
    parse back (the rules of ``parse_rebuild``, so no rebuilder signs what every verifier refuses)."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [subject.to_json() for subject in rebuilt.subjects],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": REBUILD_BUILD_TYPE,
                "externalParameters": {
                    "repository": rebuilt.repository,
                    "commit": rebuilt.commit,
                    **rebuilt.build.to_json(),
                    "release": {
                        "portal": rebuilt.portal,
                        "project": rebuilt.project,
                        "version": rebuilt.version,
                        "release_id": rebuilt.release_id,
                        "artifact_digest": rebuilt.artifact_digest,
                    },
                },
                "resolvedDependencies": [
                    {"uri": rebuilt.repository, "digest": {"gitCommit": rebuilt.commit}}
                ],
            },
            "runDetails": {
                "builder": {"id": rebuilder_id(rebuilt.rebuilder)},
                "metadata": {
                    "invocationId": rebuilt.invocation_id,
                    "startedOn": format_time(rebuilt.started_on),
                    "finishedOn": format_time(rebuilt.finished_on),
                },
            },
        },
    }
    try:
        parse_rebuild(statement_to_payload(statement))
    except StatementError as e:
        raise FormatError(f"the rebuild attestation is not valid: {e}") from None
    return statement


def sign_rebuild(rebuilt: Rebuilt, private_key: PrivateKey) -> dict[str, Any]:
    """The DSSE envelope (a JSON-ready dict) of ``rebuilt`` signed with the rebuilder's ``private_key``."""
    payload = statement_to_payload(build_rebuild_statement(rebuilt))
    return dsse.sign_envelope(payload, private_key, keyid=private_key.public_key.key_id)


def verify_rebuild(envelope_text: object, public_key: PublicKey) -> Rebuilt:
    """The attestation in ``envelope_text`` (JSON text, bytes or a decoded dict), once its signature
    verifies under ``public_key``, the rebuilder's one key: ``FormatError`` for a malformed envelope,
    ``SignatureError`` for a signature that does not verify, ``StatementError`` for a payload that is not
    a rebuild attestation."""
    envelope = dsse.parse_envelope(envelope_text)
    dsse.verify_envelope(envelope, [public_key])
    return parse_rebuild(envelope.payload)


def parse_rebuild(payload: bytes) -> Rebuilt:
    """Read a signed payload as a rebuild attestation, strictly: first as any provenance
    (``parse_statement``), then member by member; ``StatementError`` naming the member at fault for
    anything missing, extra, of the wrong type, over a cap or inconsistent."""
    statement = parse_statement(payload)
    raw = statement.raw
    _exact(raw, ("_type", "subject", "predicateType", "predicate"), "the statement")
    predicate = _object(raw, "predicate", "")
    _exact(predicate, ("buildDefinition", "runDetails"), "predicate")
    definition = _object(predicate, "buildDefinition", "predicate")
    _exact(
        definition, ("buildType", "externalParameters", "resolvedDependencies"), "predicate.buildDefinition"
    )
    if definition["buildType"] != REBUILD_BUILD_TYPE:
        raise StatementError(f"predicate.buildDefinition.buildType must be {REBUILD_BUILD_TYPE}")
    where = "predicate.buildDefinition.externalParameters"
    external = _object(definition, "externalParameters", "predicate.buildDefinition")
    _exact(external, _EXTERNAL_FIELDS, where)
    repository, commit = _text(external, "repository", MAX_URL, where), external["commit"]
    if not is_commit_id(commit):
        raise StatementError(f"{where}.commit must be 40 lowercase hex characters (or 64)")
    expected_dependencies = [{"uri": repository, "digest": {"gitCommit": commit}}]
    if definition["resolvedDependencies"] != expected_dependencies:
        raise StatementError(
            f"predicate.buildDefinition.resolvedDependencies must be {expected_dependencies!r}, the "
            "repository and commit of externalParameters"
        )
    if statement.build is None:
        raise StatementError(f"{where}.buildCommand is missing")
    release = _object(external, "release", where)
    _exact(release, _RELEASE_FIELDS, f"{where}.release")
    started_on, finished_on, invocation_id, rebuilder = _run_details(predicate)
    return Rebuilt(
        subjects=_rebuilt_subjects(raw["subject"]),
        portal=_text(release, "portal", MAX_URL, f"{where}.release"),
        project=_text(release, "project", MAX_NAME, f"{where}.release"),
        version=_text(release, "version", MAX_NAME, f"{where}.release"),
        release_id=_release_id(release["release_id"], f"{where}.release.release_id"),
        artifact_digest=_sha256_digest(release["artifact_digest"], f"{where}.release.artifact_digest"),
        repository=repository,
        commit=commit,
        build=statement.build,
        rebuilder=rebuilder,
        started_on=started_on,
        finished_on=finished_on,
        invocation_id=invocation_id,
        raw=raw,
    )


def check_release_link(
    rebuilt: Rebuilt,
    *,
    project: str,
    version: str,
    release_id: int,
    artifact_digest: str,
    portal: str | None = None,
) -> None:
    """``StatementError`` naming each member of ``externalParameters.release`` that names another release
    than the one given (``portal`` is compared only when given: a proof bundle does not name its portal)."""
    expected: dict[str, object] = {
        "project": project,
        "version": version,
        "release_id": release_id,
        "artifact_digest": artifact_digest,
    }
    if portal is not None:
        expected["portal"] = portal
    wrong = [
        f"{name} is {getattr(rebuilt, name)!r}, not {value!r}"
        for name, value in expected.items()
        if getattr(rebuilt, name) != value
    ]
    if wrong:
        raise StatementError(f"the rebuild attestation is about another release: {'; '.join(wrong)}")


def compare_rebuild(release_subjects: Sequence[Subject], rebuilt: Rebuilt) -> RebuildComparison:
    """Compare what the rebuilder got with the release's subjects, name by name, each by the strongest
    digest algorithm both name. A subject the release has and the attestation lacks (or the reverse), or
    one with no algorithm in common, is a ``StatementError``: the attestation is refused, not counted."""
    expected = {subject.name: subject.digests for subject in release_subjects}
    got = {subject.name: subject.digests for subject in rebuilt.subjects}
    missing = [name for name in expected if name not in got]
    extra = [name for name in got if name not in expected]
    if missing or extra:
        raise StatementError(
            "the rebuild attestation's subjects are not the release's: "
            + "; ".join(
                part
                for part in (
                    f"missing {_names(missing)}" if missing else "",
                    f"not in the release {_names(extra)}" if extra else "",
                )
                if part
            )
        )
    differences = []
    for name, digests in expected.items():
        algorithm = strongest_common(digests, got[name])
        if algorithm is None:
            raise StatementError(
                f"the rebuild attestation names subject {name[:80]!r} by {', '.join(sorted(got[name]))}, the "
                f"release by {', '.join(sorted(digests))}: nothing to compare"
            )
        if digests[algorithm] != got[name][algorithm]:
            differences.append(
                SubjectDifference(
                    name, f"{algorithm}:{digests[algorithm]}", f"{algorithm}:{got[name][algorithm]}"
                )
            )
    return RebuildComparison(DIFFERS if differences else REPRODUCED, tuple(differences))


def _names(names: list[str]) -> str:
    return ", ".join(repr(name[:80]) for name in names[:5]) + (" …" if len(names) > 5 else "")


def _rebuilt_subjects(value: object) -> tuple[Subject, ...]:
    """Every subject strictly: ``{"name", "digest"}`` with sha256 and/or sha512 only, names unique."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SUBJECTS:
        raise StatementError(f"subject must be a list of 1 to {MAX_SUBJECTS} subjects")
    subjects: list[Subject] = []
    for i, item in enumerate(value):
        where = f"subject[{i}]"
        if not isinstance(item, dict):
            raise StatementError(f"{where} must be an object")
        _exact(item, ("name", "digest"), where)
        name = item["name"]
        if not isinstance(name, str) or len(name) > MAX_COMPONENT_NAME:
            raise StatementError(f"{where}.name must be a string of at most {MAX_COMPONENT_NAME} characters")
        if any(subject.name == name for subject in subjects):
            raise StatementError(f"two subjects are named {name[:80]!r}")
        digests = item["digest"]
        if (
            not isinstance(digests, dict)
            or not digests
            or any(alg not in DIGEST_ALGORITHMS for alg in digests)
        ):
            raise StatementError(f"{where}.digest must name sha256 and/or sha512 only")
        subjects.append(Subject(name, dict(digests)))  # parse_statement checked each hex value
    return tuple(subjects)


def _run_details(predicate: dict[str, Any]) -> tuple[datetime.datetime, datetime.datetime, str, str]:
    """``(started_on, finished_on, invocation_id, rebuilder name)`` from ``predicate.runDetails``."""
    run = _object(predicate, "runDetails", "predicate")
    _exact(run, ("builder", "metadata"), "predicate.runDetails")
    builder = _object(run, "builder", "predicate.runDetails")
    _exact(builder, ("id",), "predicate.runDetails.builder")
    builder_id = builder["id"]
    name = unquote(builder_id[len(REBUILDER_ID_PREFIX) :]) if isinstance(builder_id, str) else ""
    if not (
        isinstance(builder_id, str)
        and builder_id.startswith(REBUILDER_ID_PREFIX)
        and 0 < len(name) <= MAX_NAME
        and rebuilder_id(name) == builder_id
    ):
        raise StatementError(
            f"predicate.runDetails.builder.id must be {REBUILDER_ID_PREFIX}<the rebuilder's name, "
            f"percent-encoded, 1 to {MAX_NAME} characters>"
        )
    where = "predicate.runDetails.metadata"
    metadata = _object(run, "metadata", "predicate.runDetails")
    _exact(metadata, _METADATA_FIELDS, where)
    started_on = _time(metadata["startedOn"], f"{where}.startedOn")
    finished_on = _time(metadata["finishedOn"], f"{where}.finishedOn")
    if finished_on < started_on:
        raise StatementError(f"{where}.finishedOn is before startedOn")
    return started_on, finished_on, _text(metadata, "invocationId", MAX_INVOCATION_ID, where), name


def _exact(obj: Mapping[str, Any], members: tuple[str, ...], where: str) -> None:
    missing = [name for name in members if name not in obj]
    extra = sorted(name for name in obj if name not in members)
    if missing:
        raise StatementError(f"{where} has no {', '.join(missing)}")
    if extra:
        shown = ", ".join(repr(name[:40]) for name in extra[:5])
        raise StatementError(f"{where} has members a rebuild attestation does not have: {shown}")


def _object(obj: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise StatementError(f"{where + '.' if where else ''}{name} must be an object")
    return value


def _text(obj: Mapping[str, Any], name: str, limit: int, where: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or not value or len(value) > limit:
        raise StatementError(f"{where}.{name} must be a non-empty string of at most {limit} characters")
    return value


def _release_id(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise StatementError(f"{where} must be a positive whole number")
    return value


def _sha256_digest(value: object, where: str) -> str:
    try:
        return format_digest(parse_digest(value))
    except FormatError as e:
        raise StatementError(f"{where} must be 'sha256:<64 lowercase hex>' ({e})") from None


def _time(value: object, where: str) -> datetime.datetime:
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    moment = None
    if match is not None:
        try:
            moment = datetime.datetime.fromisoformat(match[1]).replace(
                microsecond=int((match[2] or "0").ljust(6, "0")), tzinfo=datetime.UTC
            )
        except ValueError:
            moment = None
    if moment is None:
        raise StatementError(f"{where} must be a UTC time written like 2026-12-02T10:00:00.000000Z")
    return moment

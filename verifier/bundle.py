"""Proof bundles (``bundle_version`` 1): parsing, and every check a volunteer runs on one.

A bundle is one JSON document the portal serves for a release or a deployment; its format is in
``docs/formats/bundle.md``. ``parse_bundle`` is strict (exact fields, exact types, canonical base64)
and raises ``FormatError`` for anything else, so a damaged bundle is bad input, never a pass.
``verify_bundle`` runs the checks and returns one ``CheckResult`` per check; it prints nothing and
talks to the network only through what its caller hands it (``history``) and the ``git`` command
(``repo``). Every byte of a bundle is covered by some check: change any of them and a check fails.
"""

import base64
import binascii
import datetime
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from verifier import jsontext
from verifier.cosignature import Cosigner, cosignatures_of
from verifier.digest import sha256_directory, sha256_file
from verifier.entries import (
    ABSENT,
    ENTRY_SCHEMA_VERSION,
    Difference,
    entry_differences,
    format_time,
    parse_entry,
)
from verifier.errors import CouldNotCheck, FormatError, VerificationFailed, VerifierError
from verifier.keyless import Identity, SigstoreUnavailable, check_keyless_claims, verify_keyless
from verifier.keys import PublicKey, load_public_key
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import Checkpoint, make_verifier_key, parse_verifier_key, verify_checkpoint
from verifier.observation import Observation, verify_observation
from verifier.reasons import Reason
from verifier.rebuilds import (
    REPRODUCED,
    RebuildComparison,
    Rebuilt,
    check_release_link,
    compare_rebuild,
    verify_rebuild,
)
from verifier.release import Claims, TrustedKey, check_claims, same_repository, verify_signature
from verifier.repo import check_commit_in_repo
from verifier.served import served_files_of_directory
from verifier.statement import Statement

BUNDLE_VERSION = 1
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_PROOF_HASHES = 64

PASS, FAIL, SKIP, ERROR = "pass", "fail", "skip", "error"

# The fields a record must carry, so that a bundle cannot leave out the ones that matter.
REQUIRED_RECORD_FIELDS: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    "release": {
        "project": str,
        "release_id": int,
        "version": str,
        "artifact_name": str,
        "artifact_digest": str,
        "source_commit": str,
        "repo_url": str,
        "ci_build_url": str,
        "envelope_sha256": (str, type(None)),  # null in a keyless release's record
        "signer_key_id": (str, type(None)),
        "registered_at": str,
    },
    "deployment": {
        "project": str,
        "environment": str,
        "deployment_id": int,
        "release_id": int,
        "version": str,
        "artifact_digest": str,
        "deployed_at": str,
        "pipeline_run_url": str,
    },
    "note": {
        "project": str,
        "environment": (str, type(None)),
        "note_id": int,
        "kind": str,
        "text": str,
        "starts_at": str,
        "ends_at": (str, type(None)),
    },
    "observer_report": {
        "project": str,
        "environment": str,
        "report_id": int,
        "observer": str,
        "observer_key_id": str,
        "deployment_id": (int, type(None)),
        "observed_at": str,
        "result": str,
        "reason": (str, type(None)),
        "live_digest": (str, type(None)),
        "expected_digest": (str, type(None)),
        "envelope_sha256": str,
    },
    # Only inside a release bundle's "rebuilds": the record is the rebuild entry's body.
    "rebuild": {
        "project": str,
        "release_id": int,
        "version": str,
        "rebuild_id": int,
        "rebuilder": str,
        "rebuilder_key_id": str,
        "rebuilt_at": str,
        "result": str,
        "subjects": list,
        "envelope_sha256": str,
    },
}
MAX_REBUILDS: Final = 256
# What a deployment's entry says about its release, which must match the release bundle's record.
DEPLOYED_RELEASE_FIELDS = ("project", "release_id", "version", "artifact_digest")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS, FAIL, SKIP or ERROR (could not check)
    message: str


@dataclass(frozen=True)
class SigningKeyInfo:
    """A key as the bundle lists it; trusted only once its PEM is shown to be key ``key_id``."""

    key_id: str
    algorithm: str
    public_key_pem: str


@dataclass(frozen=True)
class PartyInfo:
    """An observer or a rebuilder as a bundle names it (an observer report's signer, a rebuild's
    rebuilder); its key is trusted only once the PEM is shown to be key ``key_id``, the key the record's
    log entry names."""

    name: str
    key_id: str
    algorithm: str
    public_key_pem: str


@dataclass(frozen=True)
class LogProof:
    origin: str
    verifier_key: str
    index: int
    entry: bytes
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True)
class ProjectInfo:
    """The project as the bundle names it: the record must be of ``slug`` and built from ``repo_url``,
    and its commit must be on ``protected_branch`` there."""

    slug: str
    repo_url: str
    protected_branch: str


@dataclass(frozen=True)
class Bundle:
    kind: str  # "release", "deployment", "note", "observer_report", or "rebuild" (in a release's rebuilds)
    record: dict[str, Any]
    log: LogProof
    project: ProjectInfo
    envelope: str | None = None  # keyed release and observer report bundles only
    signing_keys: tuple[SigningKeyInfo, ...] = ()  # keyed release bundles only
    sigstore_bundle: str | None = None  # keyless release bundles only: the Sigstore bundle's JSON text
    identities: tuple[Identity, ...] = ()  # keyless release bundles only: the CI identities trusted
    release: "Bundle | None" = None  # deployment bundles only: the deployed release's bundle
    observer: PartyInfo | None = None  # observer report bundles only: the observer who signed it
    rebuilds: tuple["Bundle", ...] = ()  # release bundles only: each a "rebuild" (docs/formats/bundle.md)
    rebuilder: PartyInfo | None = None  # a release bundle's rebuilds only: the rebuilder who signed it


@dataclass(frozen=True)
class ServedCopy:
    """A volunteer's copy of a web release's served files: ``directory``, served under ``base``
    (``/static/``), as ``attest --served-files DIR --served-base PATH`` listed them."""

    directory: str
    base: str


class Skip(Exception):
    """A check that cannot apply, saying what would make it run."""


class HistoryLike(Protocol):
    """What the history check needs: ``verifier.state.History``, which imports this module."""

    def check(self, checkpoint: Checkpoint, note: str, verifier_key: str) -> str: ...


# --- Parsing ------------------------------------------------------------------------------------------


def parse_bundle(data: bytes) -> Bundle:
    """Parse a bundle document, refusing anything that is not exactly ``bundle_version`` 1."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise FormatError(f"bundle is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")
    return _bundle(jsontext.loads(data, what="bundle"), "bundle")


# The members of each kind of bundle (docs/formats/bundle.md); the record is under the kind's name.
_MEMBERS: Final = {
    "release": ["bundle_version", "kind", "release", "envelope", "signing_keys", "log", "project"],
    "keyless release": [
        "bundle_version",
        "kind",
        "release",
        "sigstore_bundle",
        "identities",
        "log",
        "project",
    ],
    "deployment": ["bundle_version", "kind", "deployment", "log", "project", "release_bundle"],
    "note": ["bundle_version", "kind", "note", "log", "project"],
    "observer_report": [
        "bundle_version",
        "kind",
        "observer_report",
        "envelope",
        "observer",
        "log",
        "project",
    ],
}


def _bundle(document: Any, where: str) -> Bundle:
    _object(document, where)
    version = document.get("bundle_version")
    if version != BUNDLE_VERSION or isinstance(version, bool):
        raise FormatError(
            f"{where}: bundle_version is {version!r}; this verifier reads version {BUNDLE_VERSION}"
        )
    kind = document.get("kind")
    if not isinstance(kind, str) or kind not in _MEMBERS:
        raise FormatError(
            f"{where}: kind must be 'release', 'deployment', 'note' or 'observer_report', "
            f"got {str(kind)[:40]!r}"
        )
    keyless = kind == "release" and "sigstore_bundle" in document
    # A release bundle's "rebuilds" is optional: a release nobody rebuilt has none.
    rebuilt = kind == "release" and "rebuilds" in document
    _fields(document, where, _MEMBERS["keyless release" if keyless else kind] + ["rebuilds"] * rebuilt)
    if keyless:
        identities = _list(document["identities"], f"{where}.identities")
        if not identities:
            raise FormatError(f"{where}.identities is empty")
        evidence: dict[str, Any] = {
            "sigstore_bundle": _string(document["sigstore_bundle"], f"{where}.sigstore_bundle"),
            "identities": tuple(
                _identity(identity, f"{where}.identities[{i}]") for i, identity in enumerate(identities)
            ),
        }
    elif kind == "release":
        keys = _list(document["signing_keys"], f"{where}.signing_keys")
        if not keys:
            raise FormatError(f"{where}.signing_keys is empty")
        signing_keys = (_signing_key(key, f"{where}.signing_keys[{i}]") for i, key in enumerate(keys))
        evidence = {
            "envelope": _string(document["envelope"], f"{where}.envelope"),
            "signing_keys": tuple(signing_keys),
        }
    elif kind == "deployment":
        release = _bundle(document["release_bundle"], f"{where}.release_bundle")
        if release.kind != "release":
            raise FormatError(f"{where}.release_bundle is a {release.kind} bundle, not a release bundle")
        evidence = {"release": release}
    elif kind == "observer_report":
        evidence = {
            "envelope": _string(document["envelope"], f"{where}.envelope"),
            "observer": PartyInfo(
                *_strings(
                    document["observer"],
                    f"{where}.observer",
                    ["name", "key_id", "algorithm", "public_key_pem"],
                )
            ),
        }
    else:
        evidence = {}
    record = _record(document[kind], kind, f"{where}.{kind}")
    if kind == "release" and not keyless:
        for name in ("envelope_sha256", "signer_key_id"):
            _string(record[name], f"{where}.release.{name}")
    project = _project(document["project"], f"{where}.project")
    return Bundle(
        kind=kind,
        record=record,
        log=_log(document["log"], f"{where}.log"),
        project=project,
        rebuilds=_rebuilds(document["rebuilds"], f"{where}.rebuilds", project) if rebuilt else (),
        **evidence,
    )


def _rebuilds(value: Any, where: str, project: ProjectInfo) -> tuple[Bundle, ...]:
    """A release bundle's rebuilds, each read as a ``rebuild`` bundle of the release's project."""
    rebuilds = _list(value, where)
    if len(rebuilds) > MAX_REBUILDS:
        raise FormatError(f"{where} has more than {MAX_REBUILDS} rebuilds")
    parsed = []
    for i, item in enumerate(rebuilds):
        at = f"{where}[{i}]"
        _fields(item, at, ["rebuild", "envelope", "rebuilder", "log"])
        parsed.append(
            Bundle(
                kind="rebuild",
                record=_record(item["rebuild"], "rebuild", f"{at}.rebuild"),
                log=_log(item["log"], f"{at}.log"),
                project=project,
                envelope=_string(item["envelope"], f"{at}.envelope"),
                rebuilder=PartyInfo(
                    *_strings(
                        item["rebuilder"],
                        f"{at}.rebuilder",
                        ["name", "key_id", "algorithm", "public_key_pem"],
                    )
                ),
            )
        )
    return tuple(parsed)


def _record(value: Any, kind: str, where: str) -> dict[str, Any]:
    _object(value, where)
    for name, expected in REQUIRED_RECORD_FIELDS[kind].items():
        if name not in value:
            raise FormatError(f"{where} has no {name!r} field")
        if not isinstance(value[name], expected) or isinstance(value[name], bool):
            raise FormatError(f"{where}.{name} must be {_type_name(expected)}")
    record: dict[str, Any] = value
    return record


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join("null" if kind is type(None) else f"a {kind.__name__}" for kind in expected)
    return f"a {expected.__name__}"


def _log(value: Any, where: str) -> LogProof:
    _fields(
        value,
        where,
        ["origin", "verifier_key", "index", "entry_b64", "tree_size", "inclusion_proof", "checkpoint"],
    )
    proof = _list(value["inclusion_proof"], f"{where}.inclusion_proof")
    if len(proof) > MAX_PROOF_HASHES:
        raise FormatError(f"{where}.inclusion_proof has more than {MAX_PROOF_HASHES} hashes")
    hashes = tuple(_base64(h, f"{where}.inclusion_proof[{i}]") for i, h in enumerate(proof))
    for i, h in enumerate(hashes):
        if len(h) != 32:
            raise FormatError(f"{where}.inclusion_proof[{i}] is not a 32-byte hash")
    return LogProof(
        origin=_string(value["origin"], f"{where}.origin"),
        verifier_key=_string(value["verifier_key"], f"{where}.verifier_key"),
        index=_count(value["index"], f"{where}.index"),
        entry=_base64(value["entry_b64"], f"{where}.entry_b64"),
        tree_size=_count(value["tree_size"], f"{where}.tree_size"),
        inclusion_proof=hashes,
        checkpoint=_string(value["checkpoint"], f"{where}.checkpoint"),
    )


def _project(value: Any, where: str) -> ProjectInfo:
    return ProjectInfo(*_strings(value, where, ["slug", "repo_url", "protected_branch"]))


def _identity(value: Any, where: str) -> Identity:
    return Identity(*_strings(value, where, ["issuer", "repository", "workflow", "ref"]))


def _signing_key(value: Any, where: str) -> SigningKeyInfo:
    return SigningKeyInfo(*_strings(value, where, ["key_id", "algorithm", "public_key_pem"]))


def _strings(value: Any, where: str, names: list[str]) -> list[str]:
    """An object of exactly the string fields ``names``: their values, in that order."""
    _fields(value, where, names)
    return [_string(value[name], f"{where}.{name}") for name in names]


def _fields(value: Any, where: str, names: list[str]) -> None:
    _object(value, where)
    missing = [name for name in names if name not in value]
    if missing:
        raise FormatError(f"{where} has no {missing[0]!r} field")
    unknown = [name for name in value if name not in names]
    if unknown:
        raise FormatError(f"{where} has an unknown field {unknown[0][:40]!r}")


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise FormatError(f"{where} must be a JSON object")


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(f"{where} must be a JSON array")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{where} must be a string")
    return value


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise FormatError(f"{where} must be a non-negative integer")
    return value


def _base64(value: Any, where: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling."""
    text = _string(value, where)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise FormatError(f"{where} is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise FormatError(f"{where} is not canonical base64")
    return data


# --- Verifying ----------------------------------------------------------------------------------------


def verify_bundle(
    bundle: Bundle,
    *,
    artifact_path: str | None = None,
    log_key: str | None = None,
    repo: str | None = None,
    history: HistoryLike | None = None,
    served: ServedCopy | None = None,
    rebuilder_keys: Sequence[PublicKey] = (),
    min_rebuilders: int = 0,
    witness_keys: Sequence[Cosigner] = (),
    min_witnesses: int | None = None,
) -> list[CheckResult]:
    """Run every check on ``bundle``; return the results in the order a reader should see them.

    ``log_key`` pins the log's verifier key (else the bundle's own is used, with a warning).
    ``repo`` is a git URL or path to check the commit against. ``history`` (``verifier.state.History``)
    compares the checkpoint with the one seen last time for the same log. ``served`` is a copy of a web
    release's served files, to compare with its signed list. ``rebuilder_keys`` are the only rebuilders'
    keys whose rebuilds count (else every rebuilder the bundle names counts, with a warning);
    ``min_rebuilders`` is how many distinct rebuilders must have reproduced the release.
    ``witness_keys`` are the witnesses whose cosignatures of each checkpoint are counted;
    ``min_witnesses`` (default: all of them) is how many must have cosigned it.
    """
    rebuilds = _RebuildPolicy(tuple(rebuilder_keys), min_rebuilders)
    unique = tuple({key.label: key for key in witness_keys}.values())
    witnesses = _WitnessPolicy(unique, len(unique) if min_witnesses is None else min_witnesses)
    if bundle.kind == "release":
        return _verify_release(
            bundle, artifact_path, log_key, repo, history, served, rebuilds, witnesses, prefix=""
        )
    if bundle.kind == "note":
        # An operator's note is a statement, not evidence about an artifact: it is checked as logged.
        return _verify_log(bundle, log_key, history, witnesses, prefix="note ")
    if bundle.kind == "observer_report":
        return _verify_observer_report(bundle, log_key, history, witnesses)
    results = _verify_log(bundle, log_key, history, witnesses, prefix="deployment ")
    results.append(_run("deployment release", lambda: _check_deployed_release(bundle)))
    results += _verify_release(
        _release_of(bundle),
        artifact_path,
        log_key,
        repo,
        history,
        served,
        rebuilds,
        witnesses,
        prefix="release ",
    )
    return results


def _verify_release(
    bundle: Bundle,
    artifact_path: str | None,
    log_key: str | None,
    repo: str | None,
    history: HistoryLike | None,
    served: ServedCopy | None,
    rebuilds: "_RebuildPolicy",
    witnesses: "_WitnessPolicy",
    prefix: str,
) -> list[CheckResult]:
    facts: dict[str, Any] = {}
    keyless = bundle.sigstore_bundle is not None
    results = [
        _run(prefix + "signature", lambda: (_check_sigstore if keyless else _check_signature)(bundle, facts)),
        _run(
            prefix + "statement",
            lambda: (_check_keyless_statement if keyless else _check_statement)(bundle, facts),
        ),
        _run(prefix + "artifact", lambda: _check_artifact(bundle, facts, artifact_path)),
        _run(prefix + "served files", lambda: _check_served_files(facts, served)),
    ]
    results += _verify_log(bundle, log_key, history, witnesses, prefix)
    results.append(_run(prefix + "repository", lambda: _check_repository(bundle, repo)))
    return results + _verify_rebuilds(bundle, facts, log_key, history, rebuilds, witnesses, prefix)


@dataclass(frozen=True)
class _RebuildPolicy:
    """Whose rebuilds count (``keys``; empty: every rebuilder the bundle names) and how many distinct
    rebuilders must have reproduced the release (``minimum``)."""

    keys: tuple[PublicKey, ...]
    minimum: int


@dataclass(frozen=True)
class _RebuildSeen:
    """A rebuild whose every check passed: its rebuilder's key, whether it counts, what it got."""

    key_id: str
    rebuilder: str
    counted: bool
    comparison: RebuildComparison


def _verify_rebuilds(
    release: Bundle,
    facts: dict[str, Any],
    log_key: str | None,
    history: HistoryLike | None,
    policy: _RebuildPolicy,
    witnesses: "_WitnessPolicy",
    prefix: str,
) -> list[CheckResult]:
    """Each rebuild the release bundle carries, checked as its own signed and logged record, then the
    ``rebuilds`` verdict: reproduced by N of M rebuilders."""
    results: list[CheckResult] = []
    seen: list[_RebuildSeen] = []
    for i, rebuild in enumerate(release.rebuilds, 1):
        checked, found = _verify_rebuild(
            release, rebuild, facts, log_key, history, policy, witnesses, f"{prefix}rebuild {i} "
        )
        results += checked
        if found is not None and all(result.status in (PASS, SKIP) for result in checked):
            seen.append(found)
    results.append(_run(prefix + "rebuilds", lambda: _check_rebuilds(release, seen, policy)))
    return results


def _verify_rebuild(
    release: Bundle,
    rebuild: Bundle,
    facts: dict[str, Any],
    log_key: str | None,
    history: HistoryLike | None,
    policy: _RebuildPolicy,
    witnesses: "_WitnessPolicy",
    prefix: str,
) -> tuple[list[CheckResult], "_RebuildSeen | None"]:
    found: dict[str, Any] = {}
    results = [
        _run(prefix + "signature", lambda: _check_rebuild_signature(rebuild, found, policy)),
        _run(prefix + "statement", lambda: _check_rebuild_statement(release, rebuild, facts, found)),
    ]
    results += _verify_log(rebuild, log_key, history, witnesses, prefix)
    if "comparison" not in found:
        return results, None
    rebuilder = _party_of(rebuild, rebuild.rebuilder)
    return results, _RebuildSeen(rebuilder.key_id, rebuilder.name, found["counted"], found["comparison"])


def _check_rebuild_signature(rebuild: Bundle, found: dict[str, Any], policy: _RebuildPolicy) -> str:
    """The rebuilder's PEM is the key the record names, and the envelope verifies under it
    (``verifier.rebuilds.verify_rebuild``); whether the rebuild counts under ``--rebuilder-key``."""
    info, record = _party_of(rebuild, rebuild.rebuilder), rebuild.record
    key = _party_key(info, "rebuilder")
    if (info.name, info.key_id) != (record["rebuilder"], record["rebuilder_key_id"]):
        raise VerificationFailed(
            f"the bundle names rebuilder {info.name!r} with key {info.key_id[:16]}…, the rebuild record "
            f"names {_short(record['rebuilder'])} with key {_short(record['rebuilder_key_id'])}"
        )
    found["rebuilt"] = verify_rebuild(_envelope_of(rebuild), key)
    found["counted"] = not policy.keys or key in policy.keys
    message = f"the envelope's signature verifies under rebuilder {info.name!r}'s key {key.key_id[:16]}…"
    return message + ("" if found["counted"] else " (not a key given with --rebuilder-key: not counted)")


def _check_rebuild_statement(
    release: Bundle, rebuild: Bundle, facts: dict[str, Any], found: dict[str, Any]
) -> str:
    """The signed rebuild says what its record says, is about this release and was logged in its log;
    the envelope is the one whose SHA-256 the record holds; the record's result is the comparison's."""
    if "rebuilt" not in found:
        raise Skip("no verified envelope to read the rebuild from")
    if "statement" not in facts:
        raise Skip("no verified release statement to compare the rebuild with")
    rebuilt: Rebuilt = found["rebuilt"]
    record, released = rebuild.record, release.record
    for field in ("project", "release_id", "version"):
        if record[field] != released[field]:
            raise VerificationFailed(
                f"the rebuild record says {field} = {_short(record[field])}, the release's is "
                f"{_short(released[field])}"
            )
    check_release_link(
        rebuilt,
        project=released["project"],
        version=released["version"],
        release_id=released["release_id"],
        artifact_digest=released["artifact_digest"],
    )
    signed = {
        "rebuilder": rebuilt.rebuilder,
        "rebuilt_at": format_time(rebuilt.rebuilt_at),
        "subjects": [subject.to_json() for subject in rebuilt.subjects],
    }
    _check_signed_record(rebuild, signed, record_name="rebuild record", signed_name="signed rebuild")
    if (rebuild.log.origin, rebuild.log.verifier_key) != (release.log.origin, release.log.verifier_key):
        raise VerificationFailed(f"the rebuild was logged in {rebuild.log.origin!r}, not the release's log")
    comparison = compare_rebuild(facts["statement"].subjects, rebuilt)
    if comparison.result != record["result"]:
        raise VerificationFailed(
            f"the rebuild record says {_short(record['result'])}, comparing its subjects with the release's "
            f"says {comparison.result}"
        )
    found["comparison"] = comparison
    outcome = _rebuild_outcome(comparison)
    return f"{rebuilt.rebuilder} rebuilt {released['version']} at {signed['rebuilt_at']}: {outcome}"


def _rebuild_outcome(comparison: RebuildComparison) -> str:
    if comparison.result == REPRODUCED:
        return "reproduced"
    return "differs: " + "; ".join(
        f"{d.name or 'the artifact'} is {d.got}, the release's {d.expected}" for d in comparison.differences
    )


def _check_rebuilds(release: Bundle, seen: list[_RebuildSeen], policy: _RebuildPolicy) -> str:
    """Reproduced by N of M distinct rebuilders (one rebuilder's several runs count once, so nobody
    meets a minimum alone); FAIL under ``policy.minimum``, or on any difference when one was asked."""
    if not release.rebuilds and not policy.minimum:
        raise Skip("the bundle carries no rebuilds of this release")
    counted = [rebuild for rebuild in seen if rebuild.counted]
    rebuilders = {rebuild.key_id: rebuild.rebuilder for rebuild in counted}
    reproduced = {r.key_id for r in counted if r.comparison.result == REPRODUCED}
    differing = sorted({r.rebuilder for r in counted if r.comparison.result != REPRODUCED})
    message = f"reproduced by {len(reproduced)} of {len(rebuilders)} rebuilders"
    if reproduced:
        message += f" ({', '.join(sorted(rebuilders[key_id] for key_id in reproduced))})"
    if differing:
        message += f"; {', '.join(differing)} got something else"
    left_out = len(release.rebuilds) - len(counted)
    if left_out:
        message += f"; {left_out} rebuild(s) not counted (failed a check above, or a key not given)"
    if not policy.keys and release.rebuilds:
        message += (
            "; WARNING: the rebuilders' keys were taken from the bundle itself: pin them with --rebuilder-key"
        )
    if len(reproduced) < policy.minimum:
        raise VerificationFailed(f"{message}; --min-rebuilders {policy.minimum} asked")
    if policy.minimum and differing:
        raise VerificationFailed(
            f"{message}; with --min-rebuilders, any rebuild that got something else fails"
        )
    return message


def _verify_observer_report(
    bundle: Bundle, log_key: str | None, history: HistoryLike | None, witnesses: "_WitnessPolicy"
) -> list[CheckResult]:
    """An observer's signed report: its envelope verifies under the observer's key, says what the record
    says, and the record is logged. It is the observer's statement, not evidence the portal made."""
    facts: dict[str, Any] = {}
    results = [
        _run("observer signature", lambda: _check_observer_signature(bundle, facts)),
        _run("observer statement", lambda: _check_observer_statement(bundle, facts)),
    ]
    return results + _verify_log(bundle, log_key, history, witnesses, prefix="observer ")


@dataclass(frozen=True)
class _WitnessPolicy:
    """Whose cosignatures of a checkpoint count (``cosigners``, one each) and how many must be there."""

    cosigners: tuple[Cosigner, ...]
    minimum: int


def _verify_log(
    bundle: Bundle,
    log_key: str | None,
    history: HistoryLike | None,
    witnesses: _WitnessPolicy,
    prefix: str,
) -> list[CheckResult]:
    facts: dict[str, Any] = {}
    return [
        _run(prefix + "log entry", lambda: _check_entry(bundle)),
        _run(prefix + "project", lambda: _check_project(bundle)),
        _run(prefix + "checkpoint", lambda: _check_checkpoint(bundle, facts, log_key)),
        _run(prefix + "witnesses", lambda: _check_witnesses(bundle, facts, witnesses)),
        _run(prefix + "inclusion", lambda: _check_inclusion(bundle, facts)),
        _run(prefix + "history", lambda: _check_history(bundle, facts, history)),
    ]


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, PASS, check())
    except Skip as exc:
        return CheckResult(name, SKIP, str(exc))
    except CouldNotCheck as exc:
        return CheckResult(name, ERROR, str(exc))
    except VerifierError as exc:
        return CheckResult(name, FAIL, str(exc))


def _check_signature(bundle: Bundle, facts: dict[str, Any]) -> str:
    keys: list[TrustedKey] = []
    for info in bundle.signing_keys:
        key = load_public_key(info.public_key_pem)
        if (key.key_id, key.algorithm, key.pem) != (info.key_id, info.algorithm, info.public_key_pem):
            raise VerificationFailed(
                f"signing key {info.key_id[:16]}… ({info.algorithm}): its PEM is key {key.key_id[:16]}… "
                f"({key.algorithm}), or not in the canonical form the portal publishes"
            )
        keys.append(TrustedKey(key_id=info.key_id, public_key_pem=info.public_key_pem))
    signed = verify_signature(_envelope_of(bundle), keys, signer_key_id=bundle.record["signer_key_id"])
    facts["envelope"] = signed.envelope
    algorithm = next(info.algorithm for info in bundle.signing_keys if info.key_id == signed.signer.key_id)
    return f"DSSE signature verifies under the project's key {signed.signer.key_id[:16]}… ({algorithm})"


def _check_observer_signature(bundle: Bundle, facts: dict[str, Any]) -> str:
    """The observer's PEM is the key its stated ``key_id`` and the record's ``observer_key_id`` name, in
    canonical form, and the envelope verifies under it (``verifier.observation.verify_observation``)."""
    info, record = _party_of(bundle, bundle.observer), bundle.record
    key = _party_key(info, "observer")
    if (info.name, info.key_id) != (record["observer"], record["observer_key_id"]):
        raise VerificationFailed(
            f"the bundle names observer {info.name!r} with key {info.key_id[:16]}…, the report record "
            f"names {_short(record['observer'])} with key {_short(record['observer_key_id'])}"
        )
    facts["observation"] = verify_observation(_envelope_of(bundle), key)
    return (
        f"the envelope's signature verifies under observer {info.name!r}'s key {key.key_id[:16]}… "
        f"({key.algorithm})"
    )


def _check_signed_record(
    bundle: Bundle, signed: dict[str, Any], *, record_name: str, signed_name: str
) -> None:
    """A party's record says what its signed statement says (``signed``, field by field, as JSON), and
    its ``envelope_sha256`` (and so its log entry) is the hash of the envelope the bundle carries."""
    record = bundle.record
    for field, value in signed.items():
        if _canonical(record[field]) != _canonical(value):
            raise VerificationFailed(
                f"the {record_name} says {field} = {_short(record[field])}, the {signed_name} says "
                f"{_short(value)}"
            )
    envelope_sha256 = hashlib.sha256(_envelope_of(bundle).encode("utf-8")).hexdigest()
    if envelope_sha256 != record["envelope_sha256"]:
        raise VerificationFailed(
            f"the envelope's sha256 is {envelope_sha256}, the {record_name} says "
            f"{_short(record['envelope_sha256'])}"
        )


def _check_observer_statement(bundle: Bundle, facts: dict[str, Any]) -> str:
    """The signed observation says what the report record says, and the envelope is the one whose
    SHA-256 the record (and so its log entry) holds."""
    if "observation" not in facts:
        raise Skip("no verified envelope to read the observation from")
    observed: Observation = facts["observation"]
    signed = {
        "project": observed.project,
        "environment": observed.environment,
        "observer": observed.observer,
        "observed_at": format_time(observed.observed_at),
        "result": str(observed.result),
        "reason": None if observed.reason is None else str(observed.reason),
        "live_digest": observed.live_digest,
        "expected_digest": observed.expected_digest or None,
        "deployment_id": observed.deployment_id,
    }
    _check_signed_record(bundle, signed, record_name="report record", signed_name="signed observation")
    return (
        f"{observed.observer} signed that {observed.project}/{observed.environment} was {observed.result} "
        f"at {signed['observed_at']}" + (f" ({observed.reason})" if observed.reason is not None else "")
    )


def _check_sigstore(bundle: Bundle, facts: dict[str, Any]) -> str:
    """A keyless release: its Sigstore bundle verifies offline (``verifier.keyless``) under one of the CI
    identities the project trusted, and its certificate says what the record says it does."""
    text = bundle.sigstore_bundle or ""
    try:
        evidence = verify_keyless(text.encode("utf-8"), bundle.identities)
    except SigstoreUnavailable as exc:
        raise Skip(str(exc)) from None
    record = bundle.record
    certified = {
        "certificate_issuer": evidence.issuer,
        "certificate_identity": evidence.signer,
        "source_ref": evidence.ref,
        "sigstore_log_index": evidence.log_index,
    }
    for field, value in certified.items():
        if field in record and record[field] != value:
            raise VerificationFailed(
                f"the release says {field} = {_short(record[field])}, its Sigstore certificate and log entry "
                f"say {_short(value)}"
            )
    facts["keyless"] = evidence
    return (
        f"Sigstore bundle verifies offline: built by workflow {evidence.signer} of {evidence.repository} "
        f"at {evidence.ref}, run {evidence.run_url or '(none)'}, certificate from {evidence.issuer}, "
        f"Rekor log index {evidence.log_index} ({evidence.integrated_time:%Y-%m-%d %H:%M:%S} UTC)"
    )


def _check_keyless_statement(bundle: Bundle, facts: dict[str, Any]) -> str:
    if "keyless" not in facts:
        raise Skip("no verified Sigstore bundle to read the statement from")
    return _statement_found(facts, check_keyless_claims(facts["keyless"], _record_claims(bundle.record)))


def _check_statement(bundle: Bundle, facts: dict[str, Any]) -> str:
    if "envelope" not in facts:
        raise Skip("no verified envelope to read the statement from")
    return _statement_found(facts, check_claims(facts["envelope"], _record_claims(bundle.record)))


def _record_claims(record: Mapping[str, Any]) -> Claims:
    """What the release record claims, for the signed statement to confirm."""
    return Claims(
        artifact_digest=record["artifact_digest"],
        source_commit=record["source_commit"],
        repo_url=record["repo_url"],
        components=record.get("components"),
    )


def _statement_found(facts: dict[str, Any], statement: Statement) -> str:
    facts["statement"] = statement
    return (
        f"signed statement: {statement.artifact_digest} built from {statement.source_uri} "
        f"at {statement.source_commit}"
    )


def _check_artifact(bundle: Bundle, facts: dict[str, Any], artifact_path: str | None) -> str:
    if artifact_path is None:
        raise Skip("no --artifact given: the downloaded file itself was not checked")
    expected = (
        facts["statement"].artifact_digest if "statement" in facts else bundle.record["artifact_digest"]
    )
    try:
        actual = (
            sha256_directory(artifact_path) if os.path.isdir(artifact_path) else sha256_file(artifact_path)
        )
    except OSError as exc:
        raise CouldNotCheck(Reason.BAD_RESPONSE, f"cannot read {artifact_path}: {exc.strerror}") from None
    if actual != expected:
        raise VerificationFailed(f"{artifact_path} has digest {actual}, the signed release says {expected}")
    return f"{artifact_path} has the signed digest {actual}"


def _check_served_files(facts: dict[str, Any], served: ServedCopy | None) -> str:
    """The signed statement's served-file list, and a local copy compared with it when one is given."""
    if "statement" not in facts:
        raise Skip("no verified statement to read the served-file list from")
    statement: Statement = facts["statement"]
    files, scripts = statement.served_files, statement.inline_scripts
    if not files and not scripts:
        raise Skip("the signed statement lists no served files")
    listed = f"the signed statement lists {len(files)} served files and {len(scripts)} inline scripts"
    if served is None:
        return listed
    try:
        copy = {f.path: f.sha256 for f in served_files_of_directory(served.directory, served.base)}
    except (FormatError, OSError) as exc:
        raise CouldNotCheck(Reason.BAD_RESPONSE, f"cannot list {served.directory}: {exc}") from None
    signed = {f.path: f.sha256 for f in files if f.path.startswith(served.base)}
    for path in sorted(signed.keys() | copy.keys()):
        if path not in copy:
            raise VerificationFailed(f"{path} is in the signed list but not in {served.directory}")
        if path not in signed:
            raise VerificationFailed(f"{path} is in {served.directory} but not in the signed list")
        if copy[path] != signed[path]:
            raise VerificationFailed(
                f"{path} has digest sha256:{copy[path]} in {served.directory}, the signed list says "
                f"sha256:{signed[path]}"
            )
    return f"{listed}; the {len(copy)} files under {served.base} match {served.directory}"


def _check_entry(bundle: Bundle) -> str:
    """The record says what its log entry says (``verifier.entries``, the comparison the portal's own
    self-audit runs), and a release's envelope is the one whose SHA-256 was logged."""
    index = bundle.log.index
    try:
        entry = parse_entry(bundle.log.entry, what=f"log entry {index}")
    except FormatError as exc:
        raise VerificationFailed(str(exc)) from None
    differences = entry_differences(bundle.kind, bundle.record, entry)
    if differences:
        raise VerificationFailed(_entry_difference(bundle.kind, index, entry, differences[0]))
    if bundle.kind == "release":
        evidence, field = (
            (bundle.sigstore_bundle, "sigstore_bundle_sha256")
            if bundle.sigstore_bundle is not None
            else (_envelope_of(bundle), "envelope_sha256")
        )
        logged = {field: hashlib.sha256(evidence.encode("utf-8")).hexdigest()}
        differences = entry_differences("release", logged, entry)
        if differences:
            what = "Sigstore bundle" if bundle.sigstore_bundle is not None else "envelope"
            raise VerificationFailed(
                f"the {what}'s sha256 is {differences[0].recorded}, log entry {index} says "
                f"{differences[0].logged}"
            )
    return f"every field of the {bundle.kind} record matches log entry {index}"


def _entry_difference(kind: str, index: int, entry: dict[str, Any], difference: Difference) -> str:
    if difference.field in ("v", "type"):
        return (
            f"log entry {index} is a {entry.get('type')!r} entry of schema {entry.get('v')!r}, "
            f"not a {kind} entry of schema {ENTRY_SCHEMA_VERSION}"
        )
    if difference.logged is ABSENT:
        return f"the {kind} record's field {difference.field!r} is not in log entry {index}"
    return (
        f"the {kind} record says {difference.field} = {_short(difference.recorded)}, log entry {index} says "
        f"{_short(difference.logged)}: the record was changed after it was logged"
    )


def _check_project(bundle: Bundle) -> str:
    record, project = bundle.record, bundle.project
    if record["project"] != project.slug:
        raise VerificationFailed(
            f"the {bundle.kind} is of project {record['project']!r}, the bundle names {project.slug!r}"
        )
    if bundle.kind == "deployment":
        if _release_of(bundle).project != project:
            raise VerificationFailed("the deployment's and the release's bundles describe different projects")
        return f"deployment of project {project.slug!r}"
    if bundle.kind in ("note", "observer_report", "rebuild"):
        return f"{bundle.kind.replace('_', ' ')} of project {project.slug!r}"
    if not same_repository(record["repo_url"], project.repo_url):
        raise VerificationFailed(
            f"the release was built from {record['repo_url']}, "
            f"which is not the project's repository {project.repo_url}"
        )
    return f"built from the project's repository {project.repo_url}"


def _check_checkpoint(bundle: Bundle, facts: dict[str, Any], log_key: str | None) -> str:
    log = bundle.log
    # One spelling per key (the key hash is hex, which a parser may read in either case).
    verifier = parse_verifier_key(log.verifier_key)
    if make_verifier_key(verifier.name, verifier.public_key) != log.verifier_key:
        raise VerificationFailed(f"the bundle's log key {log.verifier_key[:80]} is not in its canonical form")
    if log_key is not None and log.verifier_key != _canonical_verifier_key(log_key):
        raise VerificationFailed(
            f"the bundle names the log key {log.verifier_key[:80]}, not the pinned {log_key[:80]}"
        )
    vkey = log_key if log_key is not None else log.verifier_key
    checkpoint = verify_checkpoint(log.checkpoint, vkey, origin=log.origin)
    if checkpoint.size != log.tree_size:
        raise VerificationFailed(
            f"the proof is for tree size {log.tree_size}, the checkpoint is of size {checkpoint.size}"
        )
    facts["checkpoint"] = checkpoint
    signer = f"{verifier.name}+{verifier.key_hash.hex()}"
    message = f"checkpoint of {log.origin} at size {checkpoint.size} is signed by {signer}"
    if log_key is None:
        message += (
            "; WARNING: the log key was taken from the bundle itself (unpinned): pin it with --log-key, "
            "as published by the portal, or this only shows the bundle is self-consistent"
        )
    return message


def _check_witnesses(bundle: Bundle, facts: dict[str, Any], policy: _WitnessPolicy) -> str:
    """At least ``policy.minimum`` of the given witnesses cosigned the checkpoint (C2SP tlog-cosignature):
    each checked that it extends every checkpoint of this log it cosigned before, so a log showing you
    another history than everyone else would need that many witnesses to lie with it. A cosignature by
    a given witness that does not verify is a forgery: FAIL, whatever the count."""
    if not policy.cosigners:
        raise Skip("no witness keys given (--witness-key)")
    if "checkpoint" not in facts:
        raise Skip("no verified checkpoint to count cosignatures on")
    found = {(c.name, c.key_hash): c for c in cosignatures_of(bundle.log.checkpoint, policy.cosigners)}
    signed, missing = [], []
    for cosigner in policy.cosigners:
        cosignature = found.get((cosigner.name, cosigner.key_hash))
        if cosignature is None:
            missing.append(cosigner.label)
        else:
            moment = datetime.datetime.fromtimestamp(cosignature.timestamp, datetime.UTC)
            signed.append(f"{cosigner.label} at {format_time(moment)}")
    message = f"cosigned by {len(signed)} of the {len(policy.cosigners)} witnesses given"
    message += f": {', '.join(signed)}" if signed else ""
    message += f"; no cosignature by {', '.join(missing)}" if missing else ""
    if len(signed) < policy.minimum:
        raise VerificationFailed(f"{message}; --min-witnesses {policy.minimum} asked")
    return message


def _check_inclusion(bundle: Bundle, facts: dict[str, Any]) -> str:
    if "checkpoint" not in facts:
        raise Skip("no verified checkpoint to check the entry against")
    log, checkpoint = bundle.log, facts["checkpoint"]
    verify_inclusion(
        leaf_hash(log.entry), log.index, checkpoint.size, list(log.inclusion_proof), checkpoint.root
    )
    return f"entry {log.index} is in the log's tree of size {checkpoint.size}"


def _check_history(bundle: Bundle, facts: dict[str, Any], history: HistoryLike | None) -> str:
    if history is None:
        raise Skip("checkpoint history not kept (--no-state)")
    if "checkpoint" not in facts:
        raise Skip("no verified checkpoint to compare with the remembered one")
    return history.check(facts["checkpoint"], bundle.log.checkpoint, bundle.log.verifier_key)


def _check_deployed_release(bundle: Bundle) -> str:
    deployment, release = bundle.record, _release_of(bundle).record
    for field in DEPLOYED_RELEASE_FIELDS:
        if deployment[field] != release[field]:
            raise VerificationFailed(
                f"the deployment names {field} = {_short(deployment[field])}, "
                f"its release bundle has {_short(release[field])}"
            )
    return f"the deployment is of release {release['version']} ({release['artifact_digest']})"


def _check_repository(bundle: Bundle, repo: str | None) -> str:
    project = bundle.project
    if repo is None:
        raise Skip(f"no --repo given: the commit was not checked against {project.repo_url}")
    commit = bundle.record["source_commit"]
    found = check_commit_in_repo(repo, commit, project.protected_branch)
    if not found.commit_exists:
        raise VerificationFailed(f"commit {commit} does not exist in {repo}")
    if not found.on_branch:
        raise VerificationFailed(
            f"commit {commit} exists in {repo} "
            f"but is not on the protected branch {project.protected_branch!r}"
        )
    branch = project.protected_branch
    return f"commit {commit} is on {branch!r} of {repo}, {found.ahead_by} commits below its head"


def _release_of(bundle: Bundle) -> Bundle:
    """A deployment bundle's release bundle, which ``parse_bundle`` never leaves out."""
    if bundle.release is None:
        raise FormatError(f"the {bundle.kind} bundle holds no release bundle")
    return bundle.release


def _party_of(bundle: Bundle, party: PartyInfo | None) -> PartyInfo:
    """An observer report's observer or a rebuild's rebuilder, which ``parse_bundle`` never leaves out."""
    if party is None:
        raise FormatError(f"the {bundle.kind} bundle names no observer or rebuilder")
    return party


def _party_key(info: PartyInfo, role: str) -> PublicKey:
    """The key of an observer or rebuilder (``role``) once its PEM is shown to be the key it names, in
    the canonical form the portal publishes."""
    key = load_public_key(info.public_key_pem)
    if (key.key_id, key.algorithm, key.pem) != (info.key_id, info.algorithm, info.public_key_pem):
        raise VerificationFailed(
            f"{role} {info.name!r}'s key {info.key_id[:16]}… ({info.algorithm}): its PEM is key "
            f"{key.key_id[:16]}… ({key.algorithm}), or not in the canonical form the portal publishes"
        )
    return key


def _envelope_of(bundle: Bundle) -> str:
    """A keyed release or observer report bundle's envelope, which ``parse_bundle`` never leaves out."""
    if bundle.envelope is None:
        raise FormatError(f"the {bundle.kind} bundle holds no envelope")
    return bundle.envelope


def _canonical_verifier_key(vkey: str) -> str:
    verifier = parse_verifier_key(vkey)
    return make_verifier_key(verifier.name, verifier.public_key)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short(value: Any) -> str:
    text = _canonical(value)
    return text if len(text) <= 80 else text[:80] + "…"

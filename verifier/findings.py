"""What ``vitrina-verify monitor`` finds in each log entry: the checks, and what they learn in passing.

``EntryChecker.check(index, entry_bytes)`` takes the log's entries in order and returns each one's
``Finding`` list. Along the way it learns (``Knowledge``) each project's signing keys and CI identities
as the log added and revoked them, and every release, so that a release is judged by what its project
trusted when it was registered, not by what it trusts now:

- ``release``: signed by a key added before it and neither expired nor revoked at its ``registered_at``
  (``verifier.release.TrustedKey.refusal_at``), or, keyless, by a certificate that a CI identity active
  then accepts (``verifier.keyless.certificate_refusal``); its proof bundle, fetched from the portal,
  carries this very entry and passes ``verify_bundle`` under the pinned log key;
- ``deployment``: of a release the log registered before it, proven the same way, and built from the
  project's protected branch (a keyless release's certificate names its ref; a keyed release's commit is
  looked up in its repository);
- both must say who entered them (``by``): a CI token, an operator (the flag of an entry made by hand,
  reported as a notice) or Vitrina itself;
- a key, identity, observer, rebuilder or witness added or removed is a notice; a revocation that
  reaches back before releases already logged makes them problems.

The checks are pure; what they need from outside comes through ``Evidence`` (the portal's proof
bundles, a repository's answer), whose methods are named ``fetch_…``. docs/monitor.md describes every
finding.
"""

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from verifier.bundle import ERROR, FAIL, SKIP, Bundle, parse_bundle, verify_bundle
from verifier.entries import ENTRY_SCHEMA_VERSION, format_time, parse_entry
from verifier.errors import CouldNotCheck, FormatError
from verifier.keyless import Identity, certificate_refusal
from verifier.note import verify_checkpoint
from verifier.reasons import Reason
from verifier.release import TrustedKey
from verifier.repo import RepoCheck
from verifier.version import __version__

PROBLEM, NOTICE = "problem", "notice"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Who may enter a release or a deployment, as the portal writes ``by``: a CI pipeline's token, an operator
# (entered by hand: the flag), or Vitrina itself (the portal watching itself).
AUTHORS = ("token", "operator", "system")
PARTIES = ("observer", "rebuilder", "witness")
# Entry types that need nothing of the monitor: the portal's own observations and statements about them.
UNCHECKED_TYPES = ("status", "note", "observer_report", "rebuild", "rebuild_answer")


@dataclass(frozen=True)
class Finding:
    """One thing a person should look at: ``severity`` is ``problem`` (evidence that something is wrong)
    or ``notice`` (a change of trust, or an entry made by hand); ``index`` is the entry's, or None for the
    log as a whole; ``kind`` names the finding (docs/monitor.md)."""

    severity: str
    index: int | None
    kind: str
    message: str

    def line(self) -> str:
        return f"{self.severity} {'-' if self.index is None else self.index} {self.kind}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "index": self.index, "kind": self.kind, "message": self.message}


def quoted(note: str) -> str:
    """A signed note on one line, its newlines written as ``\\n`` (JSON string syntax): a finding is one
    line, and a checkpoint quoted as evidence stays exact."""
    return json.dumps(note, ensure_ascii=False)


def problem(index: int | None, kind: str, message: str) -> Finding:
    return Finding(PROBLEM, index, kind, message)


def notice(index: int | None, kind: str, message: str) -> Finding:
    return Finding(NOTICE, index, kind, message)


# --- What the monitor learns from the log -------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """What a keyless release's log entry says its Sigstore certificate names."""

    issuer: str
    signer: str  # the signing workflow (the certificate's SAN)
    repository: str
    ref: str


@dataclass(frozen=True)
class KnownIdentity:
    """A CI identity a project trusted for keyless releases, from ``added_at`` until ``removed_at``."""

    identity: Identity
    added_at: datetime.datetime
    removed_at: datetime.datetime | None = None

    def trusted_at(self, moment: datetime.datetime) -> bool:
        return self.added_at <= moment and (self.removed_at is None or moment < self.removed_at)


@dataclass
class KnownRelease:
    """A release as its log entry registered it; ``trusted`` is the monitor's verdict so far."""

    project: str
    version: str
    index: int
    registered_at: datetime.datetime
    signer_key_id: str | None
    certificate: Certificate | None
    trusted: bool = True

    def describe(self) -> str:
        return f"release {self.version} of {self.project} (entry {self.index})"


@dataclass
class Knowledge:
    """Each project's signing keys and CI identities as the log added and revoked them, and every release
    seen, so that a release is judged by what was trusted when it was registered."""

    keys: dict[str, dict[str, TrustedKey]] = field(default_factory=dict)
    identities: dict[str, dict[str, KnownIdentity]] = field(default_factory=dict)
    releases: dict[int, KnownRelease] = field(default_factory=dict)

    def trust_refusal(self, release: KnownRelease) -> str:
        """Why ``release`` was not signed by what its project trusted when it was registered, in words that
        follow "release X of P, registered at T,", or ``""`` when it was."""
        moment = release.registered_at
        if release.certificate is None:
            key_id = release.signer_key_id or ""
            key = self.keys.get(release.project, {}).get(key_id)
            if key is None:
                return (
                    f"is signed by key {key_id[:16]}…, which no key_added entry of project "
                    f"{release.project} before it names"
                )
            refusal = key.refusal_at(moment)
            return f"is signed by a key not trusted then: {refusal}" if refusal else ""
        cert = release.certificate
        active = {
            number: known
            for number, known in self.identities.get(release.project, {}).items()
            if known.trusted_at(moment)
        }
        refusals = {
            number: certificate_refusal(
                known.identity,
                issuer=cert.issuer,
                signer=cert.signer,
                repository=cert.repository,
                ref=cert.ref,
            )
            for number, known in active.items()
        }
        if any(not refusal for refusal in refusals.values()):
            return ""
        tried = "; ".join(f"identity {number}: {refusal}" for number, refusal in refusals.items())
        return (
            f"was signed in CI by {cert.signer} of {cert.repository} (ref {cert.ref}, issuer {cert.issuer}), "
            f"which no CI identity project {release.project} trusted then accepts ("
            f"{tried or 'it trusted none'})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": {
                project: {key_id: _key_json(key) for key_id, key in keys.items()}
                for project, keys in self.keys.items()
            },
            "identities": {
                project: {number: _identity_json(known) for number, known in identities.items()}
                for project, identities in self.identities.items()
            },
            "releases": {str(number): _release_json(release) for number, release in self.releases.items()},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Knowledge":
        """Read back ``to_json``; ``KeyError``, ``TypeError``, ``ValueError`` or ``FormatError`` when the
        document is not one."""
        return cls(
            keys={
                _str(project): {_str(key_id): _key_from(key_id, key) for key_id, key in keys.items()}
                for project, keys in document["keys"].items()
            },
            identities={
                _str(project): {_str(number): _identity_from(known) for number, known in identities.items()}
                for project, identities in document["identities"].items()
            },
            releases={
                int(number): _release_from(release) for number, release in document["releases"].items()
            },
        )


def _key_json(key: TrustedKey) -> dict[str, Any]:
    return {
        "public_key_pem": key.public_key_pem,
        "valid_from": _time_or_none(key.valid_from),
        "valid_until": _time_or_none(key.valid_until),
        "revoked_at": _time_or_none(key.revoked_at),
    }


def _key_from(key_id: str, document: Mapping[str, Any]) -> TrustedKey:
    return TrustedKey(
        key_id=_str(key_id),
        public_key_pem=_str(document["public_key_pem"]),
        valid_from=_parse_time_or_none(document["valid_from"]),
        valid_until=_parse_time_or_none(document["valid_until"]),
        revoked_at=_parse_time_or_none(document["revoked_at"]),
    )


def _identity_json(known: KnownIdentity) -> dict[str, Any]:
    identity = known.identity
    return {
        "issuer": identity.issuer,
        "repository": identity.repository,
        "workflow": identity.workflow,
        "ref": identity.ref,
        "added_at": format_time(known.added_at),
        "removed_at": _time_or_none(known.removed_at),
    }


def _identity_from(document: Mapping[str, Any]) -> KnownIdentity:
    identity = Identity(*(_str(document[name]) for name in ("issuer", "repository", "workflow", "ref")))
    return KnownIdentity(
        identity, parse_time(document["added_at"]), _parse_time_or_none(document["removed_at"])
    )


def _release_json(release: KnownRelease) -> dict[str, Any]:
    cert = release.certificate
    return {
        "project": release.project,
        "version": release.version,
        "index": release.index,
        "registered_at": format_time(release.registered_at),
        "signer_key_id": release.signer_key_id,
        "certificate": None if cert is None else [cert.issuer, cert.signer, cert.repository, cert.ref],
        "trusted": release.trusted,
    }


def _release_from(document: Mapping[str, Any]) -> KnownRelease:
    cert = document["certificate"]
    signer_key_id = document["signer_key_id"]
    if not isinstance(document["index"], int) or not isinstance(document["trusted"], bool):
        raise TypeError("index and trusted must be an integer and a boolean")
    return KnownRelease(
        project=_str(document["project"]),
        version=_str(document["version"]),
        index=document["index"],
        registered_at=parse_time(document["registered_at"]),
        signer_key_id=None if signer_key_id is None else _str(signer_key_id),
        certificate=None if cert is None else Certificate(*(_str(part) for part in cert)),
        trusted=document["trusted"],
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def parse_time(value: object) -> datetime.datetime:
    """A time as entries spell it (``verifier.entries.format_time``), aware; ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError("a time must be a string")
    return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.UTC)


def _parse_time_or_none(value: object) -> datetime.datetime | None:
    return None if value is None else parse_time(value)


def _time_or_none(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


# --- Reading an entry ---------------------------------------------------------------------------------


class _Malformed(Exception):
    """An entry lacks a member its type needs, or holds one of the wrong type; the message says which."""


def _text(entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise _Malformed(f"has no text member {name!r}")
    return value


def _optional_text(entry: Mapping[str, Any], name: str) -> str | None:
    return None if entry.get(name) is None else _text(entry, name)


def _number(entry: Mapping[str, Any], name: str) -> int:
    value = entry.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Malformed(f"has no integer member {name!r}")
    return value


def _moment(entry: Mapping[str, Any], name: str) -> datetime.datetime:
    try:
        return parse_time(entry.get(name))
    except ValueError:
        raise _Malformed(f"has no time member {name!r} (such as 2026-01-02T03:04:05.000006Z)") from None


def _optional_moment(entry: Mapping[str, Any], name: str) -> datetime.datetime | None:
    return None if entry.get(name) is None else _moment(entry, name)


def who(entry: Mapping[str, Any]) -> str:
    """Who entered an entry, as its ``by`` says, in a few words."""
    by = entry.get("by")
    if not isinstance(by, dict):
        return "nobody named"
    name = str(by.get("name"))[:80]
    return {"token": f"CI token {name!r}", "operator": f"operator {name!r}", "system": "Vitrina itself"}.get(
        str(by.get("kind")), f"{str(by)[:80]}"
    )


# --- Checking each entry --------------------------------------------------------------------------------


class Evidence(Protocol):
    """What the checks fetch besides the log: proof bundles from the portal (None when it has none) and
    the repository's word on a commit (``verifier.repo``); each may raise ``CouldNotCheck``."""

    def fetch_release_bundle(self, release_id: int) -> bytes | None: ...

    def fetch_deployment_bundle(self, deployment_id: int) -> bytes | None: ...

    def fetch_branch_check(self, repo_url: str, commit: str, branch: str) -> RepoCheck: ...


class EntryChecker:
    """Checks entries one at a time, in log order, learning into ``knowledge`` from every entry and
    reporting only on the ``projects`` asked for (all when empty; entries of no project always).

    ``check`` returns the entry's findings; it raises ``CouldNotCheck`` when the portal or a repository
    does not answer, so that the run stops before remembering anything.
    """

    def __init__(
        self,
        knowledge: Knowledge,
        *,
        log_key: str,
        evidence: Evidence,
        projects: frozenset[str] = frozenset(),
        tree: Callable[[int], bytes] | None = None,
        tree_size: int = 0,
    ) -> None:
        self.knowledge = knowledge
        # The root of the followed tree at a size (``follow.TileLog.tree_hash``), to hold each bundle's
        # checkpoint against: a portal could show a bundle's reader a history other than the tiles'.
        self.tree = tree
        self.tree_size = tree_size
        self.log_key = log_key
        self.evidence = evidence
        self.projects = projects
        self.bundles_read = 0
        self._branches: dict[tuple[str, str, str], RepoCheck | str] = {}

    def check(self, index: int, data: bytes, *, report: bool = True) -> list[Finding]:
        """The findings of entry ``index`` (its bytes as the tiles hold them); with ``report`` False, only
        learn from it (the entries before ``--from-size``)."""
        try:
            entry = parse_entry(data, what=f"entry {index}")
        except FormatError as exc:
            return [problem(index, "malformed_entry", str(exc))] if report else []
        kind = entry.get("type")
        project = entry.get("project")
        report = report and (not self.projects or not isinstance(project, str) or project in self.projects)
        try:
            findings = self._check(index, data, entry, report)
        except _Malformed as exc:
            findings = [problem(index, "malformed_entry", f"the {str(kind)[:40]} entry {exc}")]
        return findings if report else []

    def _check(self, index: int, data: bytes, entry: dict[str, Any], report: bool) -> list[Finding]:
        kind = entry.get("type")
        if entry.get("v") != ENTRY_SCHEMA_VERSION or not isinstance(kind, str):
            return [_unknown(index, entry)]
        if kind == "release":
            return self._release(index, data, entry, report)
        if kind == "deployment":
            return self._deployment(index, data, entry, report)
        handler = _TRUST_CHANGES.get(kind)
        if handler is not None:
            return handler(self, index, entry)
        party, _, change = kind.rpartition("_")
        if party in PARTIES and change in ("added", "removed"):
            return [_party_notice(index, entry, party, change)]
        if kind in UNCHECKED_TYPES:
            return []
        return [_unknown(index, entry)]

    # Releases and deployments.

    def _release(self, index: int, data: bytes, entry: dict[str, Any], report: bool) -> list[Finding]:
        release_id = _number(entry, "release_id")
        certificate = None
        if "sigstore_bundle_sha256" in entry:
            certificate = Certificate(
                issuer=_text(entry, "certificate_issuer"),
                signer=_text(entry, "certificate_identity"),
                repository=_text(entry, "repo_url"),
                ref=_text(entry, "source_ref"),
            )
        signer_key_id = _optional_text(entry, "signer_key_id")
        if certificate is None and signer_key_id is None:
            raise _Malformed("names neither a signer key nor a Sigstore bundle")
        release = KnownRelease(
            project=_text(entry, "project"),
            version=_text(entry, "version"),
            index=index,
            registered_at=_moment(entry, "registered_at"),
            signer_key_id=signer_key_id,
            certificate=certificate,
        )
        refusal = self.knowledge.trust_refusal(release)
        release.trusted = not refusal
        self.knowledge.releases[release_id] = release
        if not report:
            return []
        what = f"release {release.version} of {release.project} (release {release_id})"
        findings = []
        if refusal:
            kind = "untrusted_key" if certificate is None else "untrusted_identity"
            registered = format_time(release.registered_at)
            findings.append(problem(index, kind, f"{what}, registered at {registered}, {refusal}"))
        findings += author_findings(index, entry, what)
        proof, _ = self._proof(index, data, "release", release_id, what)
        return findings + proof

    def _deployment(self, index: int, data: bytes, entry: dict[str, Any], report: bool) -> list[Finding]:
        project = _text(entry, "project")
        deployment_id = _number(entry, "deployment_id")
        release_id = _number(entry, "release_id")
        what = (
            f"deployment {deployment_id} of release {_text(entry, 'version')} to "
            f"{project}/{_text(entry, 'environment')}"
        )
        if not report:
            return []
        findings = []
        known = self.knowledge.releases.get(release_id)
        if known is None or known.project != project:
            whose = "" if known is None else f" (it is a release of {known.project})"
            findings.append(
                problem(
                    index,
                    "unknown_release",
                    f"{what} names release {release_id}, which no release entry of {project} before it "
                    f"registers{whose}",
                )
            )
        findings += author_findings(index, entry, what)
        proof, bundle = self._proof(index, data, "deployment", deployment_id, what)
        findings += proof
        if bundle is not None and bundle.release is not None and not proof:
            branch = self._branch(index, what, bundle.release.record, bundle.project.protected_branch)
            findings += [branch] if branch else []
        return findings

    def _proof(
        self, index: int, data: bytes, kind: str, number: int, what: str
    ) -> tuple[list[Finding], Bundle | None]:
        """The portal's proof bundle of the record: it must carry this very entry and pass ``verify_bundle``
        under the pinned log key. Returns the findings and the bundle when it is usable."""
        fetch = (
            self.evidence.fetch_release_bundle if kind == "release" else self.evidence.fetch_deployment_bundle
        )
        body = fetch(number)
        self.bundles_read += 1
        found = f"{kind}_not_verified"
        if body is None:
            return [problem(index, found, f"{what}: the portal serves no proof bundle of it")], None
        try:
            bundle = parse_bundle(body)
        except FormatError as exc:
            return [problem(index, found, f"{what}: the portal's proof bundle is not usable: {exc}")], None
        if bundle.kind != kind or bundle.log.index != index or bundle.log.entry != data:
            return [
                problem(
                    index,
                    found,
                    f"{what}: the portal's proof bundle of it proves {bundle.kind} entry {bundle.log.index}, "
                    f"not the entry {index} its tiles hold, byte for byte",
                )
            ], None
        results = verify_bundle(bundle, log_key=self.log_key)
        failed = [f"{result.name}: {result.message}" for result in results if result.status == FAIL]
        if failed:
            return [problem(index, found, f"{what} does not verify: {'; '.join(failed)}")], None
        split = self._split_view(bundle, what)
        if split:
            return [problem(index, "split_view", split)], None
        # A signature left unchecked (a keyless release without the sigstore package) is not a pass.
        errors = [
            f"{result.name}: {result.message}"
            for result in results
            if result.status == ERROR or (result.status == SKIP and result.name.endswith("signature"))
        ]
        if errors:
            raise CouldNotCheck(Reason.CHECKER_ERROR, f"could not check {what}: {'; '.join(errors)}")
        return [], bundle

    def _split_view(self, bundle: Bundle, what: str) -> str | None:
        """Whether the bundle's checkpoint (verified by ``verify_bundle``) contradicts the tree followed
        through the tiles: a checkpoint no larger than that tree must have its root. A larger one was
        signed after the run began and is left to the next run's consistency check."""
        if self.tree is None:
            return None
        carried = verify_checkpoint(bundle.log.checkpoint, self.log_key)
        if carried.size > self.tree_size or self.tree(carried.size) == carried.root:
            return None
        return (
            f"{what}: the portal's proof bundle carries a checkpoint of size {carried.size} whose root is "
            f"not the root of the first {carried.size} entries of the log its tiles serve (a split view); "
            f"the bundle's checkpoint {quoted(bundle.log.checkpoint)}"
        )

    def _branch(self, index: int, what: str, release: Mapping[str, Any], branch: str) -> Finding | None:
        """Whether the deployed release (its record, verified) was built from the protected ``branch``: a
        keyless release's certificate names its ref; a keyed release's commit is looked up in its
        repository."""
        if isinstance(release.get("source_ref"), str):
            return ref_finding(index, what, release["source_ref"], branch)
        repo_url, commit = str(release["repo_url"]), str(release["source_commit"])
        key = (repo_url, commit, branch)
        if key not in self._branches:
            try:
                self._branches[key] = self.evidence.fetch_branch_check(repo_url, commit, branch)
            except (CouldNotCheck, FormatError) as exc:
                self._branches[key] = str(exc)
        return repo_finding(index, what, repo_url, commit, branch, self._branches[key])

    # Changes of trust.

    def _key_added(self, index: int, entry: dict[str, Any]) -> list[Finding]:
        project, key_id = _text(entry, "project"), _text(entry, "key_id")
        key = TrustedKey(
            key_id=key_id,
            public_key_pem=_text(entry, "public_key_pem"),
            valid_from=_moment(entry, "valid_from"),
            valid_until=_optional_moment(entry, "valid_until"),
        )
        self.knowledge.keys.setdefault(project, {})[key_id] = key
        until = f" until {entry['valid_until']}" if key.valid_until else ""
        return [
            notice(
                index,
                "key_added",
                f"project {project} trusts key {key_id[:16]}… ({_text(entry, 'algorithm')}) to sign its "
                f"releases from {entry['valid_from']}{until}; added by {who(entry)}",
            )
        ]

    def _key_revoked(self, index: int, entry: dict[str, Any]) -> list[Finding]:
        project, key_id = _text(entry, "project"), _text(entry, "key_id")
        revoked_at = _moment(entry, "revoked_at")
        keys = self.knowledge.keys.setdefault(project, {})
        key = keys.get(key_id)
        unknown = "" if key else " (a key no key_added entry before it names)"
        if key is not None and (key.revoked_at is None or revoked_at < key.revoked_at):
            keys[key_id] = TrustedKey(
                key.key_id, key.public_key_pem, key.valid_from, key.valid_until, revoked_at=revoked_at
            )
        findings = [
            notice(
                index,
                "key_revoked",
                f"project {project} revoked key {key_id[:16]}…{unknown} from {entry['revoked_at']}; "
                f"revoked by {who(entry)}",
            )
        ]
        return findings + self._untrusted_since(index, project, "untrusted_key")

    def _identity_added(self, index: int, entry: dict[str, Any]) -> list[Finding]:
        project, number = _text(entry, "project"), str(_number(entry, "identity_id"))
        identity = Identity(*(_text(entry, name) for name in ("issuer", "repository", "workflow", "ref")))
        self.knowledge.identities.setdefault(project, {})[number] = KnownIdentity(
            identity, _moment(entry, "added_at")
        )
        return [
            notice(
                index,
                "identity_added",
                f"project {project} trusts CI identity {number} ({identity.describe()}) to sign its keyless "
                f"releases from {entry['added_at']}; added by {who(entry)}",
            )
        ]

    def _identity_removed(self, index: int, entry: dict[str, Any]) -> list[Finding]:
        project, number = _text(entry, "project"), str(_number(entry, "identity_id"))
        removed_at = _moment(entry, "removed_at")
        identities = self.knowledge.identities.setdefault(project, {})
        known = identities.get(number)
        unknown = "" if known else " (an identity no identity_added entry before it names)"
        if known is not None and (known.removed_at is None or removed_at < known.removed_at):
            identities[number] = KnownIdentity(known.identity, known.added_at, removed_at)
        findings = [
            notice(
                index,
                "identity_removed",
                f"project {project} no longer trusts CI identity {number}{unknown} from "
                f"{entry['removed_at']}; removed by {who(entry)}",
            )
        ]
        return findings + self._untrusted_since(index, project, "untrusted_identity")

    def _untrusted_since(self, index: int, project: str, kind: str) -> list[Finding]:
        """The releases of ``project`` seen trusted that a revocation or removal logged after them reaches
        back to (its time is before their registration): each is now signed by what was not trusted then."""
        findings = []
        for release in self.knowledge.releases.values():
            if release.project != project or not release.trusted:
                continue
            refusal = self.knowledge.trust_refusal(release)
            if refusal:
                release.trusted = False
                registered = format_time(release.registered_at)
                findings.append(
                    problem(
                        index,
                        kind,
                        f"{release.describe()}, registered at {registered}, {refusal}: this entry, logged "
                        "after the release, takes the trust back to before it was registered",
                    )
                )
        return findings


_TRUST_CHANGES: dict[str, Callable[[EntryChecker, int, dict[str, Any]], list[Finding]]] = {
    "key_added": EntryChecker._key_added,
    "key_revoked": EntryChecker._key_revoked,
    "identity_added": EntryChecker._identity_added,
    "identity_removed": EntryChecker._identity_removed,
}


def author_findings(index: int, entry: Mapping[str, Any], what: str) -> list[Finding]:
    """A release or deployment must say who entered it (``by``: a CI token, an operator or Vitrina); one
    entered by an operator is flagged so, and reported as a notice."""
    by = entry.get("by")
    if by is None:
        return [
            problem(
                index,
                "unattributed",
                f"{what} does not say who entered it (no 'by'): the portal flags every release and "
                "deployment with the CI token or the operator that entered it, so this one was written "
                "around the portal's registration, or its flag was left out",
            )
        ]
    if not isinstance(by, dict) or by.get("kind") not in AUTHORS or not isinstance(by.get("name"), str):
        return [
            problem(
                index,
                "unattributed",
                f"{what} says it was entered by {json.dumps(by)[:100]}, which is not a CI token, an operator "
                "or Vitrina",
            )
        ]
    if by["kind"] == "operator":
        return [notice(index, "entered_by_hand", f"{what} was entered by hand, by {who(entry)}")]
    return []


def ref_finding(index: int, what: str, source_ref: str, branch: str) -> Finding | None:
    """A keyless release's certificate names the ref its CI run built: it must be the protected branch."""
    if source_ref == f"refs/heads/{branch}":
        return None
    return problem(
        index,
        "unprotected_branch",
        f"{what}: the release was built in CI from {source_ref or '(no ref)'}, not from the protected branch "
        f"{branch} (refs/heads/{branch})",
    )


def repo_finding(
    index: int, what: str, repo_url: str, commit: str, branch: str, check: RepoCheck | str
) -> Finding | None:
    """A keyed release's commit against the protected ``branch`` of its repository; ``check`` is the
    repository's answer, or why it could not be asked."""
    if isinstance(check, str):
        return problem(
            index,
            "unknown_branch",
            f"{what}: whether the release's commit {commit} is on the protected branch {branch} of "
            f"{repo_url} is unknown: {check}",
        )
    if not check.commit_exists:
        return problem(
            index,
            "unprotected_branch",
            f"{what}: the release's commit {commit} is not in {repo_url} at all, so not on the protected "
            f"branch {branch}",
        )
    if not check.on_branch:
        return problem(
            index,
            "unprotected_branch",
            f"{what}: the release's commit {commit} is in {repo_url}, not on the protected branch {branch}",
        )
    return None


def _party_notice(index: int, entry: Mapping[str, Any], party: str, change: str) -> Finding:
    name = entry.get("name") or entry.get(f"{party}_id")
    # Observers and rebuilders are named by their key's id, witnesses by their note verifier key.
    key_id, verifier_key = entry.get("key_id"), entry.get("verifier_key")
    key = f" (key {str(key_id)[:16]}…)" if key_id else ""
    key = f" (key {str(verifier_key)[:60]})" if verifier_key and not key_id else key
    when = entry.get(f"{change}_at")
    since = f" from {when}" if when else ""
    return notice(
        index, f"{party}_{change}", f"{party} {str(name)[:80]!r}{key} {change}{since}, by {who(entry)}"
    )


def _unknown(index: int, entry: Mapping[str, Any]) -> Finding:
    return notice(
        index,
        "unknown_entry_type",
        f"an entry of type {str(entry.get('type'))[:40]!r} and schema {str(entry.get('v'))[:10]}, which this "
        f"monitor (vitrina-verifier {__version__}) cannot check: is it up to date?",
    )

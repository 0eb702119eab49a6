"""The rules of a check: the chain of evidence behind a green light, link by link. Pure: no writes.

``examine`` takes what the runner gathered (the live server's answer, the environment's latest
deployment, the releases bearing the live digest, the log entries) and returns a ``Finding``: green only
when every link holds, else the first broken link's reason and a sentence saying what broke. The
repository is asked through the runner's ``repository`` function, last, and only when every local link
holds: evidence of inconsistency (registry, signature, log) outranks inability to check, so a bad
signature is reported as such even while the repository is unreachable.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from portal.registry import services
from portal.registry.models import Release
from verifier import keyless
from verifier.entries import ABSENT, entry_differences, format_time, parse_entry
from verifier.errors import ClaimMismatch, CouldNotCheck, FormatError, StatementError, UntrustedSigner
from verifier.reasons import Reason, Result
from verifier.release import Claims, check_release
from verifier.statement import component_digest, digest_sets_match


@dataclass
class Finding:
    """What one check found, before it is written down."""

    result: str
    reason: str
    message: str
    live_digest: str = ""
    live_components: dict = field(default_factory=dict)
    live_commit: str = ""
    live_version: str = ""
    http_status: int | None = None
    expected_release: Release | None = None
    live_release: Release | None = None
    ahead_by: int | None = None
    layers: dict = field(default_factory=dict)

    @property
    def expected_digest(self):
        return self.expected_release.artifact_digest if self.expected_release else ""


class BrokenLink(Exception):
    """One link of the chain does not hold: ``reason`` and a specific sentence."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def examine(environment, *, answer, deployment, releases, log_entries, verified, repository):
    """Run every link of the chain against ``environment`` and return the ``Finding``.

    ``answer`` is the live server's ``LiveReport`` or the ``CouldNotCheck`` saying why it was not
    asked, ``deployment`` the latest deployment (None for none), ``releases`` the project's releases
    bearing the live digest (newest first), ``log_entries`` ``{(kind, object id): Logged or None}``
    covering the deployment and its release, ``verified`` the memo of signature checks that passed
    (see ``check_signature``), ``repository(project, release)`` the number of commits the protected
    branch has on top of the release's commit, or ``BrokenLink``.
    """
    project = environment.project
    report = answer
    if isinstance(report, CouldNotCheck):
        return Finding(
            result=Result.UNVERIFIABLE.value,
            reason=Reason(report.reason).value,
            message=str(report),
            expected_release=deployment.release if deployment else None,
        )
    finding = Finding(
        result=Result.VERIFIED.value,
        reason="",
        message="",
        live_digest=report.artifact_digest or "",
        live_components=report.components or {},
        live_commit=report.source_commit or "",
        live_version=(report.version or "")[:100],
        http_status=report.http_status,
    )
    if deployment is not None:
        finding.expected_release = deployment.release
    try:
        if report.components is not None:
            finding.live_release = components_release(environment, report.components, deployment)
            finding.live_digest = served_artifact(finding.live_release, report.components)
        else:
            finding.live_release = live_release(project, report.artifact_digest, deployment, releases)
        if deployment is None:
            raise BrokenLink(
                Reason.NO_DEPLOYMENT,
                f"The server reports {report.artifact_digest} (release {finding.live_release.version}), but "
                f"no deployment to {environment} was ever recorded, so there is nothing to compare it with.",
            )
        check_deployed_release(environment, deployment, finding.live_release)
        if report.components is None:
            check_one_artifact(environment, finding.live_release)
        check_signature(finding.live_release, verified)
        check_logged(finding.live_release, deployment, log_entries)
        finding.ahead_by = repository(project, finding.live_release)
    except BrokenLink as broken:
        finding.result = broken.reason.result.value
        finding.reason = broken.reason.value
        finding.message = broken.message
        return finding
    release = finding.live_release
    finding.message = (
        f"The server runs release {release.version} ({release.artifact_digest}), deployed to {environment} "
        f"at {format_time(deployment.deployed_at)}; its signature, its log entries and commit "
        f"{release.source_commit[:12]} on branch '{project.protected_branch}' "
        f"({finding.ahead_by} commits behind the branch head) all check out."
    )
    return finding


def live_release(project, digest, deployment, releases):
    """The release the live digest names: the deployed one if it matches, else the newest of ``releases``."""
    if deployment is not None and deployment.release.artifact_digest == digest:
        return deployment.release
    if not releases:
        raise BrokenLink(
            Reason.UNREGISTERED_ARTIFACT,
            f"The server reports {digest}, which matches no release of project '{project.slug}': "
            "what runs was never registered (an unrecorded deploy).",
        )
    return releases[0]


def declared_components(release):
    """A release's components by name, each its digest set; a one-artifact release's one artifact,
    under its name, so that a service may report it either way."""
    components = {component.name: component.digests for component in release.components.all()}
    return components or {release.artifact_name: {"sha256": release.artifact_digest.removeprefix("sha256:")}}


def components_release(environment, reported, deployment):
    """The deployed release, when the service reports each of its components and each matches (by the
    strongest digest both sides know); else ``BrokenLink`` naming the component at fault: one differing
    first, then one not reported, then one reported that the release does not have."""
    if deployment is None:
        raise BrokenLink(
            Reason.NO_DEPLOYMENT,
            f"The server reports the components {', '.join(sorted(reported))}, but no deployment to "
            f"{environment} was ever recorded, so there is nothing to compare them with.",
        )
    release = deployment.release
    declared = declared_components(release)
    what = f"release {release.version}, deployed to {environment} at {format_time(deployment.deployed_at)}"
    for name, digests in declared.items():
        if name not in reported:
            continue
        algorithm, hex_part = component_digest(reported[name])
        same = digest_sets_match(digests, {algorithm: hex_part})
        if not same:
            expected = ", ".join(f"{alg}:{value}" for alg, value in sorted(digests.items()))
            compared = "" if same is False else f" (the release knows only {', '.join(sorted(digests))})"
            raise BrokenLink(
                Reason.COMPONENT_MISMATCH,
                f"The server reports component '{name}' as {reported[name]}, but {what}, declares "
                f"{expected}{compared}.",
            )
    missing = [name for name in declared if name not in reported]
    if missing:
        raise BrokenLink(
            Reason.COMPONENT_MISSING,
            f"The server does not report component {quoted(missing)} of {what}; it must report every "
            "component of the release.",
        )
    extra = [name for name in reported if name not in declared]
    if extra:
        raise BrokenLink(
            Reason.COMPONENT_UNEXPECTED,
            f"The server reports component {quoted(extra)}, which {what}, does not have "
            f"(its components: {quoted(list(declared))}).",
        )
    return release


def check_one_artifact(environment, release):
    """A service reporting one artifact digest runs a one-artifact release: a release of several
    components is green only when each is reported."""
    names = [component.name for component in release.components.all()]
    if names:
        raise BrokenLink(
            Reason.COMPONENT_MISSING,
            f"The server reports one artifact digest, but release {release.version} deployed to "
            f"{environment} has the components {quoted(names)}: it must report each by name ('components').",
        )


def served_artifact(release, reported):
    """The digest the service reports for the artifact that names the release, for the status entry."""
    digest = reported.get(release.artifact_name, "")
    return digest if digest.startswith("sha256:") else ""


def quoted(names):
    return ", ".join(f"'{name}'" for name in names)


def check_deployed_release(environment, deployment, release):
    if deployment.release_id != release.pk:
        expected = deployment.release
        raise BrokenLink(
            Reason.WRONG_RELEASE,
            f"The server runs release {release.version} ({release.artifact_digest}), but the latest "
            f"deployment to {environment} (at {format_time(deployment.deployed_at)}) is release "
            f"{expected.version} ({expected.artifact_digest}).",
        )


# How a release's stored fields are named in a sentence.
RECORDED = {
    "artifact_digest": "artifact digest",
    "components": "components",
    "source_commit": "commit",
    "repo_url": "repository",
}


def check_signature(release, verified):
    """``verifier.release.check_release``, as at registration: the stored envelope verifies under the
    release's signer key, trusted when it was registered, and the signed statement names exactly the
    digest, commit and repository of the record.

    ``verified`` (a set) holds the inputs of the checks that passed; any change to one of them (the
    envelope, the key and its window, the record's fields) misses it and is checked afresh.
    """
    if release.is_keyless:
        check_keyless_signature(release, verified)
        return
    key = release.signer_key.trusted()
    components = recorded_components(release)
    claims = release_claims(release, components)
    inputs = (
        hashlib.sha256(release.envelope.encode()).digest(),
        key,
        release.registered_at,
        dataclasses.replace(claims, components=None),
        json.dumps(components),
    )
    if inputs in verified:
        return
    try:
        check_release(release.envelope, [key], at=release.registered_at, claims=claims)
    except UntrustedSigner as exc:
        if exc.untrusted is None:
            raise BrokenLink(Reason.BAD_SIGNATURE, not_verified(release, key, exc)) from None
        raise BrokenLink(
            Reason.BAD_SIGNATURE,
            f"Release {release.version} was registered at {format_time(release.registered_at)}, when its "
            f"signing key {key.short_id} was not trusted ({exc.refusal}).",
        ) from None
    except ClaimMismatch as exc:
        raise BrokenLink(Reason.BAD_SIGNATURE, claim_mismatch(release, exc)) from None
    except (FormatError, StatementError) as exc:
        raise BrokenLink(Reason.BAD_SIGNATURE, not_verified(release, key, exc)) from None
    verified.add(inputs)


def check_keyless_signature(release, verified):
    """``check_signature`` for a keyless release, as at registration (``registry.services``): its Sigstore
    bundle verifies offline under a CI identity the project trusted when it was registered, issued to a run
    of the project's repository, and its statement names exactly what the record says."""
    components = recorded_components(release)
    claims = release_claims(release, components)
    identities = tuple(
        identity.identity()
        for identity in release.project.identities.all()
        if identity.is_trusted_at(release.registered_at)
    )
    inputs = (
        "keyless",
        hashlib.sha256(release.sigstore_bundle.encode()).digest(),
        identities,
        release.project.repo_url,
        release.registered_at,
        dataclasses.replace(claims, components=None),
        json.dumps(components),
    )
    if inputs in verified:
        return
    try:
        evidence = services.check_keyless_evidence(
            release.project, release.sigstore_bundle.encode(), release.registered_at
        )
        keyless.check_keyless_claims(evidence, claims)
    except services.Refused as exc:
        raise BrokenLink(
            Reason.BAD_SIGNATURE, f"The Sigstore bundle of release {release.version} does not verify: {exc}"
        ) from None
    except ClaimMismatch as exc:
        raise BrokenLink(Reason.BAD_SIGNATURE, claim_mismatch(release, exc)) from None
    except (FormatError, StatementError, keyless.KeylessError) as exc:
        raise BrokenLink(
            Reason.BAD_SIGNATURE, f"The Sigstore bundle of release {release.version} does not verify: {exc}."
        ) from None
    verified.add(inputs)


def release_claims(release, components):
    """What the release's record claims, for its signed statement to confirm."""
    return Claims(
        artifact_digest=release.artifact_digest,
        source_commit=release.source_commit,
        repo_url=release.repo_url,
        components=components or None,
    )


def claim_mismatch(release, exc):
    return (
        f"Release {release.version} records {RECORDED[exc.field]} {exc.claimed}, but its signed "
        f"statement says {exc.signed}."
    )


def not_verified(release, key, error):
    return (
        f"The stored envelope of release {release.version} does not verify under its signing key "
        f"{key.short_id}: {error}."
    )


def check_logged(release, deployment, log_entries):
    """Release and deployment each have a log entry, and the entry describes the record as it is now."""
    if release.is_keyless:
        evidence = {"envelope_sha256": None, "sigstore_bundle_sha256": release.sigstore_bundle_sha256}
    else:
        evidence = {"envelope_sha256": hashlib.sha256(release.envelope.encode()).hexdigest()}
    expectations = [
        (
            "release",
            release.pk,
            f"Release {release.version}",
            {"artifact_digest": release.artifact_digest, **evidence, **logged_components(release)},
        ),
        (
            "deployment",
            deployment.pk,
            f"Deployment {deployment.pk}",
            {"artifact_digest": release.artifact_digest, "release_id": release.pk},
        ),
    ]
    for kind, object_id, what, fields in expectations:
        entry = log_entries.get((kind, object_id))
        if entry is None:
            raise BrokenLink(
                Reason.NOT_IN_LOG, f"{what} (id {object_id}) has no entry in the transparency log."
            )
        for difference in entry_differences(kind, fields, parse_entry(entry.entry)):
            logged = None if difference.logged is ABSENT else difference.logged
            raise BrokenLink(
                Reason.NOT_IN_LOG,
                f"{what} differs from its {entry_name(entry)}: {difference.field} is "
                f"{difference.recorded} in the record but {logged} in the log; the record was changed "
                "after it was logged.",
            )


def entry_name(entry):
    """A record's entry as a sentence names it: by its index, or as queued while it has none yet."""
    return "pending log entry" if entry.index is None else f"log entry #{entry.index}"


def logged_components(release):
    """The components a release of several logged (a one-artifact release's entry has none)."""
    components = recorded_components(release)
    return {"components": components} if components else {}


def recorded_components(release):
    """The release's components as its entry spells them. A page that annotated ``has_components``
    (``Exists``, in the query that read the release) spares the read for a release that has none."""
    if not getattr(release, "has_components", True):
        return []
    return [component.to_json() for component in release.components.all()]


def repository_link(project, release, found):
    """The repository's answer (``CommitCheck``) about the release's commit: return how many commits the
    protected branch has on top of it, or ``BrokenLink`` if it is missing or off the branch."""
    if not found.commit_exists:
        raise BrokenLink(
            Reason.COMMIT_MISSING,
            f"Commit {release.source_commit} of release {release.version} does not exist in "
            f"{project.repo_url}.",
        )
    if not found.on_branch:
        raise BrokenLink(
            Reason.COMMIT_NOT_ON_BRANCH,
            f"Commit {release.source_commit} of release {release.version} exists in {project.repo_url} "
            f"but is not reachable from its protected branch '{project.protected_branch}' "
            f"(head {found.branch_head}).",
        )
    return found.ahead_by

"""Keyless release evidence: a Sigstore bundle made in CI, checked offline against a trusted CI identity.

GitHub artifact attestations (``actions/attest-build-provenance``), ``cosign attest --bundle`` and npm
provenance sign an in-toto statement with a short-lived certificate that Fulcio issued to one CI run, and
record the signature in Rekor, Sigstore's transparency log. The certificate names the issuer of the run's
OIDC token, the workflow that signed (its SAN), the repository, ref and commit it ran on, and the run.
``verify_keyless`` checks all of it with the ``sigstore`` library (certificate chain to Fulcio at the
log's integrated time, SCT, Rekor inclusion proof and promise, DSSE signature), offline, against the
public-good trust root the library embeds or a ``trusted_root.json`` given as bytes, and accepts the
bundle only under one of the project's ``Identity`` policies. ``check_keyless_claims`` then holds the
statement to what a release record says, with the rules ``verifier.release`` applies to keyed releases.

A worked example (the README of the test data names this identity)::

    from verifier.keyless import Identity, verify_keyless

    evidence = verify_keyless(bundle_bytes, [Identity(
        issuer="https://token.actions.githubusercontent.com",
        repository="https://github.com/malancas/attest-demo",
        workflow="https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@*",
        ref="refs/heads/main")])
    evidence.run_url      # https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1
    evidence.log_index    # 96764485

``sigstore`` is an optional dependency of the verifier (``pip install 'vitrina-verifier[sigstore]'``): it
is imported only here, inside the functions, and its absence is ``SigstoreUnavailable``. Whatever the
bytes, the only exceptions out of ``verify_keyless`` are ``KeylessError`` and its child.
"""

import fnmatch
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from verifier import jsontext
from verifier.dsse import PAYLOAD_TYPE_IN_TOTO, Envelope
from verifier.errors import FormatError, VerificationFailed
from verifier.release import Claims, check_claims, same_repository
from verifier.statement import STATEMENT_TYPE, Statement

if TYPE_CHECKING:
    from sigstore.models import Bundle as SigstoreBundle
    from sigstore.verify import Verifier

MAX_SIGSTORE_BUNDLE_BYTES = 1024 * 1024
MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_FULCIO = "1.3.6.1.4.1.57264.1."
_ISSUER_V1 = ObjectIdentifier(_FULCIO + "1")  # raw bytes, in certificates before 2023
_ISSUER = ObjectIdentifier(_FULCIO + "8")  # this and the ones below: a DER UTF8String
_SOURCE_REPOSITORY = ObjectIdentifier(_FULCIO + "12")
_SOURCE_DIGEST = ObjectIdentifier(_FULCIO + "13")
_SOURCE_REF = ObjectIdentifier(_FULCIO + "14")
_RUN_URL = ObjectIdentifier(_FULCIO + "21")


class KeylessError(VerificationFailed):
    """A Sigstore bundle is refused: malformed, not verifiable under the trust root, or signed by an
    identity the project does not trust. The message says which, in words a CI log reader understands."""


class SigstoreUnavailable(KeylessError):
    """The optional ``sigstore`` package is not installed, so no Sigstore bundle can be checked here."""


@dataclass(frozen=True)
class Identity:
    """One trusted CI identity (a policy): all given parts must match the bundle's certificate."""

    issuer: str  # exact match of the certificate's OIDC issuer (Fulcio extension .8, else .1)
    repository: str  # the source repository (extension .12), compared as ``same_repository`` does
    workflow: str = ""  # fnmatch pattern on the SAN (the signing workflow's URI); "" for any
    ref: str = ""  # fnmatch pattern on the source ref (extension .14); "" for any

    def describe(self) -> str:
        parts = [f"issuer {self.issuer}", f"repository {self.repository}"]
        parts += [f"workflow {self.workflow}"] if self.workflow else []
        parts += [f"ref {self.ref}"] if self.ref else []
        return ", ".join(parts)


@dataclass(frozen=True)
class KeylessEvidence:
    """A verified Sigstore bundle: its signed statement and what its certificate and log entry say."""

    payload: bytes  # the DSSE payload (the in-toto statement's bytes)
    statement: dict[str, Any]  # the payload, parsed strictly
    issuer: str
    signer: str  # the SAN: the signing workflow's URI (or an e-mail address, outside CI)
    repository: str  # extension .12
    ref: str  # extension .14
    commit: str  # extension .13
    run_url: str  # extension .21
    log_index: int  # the entry's index in Rekor
    integrated_time: datetime  # when Rekor integrated it, aware, UTC
    identity: Identity  # the policy that matched


@dataclass(frozen=True)
class _Certificate:
    """What a Fulcio certificate says about the CI run it was issued to ("" where it says nothing)."""

    issuer: str
    signer: str
    repository: str
    ref: str
    commit: str
    run_url: str

    def describe(self) -> str:
        return (
            f"issuer {self.issuer or '(none)'}, repository {self.repository or '(none)'}, "
            f"workflow {self.signer or '(none)'}, ref {self.ref or '(none)'}"
        )

    def refusal(self, identity: Identity) -> str:
        """Why ``identity`` does not accept this certificate, in one phrase, or ``""`` if it does."""
        if self.issuer != identity.issuer:
            return f"issuer is {self.issuer or '(none)'}, not {identity.issuer}"
        if not self.repository or not same_repository(self.repository, identity.repository):
            return f"repository is {self.repository or '(none)'}, not {identity.repository}"
        if identity.workflow and not fnmatch.fnmatchcase(self.signer, identity.workflow):
            return f"workflow {self.signer or '(none)'} does not match {identity.workflow}"
        if identity.ref and not fnmatch.fnmatchcase(self.ref, identity.ref):
            return f"ref {self.ref or '(none)'} does not match {identity.ref}"
        return ""


def certificate_refusal(identity: Identity, *, issuer: str, signer: str, repository: str, ref: str) -> str:
    """Why ``identity`` does not accept a certificate naming these, in one phrase, or ``""`` if it does:
    the rule ``verify_keyless`` applies, for a certificate known only from a release's log entry."""
    return _Certificate(issuer, signer, repository, ref, commit="", run_url="").refusal(identity)


# --- Verifying a bundle -------------------------------------------------------------------------------


def verify_keyless(
    bundle: bytes, identities: Sequence[Identity], *, trust_root: bytes | None = None
) -> KeylessEvidence:
    """Verify a Sigstore bundle (media types v0.1 to v0.3, DSSE content, an in-toto v1 statement) offline,
    under the first of ``identities`` its certificate matches.

    ``trust_root`` is a ``trusted_root.json`` (a private Sigstore instance); None uses the public-good
    production root the ``sigstore`` package embeds. Raises ``SigstoreUnavailable`` when that package is
    not installed, ``KeylessError`` for anything else: a malformed bundle, an identity no policy accepts
    (naming what the certificate says and the identities tried), or the library's reason for refusing it
    (bad signature, certificate outside its validity at the integrated time, log entry missing or not
    proven, another trust root).
    """
    document = _document(bundle)
    sigstore = _sigstore_bundle(bundle)
    try:
        certificate = _certificate(sigstore.signing_certificate)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise KeylessError(f"the Sigstore bundle's certificate cannot be read: {exc}") from None
    identity = _matching_identity(certificate, identities)
    payload_type, payload = _verify_dsse(sigstore, identity, trust_root)
    if payload_type != PAYLOAD_TYPE_IN_TOTO:
        raise KeylessError(f"the Sigstore bundle signs a {payload_type!r} payload, not an in-toto statement")
    log_index, integrated_time = _log_entry(document)
    return KeylessEvidence(
        payload=payload,
        statement=_statement(payload),
        issuer=certificate.issuer,
        signer=certificate.signer,
        repository=certificate.repository,
        ref=certificate.ref,
        commit=certificate.commit,
        run_url=certificate.run_url,
        log_index=log_index,
        integrated_time=integrated_time,
        identity=identity,
    )


def sigstore_missing() -> str:
    """Why Sigstore bundles cannot be checked here, or ``""`` when the ``sigstore`` package is installed."""
    try:
        import sigstore.verify  # noqa: F401
    except ImportError:
        return (
            "the 'sigstore' package is not installed, so the Sigstore bundle was not checked: "
            "pip install 'vitrina-verifier[sigstore]' (or 'sigstore>=4.5,<5') to check it"
        )
    return ""


def _document(bundle: bytes) -> dict[str, Any]:
    if len(bundle) > MAX_SIGSTORE_BUNDLE_BYTES:
        raise KeylessError(f"the Sigstore bundle is larger than {MAX_SIGSTORE_BUNDLE_BYTES // 1024} KiB")
    try:
        document = jsontext.loads_object(bundle, what="the Sigstore bundle")
    except FormatError as exc:
        raise KeylessError(str(exc)) from None
    media_type = document.get("mediaType")
    if media_type not in MEDIA_TYPES:
        raise KeylessError(
            f"the Sigstore bundle's mediaType is {str(media_type)[:80]!r}; this verifier reads bundles "
            f"v0.1 to v0.3 ({', '.join(MEDIA_TYPES)})"
        )
    return document


def _sigstore_bundle(bundle: bytes) -> "SigstoreBundle":
    missing = sigstore_missing()
    if missing:
        raise SigstoreUnavailable(missing)
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(bundle)
    except Exception as exc:  # the library's parser raises several kinds; all mean a bundle it refuses
        raise KeylessError(f"not a Sigstore bundle the sigstore library accepts: {_reason(exc)}") from None


def _matching_identity(certificate: _Certificate, identities: Sequence[Identity]) -> Identity:
    """The first identity that accepts the certificate; checked again by the library after the chain."""
    for identity in identities:
        if not certificate.refusal(identity):
            return identity
    if not identities:
        raise KeylessError(
            f"no CI identity is trusted, so no Sigstore bundle can be accepted (the certificate says "
            f"{certificate.describe()})"
        )
    tried = "; ".join(f"{identity.describe()} ({certificate.refusal(identity)})" for identity in identities)
    raise KeylessError(
        f"the certificate ({certificate.describe()}) matches none of the trusted identities: {tried}"
    )


def _verify_dsse(bundle: "SigstoreBundle", identity: Identity, trust_root: bytes | None) -> tuple[str, bytes]:
    from sigstore.errors import VerificationError
    from sigstore.verify import policy

    class SameRepositoryWorkflowRef:
        """The identity's repository, workflow and ref parts, as a sigstore policy on the certificate."""

        def verify(self, cert: x509.Certificate) -> None:
            refusal = _certificate(cert).refusal(identity)
            if refusal:
                raise VerificationError(refusal)

    issuer = policy.AnyOf([policy.OIDCIssuerV2(identity.issuer), policy.OIDCIssuer(identity.issuer)])
    try:
        payload_type, payload = _verifier(trust_root).verify_dsse(
            bundle, policy.AllOf([issuer, SameRepositoryWorkflowRef()])
        )
    except KeylessError:
        raise
    except Exception as exc:  # whatever the library raises is a bundle it refuses, with its reason
        raise KeylessError(f"the Sigstore bundle does not verify: {_reason(exc)}") from None
    return payload_type, payload


def _verifier(trust_root: bytes | None) -> "Verifier":
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier
    from sigstore_models.trustroot import v1 as trustroot_v1

    if trust_root is None:
        return Verifier.production(offline=True)
    try:
        root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(trust_root))
    except Exception as exc:
        raise KeylessError(f"the trust root is not a Sigstore trusted_root.json: {_reason(exc)}") from None
    return Verifier(trusted_root=root)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _log_entry(document: dict[str, Any]) -> tuple[int, datetime]:
    """The Rekor entry's index and integrated time, which the library has verified (inclusion proof
    and signed entry timestamp) by the time this runs."""
    entries = document.get("verificationMaterial", {}).get("tlogEntries")
    entry = entries[0] if isinstance(entries, list) and len(entries) == 1 else {}
    try:
        index, integrated = int(entry["logIndex"]), int(entry["integratedTime"])
        return index, datetime.fromtimestamp(integrated, UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise KeylessError(
            "the Sigstore bundle's log entry has no integrated time (a Rekor v2 entry timestamped by a "
            "timestamp authority), which this verifier does not read yet"
        ) from None


def _statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = jsontext.loads_object(payload, what="the signed statement")
    except FormatError as exc:
        raise KeylessError(str(exc)) from None
    if statement.get("_type") != STATEMENT_TYPE:
        raise KeylessError(
            f"the signed payload is not an in-toto Statement v1 ({STATEMENT_TYPE}): "
            f"_type is {str(statement.get('_type'))[:80]!r}"
        )
    return statement


def _certificate(cert: x509.Certificate) -> _Certificate:
    """Read the Fulcio extensions; ``ValueError`` for one that is not the DER string Fulcio writes."""
    issuer = _extension(cert, _ISSUER)
    if not issuer:
        legacy = _raw_extension(cert, _ISSUER_V1)
        issuer = legacy.decode("utf-8") if legacy else ""
    return _Certificate(
        issuer=issuer,
        signer=_subject_alternative_name(cert),
        repository=_extension(cert, _SOURCE_REPOSITORY),
        ref=_extension(cert, _SOURCE_REF),
        commit=_extension(cert, _SOURCE_DIGEST),
        run_url=_extension(cert, _RUN_URL),
    )


def _subject_alternative_name(cert: x509.Certificate) -> str:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    found = names.get_values_for_type(x509.UniformResourceIdentifier) or names.get_values_for_type(
        x509.RFC822Name
    )
    return found[0] if found else ""


def _raw_extension(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return b""
    return value.value if isinstance(value, x509.UnrecognizedExtension) else b""


def _extension(cert: x509.Certificate, oid: ObjectIdentifier) -> str:
    """An extension holding a DER UTF8String (tag 12), as Fulcio writes extensions .8 and above."""
    data = _raw_extension(cert, oid)
    if not data:
        return ""
    if len(data) < 2 or data[0] != 0x0C:
        raise ValueError(f"extension {oid.dotted_string} is not a UTF8String")
    length, start = data[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 2 or len(data) < 2 + size:
            raise ValueError(f"extension {oid.dotted_string} has a malformed length")
        length, start = int.from_bytes(data[2 : 2 + size], "big"), 2 + size
    if len(data) != start + length:
        raise ValueError(f"extension {oid.dotted_string} has a malformed length")
    return data[start:].decode("utf-8")


# --- The statement against a release's record ---------------------------------------------------------


def check_keyless_claims(
    evidence: KeylessEvidence, claims: Claims, *, artifact_sha512: str | None = None
) -> Statement:
    """The verified statement says what ``claims`` say, as ``verifier.release.check_claims`` decides for a
    keyed release; and it agrees with the certificate: its source is the certificate's repository (the
    statement's dependency URI may carry ``@<ref>``, as GitHub's does) and commit.

    A statement whose subjects name the artifact only by sha512 (npm provenance) is accepted when
    ``artifact_sha512`` (``sha512:<128 hex>`` of the same file whose sha256 ``claims.artifact_digest``
    gives) is one of them; the statement returned then names the artifact by that sha256. Raises
    ``KeylessError`` for a sha512 that is missing or matches no subject, and ``StatementError`` or
    ``ClaimMismatch`` as ``check_claims`` does.
    """
    payload = _with_sha256(evidence, claims, artifact_sha512)
    checked = check_claims(
        Envelope(payload_type=PAYLOAD_TYPE_IN_TOTO, payload=payload, signatures=[]),
        Claims(
            artifact_digest=claims.artifact_digest,
            source_commit=claims.source_commit,
            repo_url=None,
            ci_build_url=claims.ci_build_url,
        ),
    )
    statement = Statement(**{**vars(checked), "raw": evidence.statement})
    source = statement.source_uri.removeprefix("git+").split("@", 1)[0]
    if not same_repository(source, evidence.repository):
        raise KeylessError(
            f"the statement says it was built from {statement.source_uri}, the certificate was issued "
            f"to a run of {evidence.repository}"
        )
    if claims.repo_url is not None and not same_repository(claims.repo_url, evidence.repository):
        raise KeylessError(
            f"the release names the repository {claims.repo_url}, the certificate was issued to a run of "
            f"{evidence.repository}"
        )
    if evidence.commit and statement.source_commit != evidence.commit:
        raise KeylessError(
            f"the statement says commit {statement.source_commit}, the certificate was issued to a run "
            f"at commit {evidence.commit}"
        )
    return statement


def _with_sha256(evidence: KeylessEvidence, claims: Claims, artifact_sha512: str | None) -> bytes:
    """The payload, or for a sha512-only statement one whose matching subject also carries the
    artifact's sha256, so that the statement rules of ``verifier.statement`` apply unchanged."""
    subjects = evidence.statement.get("subject")
    subjects = subjects if isinstance(subjects, list) else []
    digests = [s.get("digest") if isinstance(s, dict) else None for s in subjects]
    if any(isinstance(d, dict) and "sha256" in d for d in digests):
        return evidence.payload
    if not any(isinstance(d, dict) and "sha512" in d for d in digests):
        return evidence.payload  # check_claims says what is missing
    if artifact_sha512 is None or claims.artifact_digest is None:
        raise KeylessError(
            "the statement names its artifact only by a sha512 digest (as npm provenance does); "
            "give the artifact's sha512 and sha256 digests to check it against the release"
        )
    wanted = artifact_sha512.removeprefix("sha512:")
    if len(wanted) != 128 or not _is_hex(wanted):
        raise KeylessError(
            f"the artifact's sha512 must be 'sha512:<128 lowercase hex>', got {artifact_sha512[:80]!r}"
        )
    for subject, digest in zip(subjects, digests, strict=True):
        if isinstance(digest, dict) and digest.get("sha512") == wanted:
            sha256 = claims.artifact_digest.removeprefix("sha256:")
            named = {**subject, "digest": {**digest, "sha256": sha256}}
            return json.dumps({**evidence.statement, "subject": [named]}).encode("utf-8")
    signed = ", ".join(
        f"sha512:{d['sha512'][:16]}…"
        for d in digests
        if isinstance(d, dict) and isinstance(d.get("sha512"), str)
    )
    raise KeylessError(
        f"the artifact's sha512 is sha512:{wanted[:16]}…, the statement signs {signed}: another artifact"
    )


def _is_hex(text: str) -> bool:
    try:
        return bytes.fromhex(text).hex() == text
    except ValueError:
        return False


def bundle_sha256(bundle: bytes) -> str:
    """The hex SHA-256 of a Sigstore bundle's bytes, as a release's log entry records it."""
    return hashlib.sha256(bundle).hexdigest()

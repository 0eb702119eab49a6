"""One check of a release's evidence: its signed envelope, the keys trusted to sign it, what its record says.

The portal runs ``check_release`` when it registers a release and again in every check of an environment
that runs one; a volunteer's ``verify_bundle`` runs its two steps on a proof bundle and reports each on its
own line: ``verify_signature`` (the envelope verifies under a key trusted when it counted) and
``check_claims`` (the signed statement says what the record says). The same function decides in all three
places, so a release the portal accepts is one a volunteer's verification accepts, and the reverse.

A worked example (``keys`` as the portal publishes them; a record as a release bundle carries it)::

    from verifier.release import Claims, TrustedKey, check_release

    keys = [TrustedKey(key_id="3f2a…", public_key_pem=pem)]
    checked = check_release(envelope_text, keys, claims=Claims(
        artifact_digest="sha256:…", source_commit="9c1e…", repo_url="https://git.example.org/app.git"))
    checked.statement.artifact_digest   # the signed facts, now trusted
    checked.signer.key_id               # the key that signed

Anything wrong raises one of the verifier's typed errors: ``FormatError`` (the envelope is not one),
``UntrustedSigner`` (no key trusted at the moment verifies it), ``StatementError`` (the signed payload is
not an acceptable statement), ``ClaimMismatch`` (the record says otherwise). Each carries its evidence.
"""

from dataclasses import dataclass
from datetime import datetime

from verifier import dsse
from verifier.dsse import PAYLOAD_TYPE_IN_TOTO, Envelope
from verifier.errors import ClaimMismatch, FormatError, KeyFormatError, SignatureError, UntrustedSigner
from verifier.keys import PublicKey, load_public_key
from verifier.statement import Statement, parse_statement


@dataclass(frozen=True)
class TrustedKey:
    """A public key a project trusts to sign its releases, and when: from ``valid_from`` (None: always)
    until ``valid_until`` or ``revoked_at``, whichever comes first (None: no end)."""

    key_id: str
    public_key_pem: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def short_id(self) -> str:
        """The first 16 hex characters of the key id, as the portal's pages and messages show it."""
        return self.key_id[:16]

    def refusal_at(self, moment: datetime) -> str:
        """Why this key could not sign at ``moment``, in one phrase, or ``""`` if it could."""
        if self.revoked_at is not None and moment >= self.revoked_at:
            return f"key {self.short_id} was revoked at {self.revoked_at:%Y-%m-%d %H:%M} UTC"
        if self.valid_until is not None and moment >= self.valid_until:
            return f"key {self.short_id} expired at {self.valid_until:%Y-%m-%d %H:%M} UTC"
        if self.valid_from is not None and moment < self.valid_from:
            return f"key {self.short_id} is valid only from {self.valid_from:%Y-%m-%d %H:%M} UTC"
        return ""

    def is_valid_at(self, moment: datetime) -> bool:
        return not self.refusal_at(moment)

    def public_key(self) -> PublicKey:
        """The key; ``KeyFormatError`` if the PEM is no supported key, or another key than ``key_id``."""
        key = load_public_key(self.public_key_pem)
        if key.key_id != self.key_id:
            raise KeyFormatError(f"trusted key {self.short_id}…: its PEM is key {key.key_id[:16]}…")
        return key


@dataclass(frozen=True)
class Claims:
    """What a record says about its release. None where it says nothing (a registration's optional
    fields); any text, even empty, is a claim the signed evidence must bear out.

    ``ci_build_url`` is a registration's claim only: a stored record may hold the URL its registration
    gave for a statement that names none, which no signature covers (its log entry does).
    """

    artifact_digest: str | None = None
    source_commit: str | None = None
    repo_url: str | None = None
    ci_build_url: str | None = None
    signer_key_id: str | None = None
    # A release of several components: each as ``Subject.to_json`` spells it, in the statement's order.
    # None for a record that has none: a one-artifact release, or one registered before components
    # were recorded, whose statement's other subjects nothing recorded.
    components: list[dict[str, object]] | None = None


@dataclass(frozen=True)
class SignedEnvelope:
    """An envelope whose signature verifies under ``signer``, a key trusted at the moment that counted."""

    envelope: Envelope
    signer: TrustedKey


@dataclass(frozen=True)
class VerifiedRelease:
    """The outcome of ``check_release``: the signed facts, and the key that signed them."""

    statement: Statement
    signer: TrustedKey


def check_release(
    envelope: str | bytes | dict[str, object],
    keys: list[TrustedKey],
    *,
    at: datetime | None = None,
    claims: Claims | None = None,
) -> VerifiedRelease:
    """Check a release's evidence: ``verify_signature``, then ``check_claims``; see the module docstring."""
    claims = claims or Claims()
    signed = verify_signature(envelope, keys, at=at, signer_key_id=claims.signer_key_id)
    return VerifiedRelease(statement=check_claims(signed.envelope, claims), signer=signed.signer)


def verify_signature(
    envelope: str | bytes | dict[str, object] | Envelope,
    keys: list[TrustedKey],
    *,
    at: datetime | None = None,
    signer_key_id: str | None = None,
) -> SignedEnvelope:
    """The envelope is an in-toto DSSE envelope whose signature verifies under one of ``keys`` trusted
    ``at`` (a release's registration; None trusts ``keys`` as given, as a bundle lists only the keys the
    portal trusted), and, when ``signer_key_id`` is given, that key is the one the record names.

    Raises ``FormatError`` for an envelope that is not one (or of another payload type), and
    ``UntrustedSigner`` when no trusted key verifies it, naming a known key that does but was not trusted
    ``at`` (with why), or the ids of the keys tried.
    """
    parsed = envelope if isinstance(envelope, Envelope) else dsse.parse_envelope(envelope)
    if parsed.payload_type != PAYLOAD_TYPE_IN_TOTO:
        raise FormatError(f"payloadType must be {PAYLOAD_TYPE_IN_TOTO}, got {parsed.payload_type!r}")
    trusted = [key for key in keys if at is None or key.is_valid_at(at)]
    signer = _signer(parsed, trusted)
    if signer is None:
        untrusted = _signer(parsed, [key for key in keys if key not in trusted])
        tried = tuple(key.key_id for key in trusted)
        if untrusted is not None and at is not None:
            refusal = untrusted.refusal_at(at)
            raise UntrustedSigner(
                f"the signature was made with a key that was not trusted at that moment: {refusal}",
                tried=tried,
                untrusted=untrusted.key_id,
                refusal=refusal,
            )
        listed = ", ".join(key_id[:16] + "…" for key_id in tried) or "none"
        raise UntrustedSigner(
            f"signature does not verify under any trusted key (keys: {listed})",
            tried=tried,
            untrusted=None,
            refusal="",
        )
    if signer_key_id is not None and signer.key_id != signer_key_id:
        raise ClaimMismatch(
            f"the envelope verifies under key {signer.key_id[:16]}…, but the release names key "
            f"{signer_key_id[:16]}…",
            field="signer_key_id",
            claimed=signer_key_id,
            signed=signer.key_id,
        )
    return SignedEnvelope(envelope=parsed, signer=signer)


def check_claims(envelope: Envelope, claims: Claims) -> Statement:
    """The envelope's payload is an acceptable statement, and it says what ``claims`` say.

    ``envelope`` must already be verified (``verify_signature``): before that its payload is anyone's
    word. The artifact digest, commit and repository are compared wherever claimed; the CI build URL
    only where the statement names one too (it is optional in a statement); the components, when
    claimed, all of them (none for a one-artifact release). Raises ``StatementError`` or
    ``ClaimMismatch`` (the first field that disagrees).
    """
    statement = parse_statement(envelope.payload)
    signed_components = [subject.to_json() for subject in statement.components]
    if claims.components is not None and claims.components != signed_components:
        raise ClaimMismatch(
            f"the release's components are {_listed(claims.components)}, the signed statement names "
            f"{_listed(signed_components)}",
            field="components",
            claimed=repr(claims.components),
            signed=repr(signed_components),
        )
    signed = {
        "artifact_digest": (claims.artifact_digest, statement.artifact_digest),
        "source_commit": (claims.source_commit, statement.source_commit),
        "repo_url": (claims.repo_url, statement.source_uri),
        "ci_build_url": (claims.ci_build_url or None, statement.ci_build_url),
    }
    for field, (claimed, in_statement) in signed.items():
        if claimed is not None and in_statement is not None and claimed != in_statement:
            raise ClaimMismatch(
                f"the release's {field} is {claimed!r}, the signed statement says {in_statement!r}",
                field=field,
                claimed=claimed,
                signed=in_statement,
            )
    return statement


def _listed(components: object) -> str:
    """Components as a sentence shows them; whatever a bundle's record holds instead, as it is."""
    if not isinstance(components, list):
        return repr(components)
    shown = (f"{c.get('name')} {c.get('digest')}" if isinstance(c, dict) else repr(c) for c in components)
    return ", ".join(shown) or "none"


def _signer(envelope: Envelope, keys: list[TrustedKey]) -> TrustedKey | None:
    """The first of ``keys`` under which the envelope verifies, else None (``keyid`` never consulted)."""
    if not keys:
        return None
    by_id = {key.key_id: key for key in keys}
    try:
        verified = dsse.verify_envelope(envelope, [key.public_key() for key in keys])
    except SignatureError:
        return None
    return by_id[verified.key_id]


def same_repository(first: str, second: str) -> bool:
    """True when two repository URLs name the same repository.

    They are compared without the spellings that change nothing: a leading ``git+``, trailing ``/``
    and a trailing ``.git``. The portal refuses a release whose statement fails this test against the
    project's repository, and a volunteer's verification fails on it, by the same rule.
    """
    return _normal_repo(first) == _normal_repo(second)


def _normal_repo(url: str) -> str:
    return url.removeprefix("git+").rstrip("/").removesuffix(".git")

"""One exception type per kind of failure, each carrying a message a volunteer can act on.

``VerifierError`` is the root so a command-line front end can turn any of them into one line.
Failures split in two families, because the verifier's exit code and the portal's light tell them apart:
evidence that something is wrong (``VerificationFailed`` and its children) and inability to check at all
(``CouldNotCheck`` and its children).
"""

from .reasons import Reason


class VerifierError(Exception):
    """Base of every error raised by the verifier."""


class FormatError(VerifierError):
    """Input is malformed: not JSON, bad base64, a digest that is not ``sha256:<64 hex>``, a wrong version."""


class VerificationFailed(VerifierError):
    """The input is well formed and the evidence contradicts the claim."""


class SignatureError(VerificationFailed):
    """A DSSE signature or a signed note does not verify under any trusted key."""


class UntrustedSigner(SignatureError):
    """No trusted key verifies the signature. ``tried`` holds the ids of the keys trusted at the moment
    that counts; ``untrusted`` the id of a known key that does verify it but was not trusted then (revoked,
    expired, not yet valid), with ``refusal`` saying why, or None and ``""`` when no known key does."""

    def __init__(self, message: str, *, tried: tuple[str, ...], untrusted: str | None, refusal: str) -> None:
        super().__init__(message)
        self.tried = tried
        self.untrusted = untrusted
        self.refusal = refusal


class ClaimMismatch(VerificationFailed):
    """A record's field (``field``: ``artifact_digest``, ``source_commit``, ``repo_url``, ``ci_build_url``
    or ``signer_key_id``) says ``claimed`` where the signed evidence says ``signed``."""

    def __init__(self, message: str, *, field: str, claimed: str, signed: str) -> None:
        super().__init__(message)
        self.field = field
        self.claimed = claimed
        self.signed = signed


class KeyFormatError(FormatError):
    """A key cannot be loaded or is of an unsupported algorithm."""


class StatementError(VerificationFailed):
    """The signed payload is not an acceptable in-toto Statement v1 with SLSA provenance v1."""


class ProofError(VerificationFailed):
    """A Merkle inclusion or consistency proof does not verify."""


class CheckpointError(VerificationFailed):
    """A checkpoint is malformed, from another origin, or inconsistent with one seen before."""


class DigestMismatch(VerificationFailed):
    """A computed digest differs from the one claimed."""


class CouldNotCheck(VerifierError):
    """A check could not be carried out (network, timeout, missing tool). Never counts as a pass.

    ``reason`` is a code from ``verifier.reasons.Reason``.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason

"""One exception type per kind of failure, each carrying a message a volunteer can act on.

``VerifierError`` is the root so a command-line front end can turn any of them into one line.
Failures split in two families, because the verifier's exit code and the portal's light tell them apart:
evidence that something is wrong (``VerificationFailed`` and its children) and inability to check at all
(``CouldNotCheck`` and its children).
"""


class VerifierError(Exception):
    """Base of every error raised by the verifier."""


class FormatError(VerifierError):
    """Input is malformed: not JSON, bad base64, a digest that is not ``sha256:<64 hex>``, a wrong version."""


class VerificationFailed(VerifierError):
    """The input is well formed and the evidence contradicts the claim."""


class SignatureError(VerificationFailed):
    """A DSSE signature or a signed note does not verify under any trusted key."""


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

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason

"""Vitrina's verifier: the checks that turn a light green, runnable by anyone.

Pure Python on top of ``cryptography``; it never imports the portal. The portal calls the same
functions that volunteers run with ``python -m verifier``.

Verify a release offline, as a volunteer does. You need its proof bundle (``Download proof bundle`` on
the release's page), the log's key, fetched once from somewhere you trust and kept, and, to check that
your copy of the artifact is the one that was signed, the artifact itself::

    >>> import verifier
    >>> with open("demo-1.4.2.bundle.json", "rb") as f:
    ...     bundle = verifier.parse_bundle(f.read())
    >>> with open("log.pub") as f:
    ...     log_key = f.read().strip()
    >>> results = verifier.verify_bundle(
    ...     bundle,
    ...     log_key=log_key,
    ...     artifact_path="demo-1.4.2.tar.gz",
    ...     history=verifier.History(verifier.CheckpointStore("checkpoints")),
    ... )
    >>> for result in results:
    ...     print(result.status, result.name)
    pass signature
    pass statement
    pass artifact
    skip served files
    pass log entry
    pass project
    pass checkpoint
    skip witnesses
    pass inclusion
    pass history
    skip repository
    skip rebuilds
    >>> [result.name for result in results if result.status in (verifier.FAIL, verifier.ERROR)]
    []

``parse_bundle`` raises ``FormatError`` for a file that is not a bundle; ``verify_bundle`` raises
nothing: each check passes, fails (evidence of a problem), is skipped (saying what would make it run)
or could not be carried out (``error``: a network, a tool). ``repo=`` (a git URL or path) adds the
check that the commit is on the project's protected branch; the ``CheckpointStore`` remembers each
log's last checkpoint, so the next run proves the log only grew (``fetch_proof=`` lets ``History``
ask the portal for the consistency proof it needs). ``python -m verifier verify`` is these calls
and a printout; docs/verify.md explains each check.

The package, by audience (read it in this order; each module's first lines say what it is for):

- **formats**, the specifications as code: ``digest`` (``sha256:<hex>``, files and directory trees),
  ``keys`` (Ed25519, ECDSA P-256), ``dsse`` (signed envelopes), ``statement`` (in-toto, SLSA
  provenance), ``note`` (signed notes and checkpoints), ``merkle`` (RFC 9162 trees and proofs),
  ``tiles`` (C2SP tlog-tiles), ``entries`` (the log's entries), ``jsontext`` (the one strict reader
  of outside JSON), ``errors`` and ``reasons``;
- **offline checks**, what a volunteer runs and the portal runs too: ``bundle`` (a proof bundle, every
  check above), ``release`` (a release's evidence: envelope, trusted keys and record agree),
  ``repo`` (a commit on a protected branch), ``live`` (what a service says it runs), ``state`` (the
  checkpoints remembered between runs);
- **CI client**, what a build job runs: ``attest`` (hash and sign what was built), ``publish``
  (register it with the portal);
- **service side**, what a watched service runs: ``endpoint`` (a WSGI middleware that says which
  artifact is deployed);
- **witnesses**, who cosign the log's checkpoints: ``cosignature`` (C2SP tlog-cosignature: witness
  keys, cosigning, counting cosignatures), ``witness`` (C2SP tlog-witness: the client a log calls,
  and a witness's checks and state), ``witness_server`` (``python -m verifier witness``);
- **command line**: ``cli`` (``python -m verifier``: ``verify``, ``attest``, ``publish``) and
  ``command`` (what every subcommand shares: the exit codes, and a failure as one line).

The names below (``__all__``) are the public face; everything else may change between versions.
"""

from verifier.attest import artifact_digest, attest
from verifier.bundle import ERROR, FAIL, PASS, SKIP, Bundle, CheckResult, parse_bundle, verify_bundle
from verifier.digest import parse_digest, sha256_bytes, sha256_directory, sha256_file
from verifier.dsse import Envelope, parse_envelope, sign_envelope, verify_envelope
from verifier.endpoint import LiveEndpointMiddleware
from verifier.errors import (
    CheckpointError,
    ClaimMismatch,
    CouldNotCheck,
    DigestMismatch,
    FormatError,
    KeyFormatError,
    ProofError,
    SignatureError,
    StatementError,
    UntrustedSigner,
    VerificationFailed,
    VerifierError,
)
from verifier.keys import PrivateKey, PublicKey, generate_private_key, load_private_key, load_public_key
from verifier.live import LiveReport, fetch_live
from verifier.note import Checkpoint, parse_verifier_key, verify_checkpoint
from verifier.reasons import Reason, Result
from verifier.release import Claims, TrustedKey, VerifiedRelease, check_release
from verifier.repo import RepoCheck, check_commit_in_repo
from verifier.state import CheckpointStore, History, default_state_dir, fetch_consistency_proof
from verifier.statement import Statement, build_statement, parse_statement
from verifier.version import __version__

__all__ = [
    "__version__",
    # offline checks
    "parse_bundle",
    "verify_bundle",
    "Bundle",
    "CheckResult",
    "PASS",
    "FAIL",
    "SKIP",
    "ERROR",
    "History",
    "CheckpointStore",
    "default_state_dir",
    "fetch_consistency_proof",
    "check_release",
    "TrustedKey",
    "Claims",
    "VerifiedRelease",
    "check_commit_in_repo",
    "RepoCheck",
    "fetch_live",
    "LiveReport",
    # formats
    "parse_digest",
    "sha256_bytes",
    "sha256_file",
    "sha256_directory",
    "PublicKey",
    "PrivateKey",
    "load_public_key",
    "load_private_key",
    "generate_private_key",
    "Envelope",
    "parse_envelope",
    "verify_envelope",
    "sign_envelope",
    "Statement",
    "parse_statement",
    "build_statement",
    "Checkpoint",
    "parse_verifier_key",
    "verify_checkpoint",
    "Reason",
    "Result",
    # CI client
    "artifact_digest",
    "attest",
    # service side
    "LiveEndpointMiddleware",
    # errors: evidence of a problem (VerificationFailed) or no verdict (CouldNotCheck, FormatError)
    "VerifierError",
    "FormatError",
    "KeyFormatError",
    "VerificationFailed",
    "SignatureError",
    "UntrustedSigner",
    "ClaimMismatch",
    "StatementError",
    "ProofError",
    "CheckpointError",
    "DigestMismatch",
    "CouldNotCheck",
]

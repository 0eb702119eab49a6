"""Small builders for tests: key pairs and signed release envelopes.

from tests.verifier.factories import key_pair, signed_envelope

pair = key_pair()                          # Ed25519; key_pair("ecdsa-p256") for ECDSA P-256
envelope = signed_envelope(pair, artifact_digest=DIGEST, commit=COMMIT, repo_uri=REPO)
# envelope is the JSON-ready dict; envelope_to_json(envelope) gives the text CI would POST.
# pair.public_pem is what an operator registers as the project's trusted key.
"""

import hashlib
import secrets
from dataclasses import dataclass

from verifier.dsse import sign_envelope
from verifier.keys import PrivateKey, PublicKey, generate_private_key
from verifier.statement import build_statement, statement_to_payload

REPO_URI = "https://git.example.org/city/portal.git"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ARTIFACT_NAME = "portal.tar.gz"
ARTIFACT_DIGEST = "sha256:" + hashlib.sha256(b"portal release 1.0").hexdigest()
CI_BUILD_URL = "https://ci.example.org/city/portal/builds/42"


@dataclass(frozen=True)
class KeyPair:
    private_key: PrivateKey
    private_pem: str
    public_pem: str

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key

    @property
    def key_id(self) -> str:
        return self.private_key.public_key.key_id


def key_pair(algorithm="ed25519"):
    """A fresh key pair, ``"ed25519"`` or ``"ecdsa-p256"``, with both halves as PEM text."""
    private_key = generate_private_key(algorithm)
    return KeyPair(private_key, private_key.private_pem(), private_key.public_key.pem)


def random_digest():
    """A fresh ``sha256:<hex>`` digest, for an artifact no other test uses."""
    return "sha256:" + secrets.token_hex(32)


def random_commit():
    """A fresh 40-hex git commit id."""
    return secrets.token_hex(20)


def signed_envelope(
    signer,
    *,
    artifact_digest=ARTIFACT_DIGEST,
    commit=COMMIT,
    repo_uri=REPO_URI,
    artifact_name=ARTIFACT_NAME,
    ci_build_url=CI_BUILD_URL,
    keyid=None,
    components=(),
):
    """A DSSE envelope dict holding a signed Statement v1 / SLSA provenance v1 for one artifact, or for
    the release of several ``components`` ((name, digest) pairs) when given.

    ``signer`` is a ``KeyPair`` or a ``PrivateKey``. ``keyid`` defaults to the signer's key id.
    """
    private_key = signer.private_key if isinstance(signer, KeyPair) else signer
    statement = build_statement(
        artifact_name=artifact_name,
        artifact_digest=artifact_digest,
        repo_uri=repo_uri,
        commit=commit,
        ci_build_url=ci_build_url,
        components=components,
    )
    return sign_envelope(
        statement_to_payload(statement),
        private_key,
        keyid=keyid if keyid is not None else private_key.public_key.key_id,
    )

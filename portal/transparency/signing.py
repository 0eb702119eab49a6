"""The log's Ed25519 signing key: read from the file named by ``VITRINA_LOG_KEY_FILE``, never stored
in the database and never logged.

The file is a PEM PKCS#8 Ed25519 private key, readable only by its owner. ``genlogkey`` creates it on
first start; every other caller only reads it, and a missing or unreadable file is one clear error
(``LogKeyError``) rather than a traceback.
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from verifier.note import make_verifier_key

MAX_KEY_FILE_BYTES = 16 * 1024


class LogKeyError(Exception):
    """The log signing key cannot be used; the message says which file and what to do."""


def key_path():
    return Path(settings.VITRINA_LOG_KEY_FILE)


def load_signing_key():
    path = key_path()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise LogKeyError(
            f"log signing key file {path} does not exist; create it with 'manage.py genlogkey'"
        ) from None
    except OSError as exc:
        raise LogKeyError(f"log signing key file {path} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise LogKeyError(f"log signing key file {path} is too large to be a PEM Ed25519 key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # The exception text could quote the file; only say what is wrong with it.
        raise LogKeyError(
            f"log signing key file {path} is not an unencrypted PEM PKCS#8 private key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LogKeyError(f"log signing key file {path} holds a key that is not Ed25519")
    return key


def verifier_key():
    """The published ``name+hash+base64`` verifier key; its name is the log origin."""
    return make_verifier_key(settings.VITRINA_LOG_ORIGIN, load_signing_key().public_key())


def generate_key_file():
    """Create the key file with mode 0600 unless it exists. Returns True when a key was created."""
    path = key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return True

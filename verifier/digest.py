"""SHA-256 digests of bytes, files and directory trees, and the ``sha256:<hex>`` notation.

Everywhere in Vitrina (statements, releases, live endpoints, proof bundles) an artifact is named by
``sha256:`` followed by 64 lowercase hex characters. ``parse_digest`` is the one gate every digest
coming from outside passes through, so that two spellings of the same digest never compare unequal.
"""

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from typing import TypeGuard

from verifier.errors import FormatError

PREFIX = "sha256:"
CHUNK_SIZE = 1024 * 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX_ANY_CASE = re.compile(r"[0-9a-fA-F]*")
# A git commit id: 40 hex for SHA-1 repositories, 64 for repositories using git's SHA-256 object format.
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def is_commit_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a full git commit id in lowercase hex (the one spelling compared everywhere)."""
    return isinstance(value, str) and _GIT_COMMIT.fullmatch(value) is not None


def parse_digest(text: object) -> str:
    """Return the 64 lowercase hex characters of a ``sha256:<hex>`` digest.

    Strict on purpose: uppercase hex or a missing prefix would let the same artifact appear under two
    names, and a comparison between them would report a mismatch that is not there (or hide one).
    """
    if not isinstance(text, str):
        raise FormatError(f"digest must be a string like 'sha256:<64 hex>', got {type(text).__name__}")
    algorithm, sep, hex_part = text.partition(":")
    if not sep:
        raise FormatError(f"digest must look like 'sha256:<64 lowercase hex>', got {_shorten(text)!r}")
    if algorithm != "sha256":
        raise FormatError(f"only sha256 digests are supported, got algorithm {_shorten(algorithm)!r}")
    if len(hex_part) != 64:
        raise FormatError(f"a sha256 digest has 64 hex characters, got {len(hex_part)}")
    if not _HEX64.fullmatch(hex_part):
        if _HEX_ANY_CASE.fullmatch(hex_part):
            raise FormatError("sha256 digest must be lowercase hex, got uppercase letters")
        raise FormatError(f"sha256 digest must be hex (0-9, a-f), got {_shorten(hex_part)!r}")
    return hex_part


def format_digest(hex_or_bytes: bytes | bytearray | str) -> str:
    """Return ``sha256:<hex>`` for a 32-byte raw digest or its 64-character lowercase hex form."""
    if isinstance(hex_or_bytes, bytes | bytearray):
        if len(hex_or_bytes) != 32:
            raise FormatError(f"a raw sha256 digest has 32 bytes, got {len(hex_or_bytes)}")
        return PREFIX + bytes(hex_or_bytes).hex()
    return PREFIX + parse_digest(PREFIX + hex_or_bytes)


def sha256_bytes(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return format_digest(hashlib.sha256(data).digest())


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return ``sha256:<hex>`` of a file's contents, read in 1 MiB chunks so any size fits in memory.

    ``OSError`` (missing file, no permission) is left to the caller, who knows which file it asked for.
    """
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    return format_digest(hasher.digest())


def sha256_directory(path: str | os.PathLike[str]) -> str:
    """Return ``sha256:<hex>`` of a directory tree, computed the way ``sha256sum`` would list it.

    The scheme, so that anyone can recompute it with standard tools:

    1. Take every regular file under ``path``, at any depth, and its path relative to ``path`` with
       ``/`` separators (e.g. ``lib/app.py``).
    2. Sort those relative paths by their UTF-8 bytes (``LC_ALL=C sort`` order).
    3. For each file write the line ``<sha256 hex of its contents>  <relative path>\\n`` (two spaces:
       exactly the output of ``sha256sum``).
    4. The digest is the sha256 of the concatenated lines.

    Equivalently: ``cd DIR && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum
    | sha256sum``. Only file contents and names count: permissions, timestamps and empty directories
    do not. Symbolic links and special files (sockets, devices, FIFOs) are refused with ``FormatError``
    rather than followed or skipped, because either choice would make the digest depend on something
    outside the tree or silently leave part of it out. A file name containing a newline is refused
    too, since it would make the listing ambiguous.
    """
    listing = hashlib.sha256()
    for relative in sorted(regular_files(path, ""), key=os.fsencode):
        file_hex = parse_digest(sha256_file(os.path.join(path, relative)))
        listing.update(f"{file_hex}  ".encode() + os.fsencode(relative) + b"\n")
    return format_digest(listing.digest())


def regular_files(root: str | os.PathLike[str], prefix: str) -> Iterator[str]:
    """Yield the relative posix paths of the regular files under ``root``/``prefix``."""
    with os.scandir(os.path.join(root, prefix)) as entries:
        for entry in entries:
            relative = f"{prefix}/{entry.name}" if prefix else entry.name
            if "\n" in entry.name:
                raise FormatError(f"file name contains a newline: {relative!r}")
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                yield from regular_files(root, relative)
            elif stat.S_ISREG(mode):
                yield relative
            elif stat.S_ISLNK(mode):
                raise FormatError(f"symbolic link in the directory: {relative!r}; only regular files count")
            else:
                raise FormatError(f"special file in the directory: {relative!r}; only regular files count")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"

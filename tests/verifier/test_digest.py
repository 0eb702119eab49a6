"""The ``sha256:<hex>`` notation and the digests of bytes, files and directory trees."""

import hashlib
import os
import shutil
import subprocess

import pytest

from verifier.digest import (
    CHUNK_SIZE,
    format_digest,
    parse_digest,
    sha256_bytes,
    sha256_directory,
    sha256_file,
)
from verifier.errors import FormatError

HEX = hashlib.sha256(b"vitrina").hexdigest()
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_digest_returns_the_hex_part():
    assert parse_digest(f"sha256:{HEX}") == HEX


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (f"sha256:{HEX.upper()}", "lowercase"),
        (f"sha256:{HEX[:-1]}", "64 hex characters, got 63"),
        (f"sha256:{HEX}0", "64 hex characters, got 65"),
        (f"sha512:{HEX}", "only sha256"),
        (f"SHA256:{HEX}", "only sha256"),
        (HEX, "sha256:<64 lowercase hex>"),
        (f"sha256:{HEX[:-1]}g", "must be hex"),
        (f"sha256: {HEX[1:]}", "must be hex"),
        ("", "sha256:<64 lowercase hex>"),
    ],
)
def test_malformed_digest_is_refused_naming_the_problem(text, complaint):
    with pytest.raises(FormatError, match=complaint):
        parse_digest(text)


def test_digest_that_is_not_a_string_is_refused():
    with pytest.raises(FormatError, match="must be a string"):
        parse_digest(HEX.encode())


def test_format_digest_accepts_raw_bytes_and_hex():
    raw = hashlib.sha256(b"vitrina").digest()
    assert format_digest(raw) == f"sha256:{HEX}"
    assert format_digest(HEX) == f"sha256:{HEX}"


def test_format_digest_refuses_wrong_sizes_and_uppercase():
    with pytest.raises(FormatError, match="32 bytes"):
        format_digest(b"\x00" * 31)
    with pytest.raises(FormatError, match="lowercase"):
        format_digest(HEX.upper())


def test_sha256_bytes_matches_hashlib():
    assert sha256_bytes(b"") == EMPTY_SHA256
    assert sha256_bytes(b"vitrina") == f"sha256:{HEX}"


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 12345])
def test_sha256_file_matches_hashlib_on_the_same_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "artifact.bin"
    path.write_bytes(data)
    assert sha256_file(path) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_sha256_file_reads_in_chunks_rather_than_all_at_once(tmp_path, monkeypatch):
    path = tmp_path / "artifact.bin"
    path.write_bytes(os.urandom(2 * CHUNK_SIZE + 1))
    reads = []
    real_open = open

    class CountingFile:
        def __init__(self, f):
            self._f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

        def read(self, size=-1):
            reads.append(size)
            return self._f.read(size)

    monkeypatch.setattr("builtins.open", lambda *a, **k: CountingFile(real_open(*a, **k)))
    sha256_file(path)
    assert reads and all(0 < size <= CHUNK_SIZE for size in reads)


def test_sha256_file_on_a_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")


def make_tree(root, files):
    for relative, content in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


TREE = [
    ("b.txt", b"bee\n"),
    ("a.txt", b"ay\n"),
    ("lib/app.py", b"print('hi')\n"),
    ("lib/z/deep.bin", b"\x00\x01\x02"),
    ("A-upper.txt", b"sorted before lowercase in C order\n"),
]


def test_directory_digest_follows_the_documented_sha256sum_scheme(tmp_path):
    root = make_tree(tmp_path / "tree", TREE)
    # Sorted by path bytes, like `LC_ALL=C sort` on the file list: "A-upper.txt" before "a.txt".
    lines = [
        f"{hashlib.sha256(content).hexdigest()}  {relative}\n".encode()
        for relative, content in sorted(TREE, key=lambda item: item[0].encode())
    ]
    assert sha256_directory(root) == "sha256:" + hashlib.sha256(b"".join(lines)).hexdigest()


def test_directory_digest_is_deterministic_and_independent_of_creation_order(tmp_path):
    first = make_tree(tmp_path / "first", TREE)
    second = make_tree(tmp_path / "second", list(reversed(TREE)))
    assert sha256_directory(first) == sha256_directory(first) == sha256_directory(second)


def test_directory_digest_ignores_empty_directories(tmp_path):
    root = make_tree(tmp_path / "tree", TREE)
    before = sha256_directory(root)
    (root / "empty" / "nested").mkdir(parents=True)
    assert sha256_directory(root) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "a.txt").write_bytes(b"ay!\n"),
        lambda root: (root / "a.txt").rename(root / "a2.txt"),
        lambda root: (root / "a.txt").rename(root / "lib" / "a.txt"),
        lambda root: (root / "new.txt").write_bytes(b""),
        lambda root: (root / "lib" / "app.py").unlink(),
    ],
    ids=["content", "rename", "move", "add-empty-file", "remove"],
)
def test_directory_digest_changes_with_any_file_change(tmp_path, change):
    root = make_tree(tmp_path / "tree", TREE)
    before = sha256_directory(root)
    change(root)
    assert sha256_directory(root) != before


def test_directory_with_a_symlink_is_refused(tmp_path):
    root = make_tree(tmp_path / "tree", TREE)
    (root / "lib" / "link.txt").symlink_to(root / "a.txt")
    with pytest.raises(FormatError, match="symbolic link.*lib/link.txt"):
        sha256_directory(root)


def test_directory_with_a_fifo_is_refused(tmp_path):
    root = make_tree(tmp_path / "tree", TREE)
    os.mkfifo(root / "pipe")
    with pytest.raises(FormatError, match="special file.*pipe"):
        sha256_directory(root)


def test_directory_with_a_newline_in_a_file_name_is_refused(tmp_path):
    root = make_tree(tmp_path / "tree", [("bad\nname", b"x")])
    with pytest.raises(FormatError, match="newline"):
        sha256_directory(root)


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "find", "sort", "xargs", "sha256sum")),
    reason="needs GNU find, sort, xargs and sha256sum",
)
def test_directory_digest_equals_the_documented_shell_pipeline(tmp_path):
    root = make_tree(tmp_path / "tree", TREE)
    pipeline = "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"
    out = subprocess.run(["bash", "-c", pipeline], cwd=root, capture_output=True, check=True, text=True)
    assert sha256_directory(root) == "sha256:" + out.stdout.split()[0]

"""Our log formats checked by Go's golang.org/x/mod/sumdb/note and sumdb/tlog, which we did not write.

Needs the ``go`` tool and the x/mod sources as Debian packages them (``golang-go`` and
``golang-golang-x-mod-dev``); the Go program builds offline in GOPATH mode against them. Without
them the test is skipped on a workstation, and fails when ``CI`` is set, so CI cannot skip it silently.
"""

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers import needs
from verifier import merkle, note

GO_PROGRAM = Path(__file__).resolve().parent / "go"
GOCODE = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put Go sources
ORIGIN = "vitrina.example/log"
SIZE = 70
TEXT = "Go and Vitrina agree.\n\nA second paragraph \u2014 with an em dash.\n"


def go_tool():
    go = shutil.which("go")
    missing = None
    if go is None:
        missing = "the go tool is not installed"
    elif not (GOCODE / "src" / "golang.org" / "x" / "mod" / "sumdb" / "note").is_dir():
        missing = f"golang.org/x/mod is not under {GOCODE}/src"
    if missing:
        needs.missing(f"{missing} (apt-get install golang-go golang-golang-x-mod-dev)")
    return go


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory):
    go = go_tool()
    work = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{work / 'gopath'}{os.pathsep}{GOCODE}",
        "GOCACHE": str(work / "cache"),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "",
    }
    binary = work / "interop"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=GO_PROGRAM, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    return binary


class Log:
    def __init__(self, size):
        self.stored, self.leaves = [], []
        for n in range(size):
            leaf = merkle.leaf_hash(json.dumps({"entry": n}).encode())
            self.stored.extend(merkle.stored_hashes(n, leaf, self.read_hashes))
            self.leaves.append(leaf)
        self.roots = [merkle.tree_hash(n, self.read_hashes) for n in range(size + 1)]

    def read_hashes(self, indexes):
        return [self.stored[i] for i in indexes]


def b64(hashes):
    return [base64.b64encode(h).decode() for h in hashes]


def flip(hashes, i):
    tampered = list(hashes)
    tampered[i] = bytes([tampered[i][0] ^ 0x80]) + tampered[i][1:]
    return tampered


def inclusion_cases(log):
    for size in range(1, SIZE + 1):
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, log.read_hashes)
            yield {"index": index, "size": size, "proof": b64(proof), "valid": True, "remark": "as made"}
            if proof and (index + size) % 5 == 0:
                tampered = flip(proof, index % len(proof))
                yield {
                    "index": index,
                    "size": size,
                    "proof": b64(tampered),
                    "valid": False,
                    "remark": "bit flip",
                }
                yield {
                    "index": index,
                    "size": size,
                    "proof": b64(proof[:-1]),
                    "valid": False,
                    "remark": "short",
                }
                other = (index + 1) % size
                yield {
                    "index": other,
                    "size": size,
                    "proof": b64(proof),
                    "valid": False,
                    "remark": "other entry",
                }


def consistency_cases(log):
    for size in range(1, SIZE + 1):
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(first, size, log.read_hashes)
            case = {"first": first, "size": size}
            yield {**case, "proof": b64(proof), "valid": True, "remark": "as made"}
            if proof and (first + size) % 5 == 0:
                tampered = flip(proof, first % len(proof))
                yield {**case, "proof": b64(tampered), "valid": False, "remark": "bit flip"}
                yield {**case, "proof": b64(proof[:-1]), "valid": False, "remark": "short"}


@pytest.fixture(scope="module")
def exchange(go_binary):
    """Our log, checkpoint and keys; Go's verdict on them and the notes Go signed."""
    log = Log(SIZE)
    private_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    checkpoint = note.sign_note(note.format_checkpoint(ORIGIN, SIZE, log.roots[SIZE]), ORIGIN, private_key)
    request = {
        "checkpoint": checkpoint,
        "verifier_key": note.make_verifier_key(ORIGIN, private_key.public_key()),
        "leaf_hashes": b64(log.leaves),
        "stored_hashes": b64(log.stored),
        "roots": b64(log.roots),
        "inclusion": list(inclusion_cases(log)),
        "consistency": list(consistency_cases(log)),
        "signer_key": note.make_signer_key(ORIGIN, private_key),
        "text": TEXT,
        "go_key_name": "go.example/log",
    }
    run = subprocess.run(
        [str(go_binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, f"Go interop program failed:\n{run.stderr}"
    return request, json.loads(run.stdout), private_key


def test_go_finds_no_disagreement(exchange):
    request, response, _ = exchange
    assert response["problems"] == []
    assert response["inclusion_checks"] == len(request["inclusion"])
    assert response["consistency_checks"] == len(request["consistency"])


def test_go_checked_tampered_proofs_too(exchange):
    request, _, _ = exchange
    assert any(not case["valid"] for case in request["inclusion"])
    assert any(not case["valid"] for case in request["consistency"])


def test_go_opens_our_checkpoint(exchange):
    request, response, _ = exchange
    assert response["checkpoint_text"] == note.format_checkpoint(
        ORIGIN, SIZE, base64.b64decode(request["roots"][SIZE])
    )


def test_note_go_signs_with_our_key_opens_and_equals_ours(exchange):
    request, response, private_key = exchange
    verifier = note.parse_verifier_key(request["verifier_key"])
    assert note.open_note(response["signed_with_our_key"], [verifier]) == (TEXT, [ORIGIN])
    # Ed25519 is deterministic: both implementations must write the very same bytes.
    assert response["signed_with_our_key"] == note.sign_note(TEXT, ORIGIN, private_key)


def test_keys_and_note_generated_by_go_are_accepted(exchange):
    _, response, _ = exchange
    verifier = note.parse_verifier_key(response["go_verifier_key"])
    signer = note.parse_signer_key(response["go_signer_key"])
    assert verifier.name == signer.name == "go.example/log"
    assert note.make_verifier_key(signer.name, signer.private_key.public_key()) == response["go_verifier_key"]
    assert note.make_signer_key(signer.name, signer.private_key) == response["go_signer_key"]
    assert note.open_note(response["signed_with_go_key"], [verifier]) == (TEXT, ["go.example/log"])

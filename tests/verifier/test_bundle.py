"""Proof bundles: parsing refuses anything malformed, and every check fails on the evidence it guards.

Bundles here are built in pure Python, the way the portal builds them, over an in-memory log.
"""

import base64
import copy
import dataclasses
import hashlib
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers.gitserver import make_repo, make_side_commit
from tests.verifier.factories import key_pair, random_commit, signed_envelope
from verifier import bundle as bundle_module
from verifier import merkle, note
from verifier.bundle import ERROR, FAIL, PASS, SKIP, parse_bundle, verify_bundle
from verifier.digest import sha256_bytes
from verifier.dsse import envelope_to_json
from verifier.errors import CouldNotCheck, FormatError
from verifier.reasons import Reason
from verifier.repo import RepoCheck

ORIGIN = "log.test/vitrina"
REPO_URL = "https://git.example.org/demo.git"
ARTIFACT = b"the release's artifact bytes"


def b64(data):
    return base64.b64encode(data).decode("ascii")


class MemoryLog:
    """A log held in memory, with the stored-hash layout the portal uses, and its signing key."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.verifier_key = note.make_verifier_key(ORIGIN, self.key.public_key())
        self.entries = []
        self.hashes = []

    def read(self, indexes):
        return [self.hashes[i] for i in indexes]

    def append(self, document):
        entry = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        self.hashes += merkle.stored_hashes(len(self.entries), merkle.leaf_hash(entry), self.read)
        self.entries.append(entry)
        return len(self.entries) - 1

    def checkpoint(self, size=None):
        size = len(self.entries) if size is None else size
        root = merkle.tree_hash(size, self.read)
        return note.sign_note(note.format_checkpoint(ORIGIN, size, root), ORIGIN, self.key)

    def proof_section(self, index, size=None):
        size = len(self.entries) if size is None else size
        return {
            "origin": ORIGIN,
            "verifier_key": self.verifier_key,
            "index": index,
            "entry_b64": b64(self.entries[index]),
            "tree_size": size,
            "inclusion_proof": [b64(h) for h in merkle.inclusion_proof(index, size, self.read)],
            "checkpoint": self.checkpoint(size),
        }


PROJECT = {"slug": "demo", "repo_url": REPO_URL, "protected_branch": "main"}


def release_record(envelope_text, signer, commit, version="1.0.0", release_id=7):
    return {
        "project": "demo",
        "release_id": release_id,
        "version": version,
        "artifact_name": "app.tar.gz",
        "artifact_digest": sha256_bytes(ARTIFACT),
        "source_commit": commit,
        "repo_url": REPO_URL,
        "ci_build_url": "https://ci.example.org/runs/1",
        "envelope_sha256": hashlib.sha256(envelope_text.encode()).hexdigest(),
        "signer_key_id": signer.key_id,
        "registered_at": "2026-01-02T03:04:05.000006Z",
    }


def log_entry(kind, record):
    return {
        "v": 1,
        "type": kind,
        "logged_at": "2026-01-02T03:04:05.000007Z",
        **record,
        "by": {"kind": "system"},
    }


@pytest.fixture
def log():
    memory = MemoryLog()
    memory.append({"v": 1, "type": "key_added", "project": "demo"})
    return memory


@pytest.fixture
def signer():
    return key_pair()


@pytest.fixture
def commit():
    return random_commit()


def release_document(log, signer, commit, *, integrate=True):
    envelope = signed_envelope(
        signer,
        artifact_digest=sha256_bytes(ARTIFACT),
        commit=commit,
        repo_uri=REPO_URL,
        artifact_name="app.tar.gz",
        ci_build_url="https://ci.example.org/runs/1",
    )
    text = envelope_to_json(envelope)
    record = release_record(text, signer, commit)
    index = log.append(log_entry("release", record))
    return {
        "bundle_version": 1,
        "kind": "release",
        "release": record,
        "envelope": text,
        "signing_keys": [
            {"key_id": signer.key_id, "algorithm": "ed25519", "public_key_pem": signer.public_pem}
        ],
        "log": log.proof_section(index) if integrate else None,
        "project": dict(PROJECT),
    }


def deployment_document(log, signer, commit):
    release = release_document(log, signer, commit)
    record = {
        "project": "demo",
        "environment": "production",
        "deployment_id": 3,
        "release_id": release["release"]["release_id"],
        "version": release["release"]["version"],
        "artifact_digest": release["release"]["artifact_digest"],
        "deployed_at": "2026-01-02T04:00:00.000000Z",
        "pipeline_run_url": "",
    }
    index = log.append(log_entry("deployment", record))
    release["log"] = log.proof_section(release["log"]["index"])
    return {
        "bundle_version": 1,
        "kind": "deployment",
        "deployment": record,
        "log": log.proof_section(index),
        "project": dict(PROJECT),
        "release_bundle": release,
    }


def encode(document):
    return (json.dumps(document, indent=2) + "\n").encode()


def statuses(results):
    return {result.name: result.status for result in results}


def verify(document, **options):
    return verify_bundle(parse_bundle(encode(document)), **options)


def failed(results):
    return [r.name for r in results if r.status == FAIL]


@pytest.fixture
def fake_repo(monkeypatch, commit):
    """The repository check, answered as a repository whose main branch holds ``commit`` would."""

    def check(repo, wanted, branch, timeout=60):
        if branch != "main":
            raise CouldNotCheck(Reason.REPO_UNREACHABLE, f"no branch {branch!r}")
        return RepoCheck(wanted == commit, wanted == commit, 0 if wanted == commit else None, commit)

    monkeypatch.setattr(bundle_module, "check_commit_in_repo", check)


# --- A good bundle passes -----------------------------------------------------------------------------


def test_a_release_bundle_passes_every_check_it_can_run(log, signer, commit):
    results = verify(release_document(log, signer, commit))
    assert statuses(results) == {
        "signature": PASS,
        "statement": PASS,
        "artifact": SKIP,
        "served files": SKIP,
        "log entry": PASS,
        "project": PASS,
        "checkpoint": PASS,
        "witnesses": SKIP,
        "inclusion": PASS,
        "history": SKIP,
        "repository": SKIP,
        "rebuilds": SKIP,
    }
    assert "WARNING" in next(r.message for r in results if r.name == "checkpoint")


def test_the_artifact_and_a_pinned_log_key_are_checked(log, signer, commit, tmp_path):
    artifact = tmp_path / "app.tar.gz"
    artifact.write_bytes(ARTIFACT)
    results = verify(
        release_document(log, signer, commit), artifact_path=str(artifact), log_key=log.verifier_key
    )
    assert statuses(results)["artifact"] == PASS
    checkpoint = next(r for r in results if r.name == "checkpoint")
    assert checkpoint.status == PASS and "WARNING" not in checkpoint.message


def test_a_different_artifact_fails(log, signer, commit, tmp_path):
    artifact = tmp_path / "app.tar.gz"
    artifact.write_bytes(ARTIFACT + b"!")
    results = verify(release_document(log, signer, commit), artifact_path=str(artifact))
    assert failed(results) == ["artifact"]


def test_a_deployment_bundle_checks_the_deployment_and_its_release(log, signer, commit, fake_repo):
    results = verify(deployment_document(log, signer, commit), repo="repo", log_key=log.verifier_key)
    assert [r.name for r in results if r.status != PASS] == [
        "deployment witnesses",
        "deployment history",
        "release artifact",
        "release served files",
        "release witnesses",
        "release history",
        "release rebuilds",
    ]
    assert "deployment release" in statuses(results)


def test_the_commit_is_checked_against_a_real_repository(log, signer, tmp_path):
    shas = make_repo(tmp_path / "app.git", commits=2)
    side = make_side_commit(tmp_path / "app.git")
    on_main = verify(release_document(log, signer, shas[0]), repo=str(tmp_path / "app.git"))
    assert statuses(on_main)["repository"] == PASS
    off_main = verify(release_document(log, signer, side), repo=str(tmp_path / "app.git"))
    assert failed(off_main) == ["repository"]
    missing = verify(release_document(log, signer, random_commit()), repo=str(tmp_path / "app.git"))
    assert failed(missing) == ["repository"]
    document = release_document(log, signer, shas[0])
    document["project"]["protected_branch"] = "release"
    unknown_branch = verify(document, repo=str(tmp_path / "app.git"))
    assert statuses(unknown_branch)["repository"] == ERROR


# --- Each piece of evidence is checked ------------------------------------------------------------------


def test_a_record_changed_after_logging_fails_the_log_entry_check(log, signer, commit):
    document = release_document(log, signer, commit)
    document["release"]["ci_build_url"] = "https://ci.example.org/runs/2"
    assert failed(verify(document)) == ["log entry"]


def test_a_swapped_envelope_fails_even_when_validly_signed(log, signer, commit):
    document = release_document(log, signer, commit)
    other = signed_envelope(
        signer,
        artifact_digest=sha256_bytes(ARTIFACT),
        commit=commit,
        repo_uri=REPO_URL,
        ci_build_url="https://x",
    )
    document["envelope"] = envelope_to_json(other)
    assert failed(verify(document)) == ["log entry"]


def test_an_envelope_signed_by_another_key_fails(log, signer, commit):
    document = release_document(log, signer, commit)
    intruder = key_pair()
    envelope = signed_envelope(
        intruder, artifact_digest=sha256_bytes(ARTIFACT), commit=commit, repo_uri=REPO_URL
    )
    document["envelope"] = envelope_to_json(envelope)
    document["signing_keys"] = [
        {"key_id": intruder.key_id, "algorithm": "ed25519", "public_key_pem": intruder.public_pem}
    ]
    assert {"signature", "log entry"} <= set(failed(verify(document)))


def test_a_statement_that_disagrees_with_the_record_fails(log, signer, commit):
    envelope = signed_envelope(
        signer, artifact_digest=sha256_bytes(b"other"), commit=commit, repo_uri=REPO_URL
    )
    text = envelope_to_json(envelope)
    record = release_record(text, signer, commit)
    index = log.append(log_entry("release", record))
    document = {
        "bundle_version": 1,
        "kind": "release",
        "release": record,
        "envelope": text,
        "signing_keys": [
            {"key_id": signer.key_id, "algorithm": "ed25519", "public_key_pem": signer.public_pem}
        ],
        "log": log.proof_section(index),
        "project": dict(PROJECT),
    }
    assert failed(verify(document)) == ["statement"]


def test_a_release_built_from_another_repository_fails_the_project_check(log, signer, commit):
    document = release_document(log, signer, commit)
    document["project"]["repo_url"] = "https://git.example.org/fork.git"
    assert failed(verify(document)) == ["project"]


def test_a_checkpoint_under_another_key_fails_when_the_key_is_pinned(log, signer, commit):
    document = release_document(log, signer, commit)
    impostor = MemoryLog()
    results = verify(document, log_key=impostor.verifier_key)
    assert failed(results) == ["checkpoint"]
    assert statuses(results)["inclusion"] == SKIP


def test_an_entry_not_in_the_checkpoint_fails_inclusion(log, signer, commit):
    document = release_document(log, signer, commit)
    document["log"]["inclusion_proof"] = document["log"]["inclusion_proof"][:-1]
    assert failed(verify(document)) == ["inclusion"]
    document = release_document(log, signer, commit)
    document["log"]["inclusion_proof"][0] = b64(bytes(32))
    assert failed(verify(document)) == ["inclusion"]


def test_a_checkpoint_of_another_size_than_the_proof_fails(log, signer, commit):
    document = release_document(log, signer, commit)
    document["log"]["tree_size"] -= 1
    assert "checkpoint" in failed(verify(document))


def test_a_deployment_of_another_release_fails(log, signer, commit):
    document = deployment_document(log, signer, commit)
    document["release_bundle"] = release_document(log, signer, commit)
    document["release_bundle"]["release"]["release_id"] = 8
    assert "deployment release" in failed(verify(document))


# --- Parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d: d.update(bundle_version=2), "bundle_version"),
        (lambda d: d.update(bundle_version=True), "bundle_version"),
        (lambda d: d.update(kind="build"), "kind"),
        (lambda d: d.update(kind=["release"]), "kind"),
        (lambda d: d.update(kind={"release": 1}), "kind"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("envelope"), "no 'envelope'"),
        (lambda d: d["release"].pop("version"), "no 'version'"),
        (lambda d: d["release"].update(release_id="7"), "release_id"),
        (lambda d: d["log"].update(index=-1), "index"),
        (lambda d: d["log"].update(tree_size=1.5), "tree_size"),
        (lambda d: d["log"].update(entry_b64="not base64!"), "base64"),
        (lambda d: d["log"].update(entry_b64=d["log"]["entry_b64"].rstrip("=")), "base64"),
        (lambda d: d["log"]["inclusion_proof"].__setitem__(0, b64(bytes(31))), "32-byte"),
        (lambda d: d["log"].update(inclusion_proof=[b64(bytes(32))] * 65), "more than 64"),
        (lambda d: d.update(signing_keys=[]), "empty"),
        (lambda d: d.update(signing_keys={}), "array"),
    ],
)
def test_malformed_bundles_are_refused_with_a_reason(log, signer, commit, mutate, problem):
    document = release_document(log, signer, commit)
    mutate(document)
    with pytest.raises(FormatError, match=problem):
        parse_bundle(encode(document))


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "JSON object"),
        (b'{"bundle_version": 1, "bundle_version": 1}', "appears twice"),
        (b'{"bundle_version": NaN}', "NaN"),
        (b"[" * 100000, "nested more than 64 levels"),
    ],
)
def test_documents_that_are_not_bundles_are_refused(data, problem):
    with pytest.raises(FormatError, match=problem):
        parse_bundle(data)


@pytest.mark.parametrize("entry", [b"[" * 5000 + b"]" * 5000, b'{"v": 1, "v": 1}', b'{"v": NaN}'])
def test_a_log_entry_that_is_not_strict_json_fails_its_check(log, signer, commit, entry):
    """The entry is outside bytes too: it is read by the one strict reader, and its problems are a FAIL."""
    document = release_document(log, signer, commit)
    document["log"]["entry_b64"] = b64(entry)
    results = verify(document)
    assert statuses(results)["log entry"] == FAIL


def test_a_bundle_with_a_lone_surrogate_is_refused_as_malformed(log, signer, commit):
    """A lone surrogate, escaped as JSON allows, has no UTF-8 form to hash: refused, not a crash later."""
    document = release_document(log, signer, commit)
    document["envelope"] = "\ud800" + document["envelope"]
    with pytest.raises(FormatError, match="bundle holds a lone UTF-16 surrogate"):
        parse_bundle(encode(document))


def test_a_flipped_bit_anywhere_never_passes(log, signer, commit, fake_repo, tmp_path):
    """Every byte of a deployment bundle (which holds a release bundle) is covered by some check."""
    artifact = tmp_path / "app.tar.gz"
    artifact.write_bytes(ARTIFACT)
    data = encode(deployment_document(log, signer, commit))
    options = {"artifact_path": str(artifact), "repo": "repo"}
    assert all(r.status in (PASS, SKIP) for r in verify_bundle(parse_bundle(data), **options))
    rng = random.Random(1)
    positions = range(len(data)) if len(data) < 12000 else sorted(rng.sample(range(len(data)), 12000))
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        try:
            results = verify_bundle(parse_bundle(bytes(damaged)), **options)
        except FormatError:
            continue
        assert any(r.status in (FAIL, ERROR) for r in results), (
            position,
            data[position - 20 : position + 20],
        )


def test_the_bundle_carries_a_copy_not_a_reference(log, signer, commit):
    document = release_document(log, signer, commit)
    parsed = parse_bundle(encode(document))
    assert parsed.record == copy.deepcopy(document["release"])
    assert parsed.log.entry == log.entries[parsed.log.index]


def test_an_artifact_that_cannot_be_read_is_could_not_check_with_a_reason_code(log, signer, commit, tmp_path):
    bundle = parse_bundle(encode(release_document(log, signer, commit)))
    with pytest.raises(CouldNotCheck) as raised:
        bundle_module._check_artifact(bundle, {}, str(tmp_path / "absent.tar.gz"))
    assert raised.value.reason is Reason.BAD_RESPONSE
    assert raised.value.reason.result == "unverifiable"


def test_a_deployment_bundle_built_without_its_release_is_a_format_error(log, signer, commit):
    deployment = parse_bundle(encode(deployment_document(log, signer, commit)))
    with pytest.raises(FormatError, match="holds no release bundle"):
        verify_bundle(dataclasses.replace(deployment, release=None))

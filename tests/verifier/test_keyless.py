"""Keyless evidence: real Sigstore bundles made by GitHub Actions, verified offline under CI identities.

The bundles are the GitHub CLI's test data (``../shared/testdata/sigstore``, README there); they verify
against the public-good trust root the ``sigstore`` package embeds, so no network is needed.
"""

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from tests.conftest import SHARED_TESTDATA
from tests.helpers.needs import missing
from verifier.errors import ClaimMismatch
from verifier.keyless import (
    Identity,
    KeylessError,
    SigstoreUnavailable,
    check_keyless_claims,
    sigstore_missing,
    verify_keyless,
)
from verifier.release import Claims


@pytest.fixture(autouse=True)
def sigstore_installed():
    if sigstore_missing():
        missing("the optional 'sigstore' package is not installed")


DATA = SHARED_TESTDATA / "sigstore"
ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY = "https://github.com/malancas/attest-demo"
WORKFLOW = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@*"
SIGNER = (
    "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml"
    "@09b495c3f12c7881b3cc17209a327792065c1a1d"
)
COMMIT = "95baf27389e83e6a5c48f42e190d48d7abcea19e"
ARTIFACT_SHA256 = "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25"
TRUSTED = Identity(issuer=ISSUER, repository=REPOSITORY, workflow=WORKFLOW, ref="refs/heads/main")


def read(name):
    path = DATA / name
    if not path.exists():
        missing(f"{path} is missing (the shared Sigstore test data)")
    return path.read_bytes()


@pytest.fixture
def good():
    return read("reusable-workflow-attestation.sigstore.json")


def changed(bundle, change):
    document = json.loads(bundle)
    change(document)
    return json.dumps(document).encode()


# --- The good bundle ------------------------------------------------------------------------------------


def test_the_github_bundle_verifies_under_its_identity_and_says_who_built_it(good):
    evidence = verify_keyless(good, [TRUSTED])
    assert (evidence.issuer, evidence.signer, evidence.repository) == (ISSUER, SIGNER, REPOSITORY)
    assert (evidence.ref, evidence.commit) == ("refs/heads/main", COMMIT)
    assert evidence.run_url == "https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1"
    assert evidence.log_index == 96764485
    assert evidence.integrated_time == datetime(2024, 5, 24, 19, 14, 24, tzinfo=UTC)
    assert evidence.identity == TRUSTED
    assert evidence.statement["subject"][0]["digest"]["sha256"] == ARTIFACT_SHA256.removeprefix("sha256:")
    assert json.loads(evidence.payload) == evidence.statement


def test_the_first_identity_that_matches_is_the_one_named(good):
    other = Identity(issuer=ISSUER, repository="https://github.com/someone/else")
    loose = Identity(issuer=ISSUER, repository=REPOSITORY + ".git/")
    assert verify_keyless(good, [other, loose, TRUSTED]).identity == loose


def test_a_trust_root_given_as_bytes_is_used_instead_of_the_embedded_one(good):
    from sigstore._internal.tuf import DEFAULT_TUF_URL
    from sigstore._utils import read_embedded

    root = read_embedded("trusted_root.json", DEFAULT_TUF_URL)
    assert verify_keyless(good, [TRUSTED], trust_root=root).log_index == 96764485
    other_root = json.loads(root)
    other_root["tlogs"] = other_root["tlogs"][-1:]
    other_root["tlogs"][0]["logId"]["keyId"] = base64.b64encode(b"\x00" * 32).decode()
    with pytest.raises(KeylessError, match="does not verify"):
        verify_keyless(good, [TRUSTED], trust_root=json.dumps(other_root).encode())
    with pytest.raises(KeylessError, match="trust root"):
        verify_keyless(good, [TRUSTED], trust_root=b"{}")


# --- Refused under another policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "said"),
    [
        (Identity(ISSUER, "https://github.com/malancas/other-demo", WORKFLOW), "repository is"),
        (Identity("https://gitlab.com", REPOSITORY, WORKFLOW), "issuer is"),
        (Identity(ISSUER, REPOSITORY, f"{REPOSITORY}/.github/workflows/release.yml@*"), "workflow"),
        (Identity(ISSUER, REPOSITORY, WORKFLOW, ref="refs/tags/v*"), "ref refs/heads/main does not match"),
    ],
    ids=["another repository", "another issuer", "another workflow", "another ref"],
)
def test_the_github_bundle_is_refused_under_another_identity(good, identity, said):
    with pytest.raises(KeylessError) as refused:
        verify_keyless(good, [identity])
    message = str(refused.value)
    assert said in message
    assert f"repository {REPOSITORY}" in message and f"issuer {ISSUER}" in message
    assert "matches none of the trusted identities" in message


def test_no_trusted_identity_refuses_every_bundle(good):
    with pytest.raises(KeylessError, match="no CI identity is trusted"):
        verify_keyless(good, [])


# --- Refused bundles ------------------------------------------------------------------------------------


def test_the_bundle_with_an_invalid_signature_is_refused():
    bad = read("sigstoreBundle-invalid-signature.json")
    for identity in (TRUSTED, Identity("https://github.com/login/oauth", REPOSITORY)):
        with pytest.raises(KeylessError):
            verify_keyless(bad, [identity])


def test_a_changed_payload_fails_the_signature(good):
    def change(document):
        payload = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
        payload["subject"][0]["digest"]["sha256"] = "0" * 64
        document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()

    with pytest.raises(KeylessError, match="does not verify.*[Ss]ignature"):
        verify_keyless(changed(good, change), [TRUSTED])


def without_tlog_entry(document):
    document["verificationMaterial"]["tlogEntries"] = []


def with_media_type(document):
    document["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=9.9"


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda good: b"{not json", "not valid JSON"),
        (lambda good: b"[]", "not an object"),
        (lambda good: changed(good, with_media_type), "mediaType is .*version=9.9.*v0.1 to v0.3"),
        (lambda good: good[: len(good) // 2], "not valid JSON"),
        (lambda good: changed(good, without_tlog_entry), "exactly one log entry"),
        (lambda good: good.replace(b'"mediaType"', b'"mediaType": "x", "mediaType"', 1), "appears twice"),
        (lambda good: b"\xff" * 10, "not UTF-8"),
    ],
    ids=["malformed", "not an object", "media type", "truncated", "no tlog entry", "duplicate key", "binary"],
)
def test_a_damaged_bundle_is_a_keyless_error_with_a_message(good, make, said):
    with pytest.raises(KeylessError, match=said):
        verify_keyless(make(good), [TRUSTED])


def test_a_bundle_of_a_message_signature_is_refused(good):
    def to_message_signature(document):
        document.pop("dsseEnvelope")
        document["messageSignature"] = {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(b"\0" * 32).decode()},
            "signature": base64.b64encode(b"\0" * 64).decode(),
        }

    with pytest.raises(KeylessError):
        verify_keyless(changed(good, to_message_signature), [TRUSTED])


def test_without_the_sigstore_package_the_error_says_how_to_install_it(good, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sigstore", None)
    monkeypatch.delitem(__import__("sys").modules, "sigstore.verify", raising=False)
    with pytest.raises(SigstoreUnavailable, match="pip install"):
        verify_keyless(good, [TRUSTED])


# --- The statement against a release's record -----------------------------------------------------------


def test_the_statement_is_held_to_the_release_record(good):
    evidence = verify_keyless(good, [TRUSTED])
    claims = Claims(artifact_digest=ARTIFACT_SHA256, source_commit=COMMIT, repo_url=REPOSITORY + ".git")
    statement = check_keyless_claims(evidence, claims)
    assert (statement.artifact_digest, statement.source_commit) == (ARTIFACT_SHA256, COMMIT)
    with pytest.raises(ClaimMismatch, match="artifact_digest"):
        check_keyless_claims(evidence, Claims(artifact_digest="sha256:" + "1" * 64))
    with pytest.raises(ClaimMismatch, match="source_commit"):
        check_keyless_claims(evidence, Claims(source_commit="1" * 40))
    with pytest.raises(KeylessError, match="certificate was issued to a run of"):
        check_keyless_claims(evidence, Claims(repo_url="https://github.com/someone/else"))


def npm_evidence(good, sha512_hex):
    """The good evidence with its statement's subject named by sha512 only, as npm provenance names it
    (the signature is not at stake here: ``check_keyless_claims`` reads evidence already verified)."""
    import dataclasses

    evidence = verify_keyless(good, [TRUSTED])
    statement = json.loads(evidence.payload)
    statement["subject"] = [{"name": "pkg:npm/demo@1.0.0", "digest": {"sha512": sha512_hex}}]
    payload = json.dumps(statement).encode()
    return dataclasses.replace(evidence, payload=payload, statement=statement)


def test_a_statement_with_only_sha512_subjects_is_accepted_when_the_sha512_matches(good):
    artifact = b"the npm package tarball"
    sha512 = hashlib.sha512(artifact).hexdigest()
    sha256 = "sha256:" + hashlib.sha256(artifact).hexdigest()
    evidence = npm_evidence(good, sha512)
    claims = Claims(artifact_digest=sha256, source_commit=COMMIT)
    statement = check_keyless_claims(evidence, claims, artifact_sha512=f"sha512:{sha512}")
    assert statement.artifact_digest == sha256
    assert statement.raw == evidence.statement


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (None, "only by a sha512 digest"),
        ("sha512:" + "ab" * 64, "another artifact"),
        ("sha512:xyz", "must be 'sha512:<128 lowercase hex>'"),
    ],
    ids=["not given", "another artifact", "malformed"],
)
def test_a_statement_with_only_sha512_subjects_is_refused_with_a_message(good, given, said):
    evidence = npm_evidence(good, hashlib.sha512(b"the npm package tarball").hexdigest())
    with pytest.raises(KeylessError, match=said):
        check_keyless_claims(evidence, Claims(artifact_digest="sha256:" + "1" * 64), artifact_sha512=given)


# --- A proof bundle of a keyless release, as `python -m verifier verify` checks it -----------------------


def keyless_release_document(good, *, identity=TRUSTED, record_changes=None):
    """A proof bundle of a keyless release built as the portal builds one, over an in-memory log."""
    from tests.verifier.test_bundle import MemoryLog, log_entry

    log = MemoryLog()
    text = good.decode("utf-8")
    record = {
        "project": "attest-demo",
        "release_id": 1,
        "version": "0.0.0",
        "artifact_name": "github_provenance_demo-0.0.0-py3-none-any.whl",
        "artifact_digest": ARTIFACT_SHA256,
        "source_commit": COMMIT,
        "repo_url": REPOSITORY,
        "ci_build_url": "https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1",
        "envelope_sha256": None,
        "signer_key_id": None,
        "registered_at": "2026-01-02T03:04:05.000006Z",
        "sigstore_bundle_sha256": hashlib.sha256(good).hexdigest(),
        "certificate_issuer": ISSUER,
        "certificate_identity": SIGNER,
        "source_ref": "refs/heads/main",
        "sigstore_log_index": 96764485,
        **(record_changes or {}),
    }
    index = log.append(log_entry("release", record))
    document = {
        "bundle_version": 1,
        "kind": "release",
        "release": record,
        "sigstore_bundle": text,
        "identities": [
            {
                "issuer": identity.issuer,
                "repository": identity.repository,
                "workflow": identity.workflow,
                "ref": identity.ref,
            }
        ],
        "log": log.proof_section(index),
        "project": {"slug": "attest-demo", "repo_url": REPOSITORY, "protected_branch": "main"},
    }
    return document, log


def run_verify(tmp_path, capsys, document, *options):
    from verifier.cli import main

    path = tmp_path / "release.bundle.json"
    path.write_text(json.dumps(document, indent=2))
    code = main(["verify", str(path), "--no-state", *map(str, options)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_passes_a_keyless_release_bundle_offline(good, tmp_path, capsys):
    document, log = keyless_release_document(good)
    artifact = DATA / "reusable-workflow-artifact"
    code, out = run_verify(tmp_path, capsys, document, "--log-key", log.verifier_key, "--artifact", artifact)
    assert code == 0, out
    assert "PASS  signature: Sigstore bundle verifies offline" in out
    assert "run https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1" in out
    assert "Rekor log index 96764485" in out
    assert f"PASS  statement: signed statement: {ARTIFACT_SHA256}" in out
    assert "PASS  artifact:" in out and "PASS  log entry:" in out and "PASS  inclusion:" in out


def test_verify_skips_the_sigstore_checks_when_the_package_is_missing(good, tmp_path, capsys, monkeypatch):
    document, log = keyless_release_document(good)
    monkeypatch.setitem(__import__("sys").modules, "sigstore", None)
    monkeypatch.delitem(__import__("sys").modules, "sigstore.verify", raising=False)
    code, out = run_verify(tmp_path, capsys, document, "--log-key", log.verifier_key)
    assert code == 0, out
    assert "SKIP  signature: the 'sigstore' package is not installed" in out
    assert "pip install 'vitrina-verifier[sigstore]'" in out
    assert "SKIP  statement: no verified Sigstore bundle" in out
    assert "PASS  log entry:" in out and "PASS  inclusion:" in out


@pytest.mark.parametrize(
    ("identity", "record_changes", "failed"),
    [
        (Identity(ISSUER, "https://github.com/someone/else"), {}, "signature"),
        (TRUSTED, {"sigstore_log_index": 1}, "signature"),
        (TRUSTED, {"source_commit": "1" * 40}, "statement"),
    ],
    ids=["identity not trusted", "record names another log index", "record names another commit"],
)
def test_verify_fails_a_keyless_release_bundle_that_does_not_hold(
    good, tmp_path, capsys, identity, record_changes, failed
):
    document, log = keyless_release_document(good, identity=identity, record_changes=record_changes)
    code, out = run_verify(tmp_path, capsys, document, "--log-key", log.verifier_key)
    assert code == 1, out
    assert f"FAIL  {failed}:" in out


def test_verify_fails_a_swapped_sigstore_bundle_on_the_log_entry(good, tmp_path, capsys):
    document, log = keyless_release_document(good)
    document["sigstore_bundle"] = json.dumps(json.loads(good))
    code, out = run_verify(tmp_path, capsys, document, "--log-key", log.verifier_key)
    assert code == 1, out
    assert "FAIL  log entry: the Sigstore bundle's sha256 is" in out


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.update(identities=[]), "identities is empty"),
        (lambda d: d.update(identities=[{"issuer": ISSUER}]), "no 'repository' field"),
        (lambda d: d.update(sigstore_bundle={}), "sigstore_bundle must be a string"),
        (lambda d: d.update(envelope="{}"), "unknown field 'envelope'"),
    ],
    ids=["no identity", "identity incomplete", "bundle not text", "keyed and keyless"],
)
def test_a_malformed_keyless_release_bundle_is_bad_input(good, tmp_path, capsys, change, said):
    document, log = keyless_release_document(good)
    change(document)
    code, out = run_verify(tmp_path, capsys, document)
    assert code == 3
    assert said in out

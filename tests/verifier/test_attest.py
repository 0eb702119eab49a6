"""``attest``: hashing an artifact and signing its provenance into a DSSE envelope, as CI runs it."""

import argparse
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from verifier import dsse, statement
from verifier.attest import add_attest_parser
from verifier.digest import sha256_bytes, sha256_directory
from verifier.keys import generate_private_key

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "https://git.example.org/demo.git"
CI_URL = "https://ci.example.org/demo/runs/42"


def run(argv):
    """Parse ``argv`` as the verifier's command line does and run the chosen subcommand."""
    parser = argparse.ArgumentParser(prog="verifier")
    add_attest_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "app-1.0.tar.gz"
    path.write_bytes(b"the built artifact")
    return path


def write_key(tmp_path, private_key, password=None):
    path = tmp_path / "signing.pem"
    if password is None:
        path.write_text(private_key.private_pem())
    else:
        pem = serialization.load_pem_private_key(private_key.private_pem().encode(), None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
        path.write_bytes(pem)
    return path


def attest_argv(artifact, key, *extra):
    return [
        "attest",
        "--artifact",
        str(artifact),
        "--commit",
        COMMIT,
        "--repo",
        REPO,
        "--ci-url",
        CI_URL,
        "--key",
        str(key),
        *extra,
    ]


def verified_statement(envelope_path, public_key):
    envelope = dsse.parse_envelope(envelope_path.read_bytes())
    assert dsse.verify_envelope(envelope, [public_key]) == public_key
    return statement.parse_statement(envelope.payload)


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_envelope_states_the_artifact_source_and_build_log(tmp_path, artifact, algorithm):
    private_key = generate_private_key(algorithm)
    out = tmp_path / "envelope.json"

    assert run(attest_argv(artifact, write_key(tmp_path, private_key), "--out", str(out))) == 0

    signed = verified_statement(out, private_key.public_key)
    assert signed.artifact_digest == sha256_bytes(b"the built artifact")
    assert signed.artifact_name == "app-1.0.tar.gz"
    assert (signed.source_uri, signed.source_commit, signed.ci_build_url) == (REPO, COMMIT, CI_URL)


def test_ecdsa_signature_is_der_as_cosign_writes_it(tmp_path, artifact):
    private_key = generate_private_key("ecdsa-p256")
    out = tmp_path / "envelope.json"

    run(attest_argv(artifact, write_key(tmp_path, private_key), "--out", str(out)))

    signature = dsse.parse_envelope(out.read_bytes()).signatures[0].sig
    decode_dss_signature(signature)  # raises unless DER


def test_name_overrides_the_file_name(tmp_path, artifact):
    private_key = generate_private_key()
    out = tmp_path / "envelope.json"

    run(attest_argv(artifact, write_key(tmp_path, private_key), "--name", "demo-app", "--out", str(out)))

    assert verified_statement(out, private_key.public_key).artifact_name == "demo-app"


def test_a_directory_is_hashed_with_the_directory_scheme(tmp_path):
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>")
    (site / "css" / "app.css").write_text("h1{}")
    private_key = generate_private_key()
    out = tmp_path / "envelope.json"

    run(attest_argv(site, write_key(tmp_path, private_key), "--out", str(out)))

    signed = verified_statement(out, private_key.public_key)
    assert signed.artifact_digest == sha256_directory(site)
    assert signed.artifact_name == "site"


def test_without_out_the_envelope_goes_to_stdout(tmp_path, artifact, capsys):
    private_key = generate_private_key()

    assert run(attest_argv(artifact, write_key(tmp_path, private_key))) == 0

    envelope = json.loads(capsys.readouterr().out)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"


def test_encrypted_key_is_opened_with_the_password_from_the_environment(tmp_path, artifact, monkeypatch):
    private_key = generate_private_key()
    key = write_key(tmp_path, private_key, password="correct horse")
    monkeypatch.setenv("VITRINA_KEY_PASSWORD", "correct horse")
    out = tmp_path / "envelope.json"

    assert run(attest_argv(artifact, key, "--out", str(out))) == 0
    verified_statement(out, private_key.public_key)


def test_encrypted_key_without_password_is_bad_input_in_one_line(tmp_path, artifact, monkeypatch, capsys):
    monkeypatch.delenv("VITRINA_KEY_PASSWORD", raising=False)
    key = write_key(tmp_path, generate_private_key(), password="secret")

    assert run(attest_argv(artifact, key)) == 3

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "encrypted" in err


def test_wrong_password_is_bad_input_and_never_echoed(tmp_path, artifact, monkeypatch, capsys):
    key = write_key(tmp_path, generate_private_key(), password="right")
    monkeypatch.setenv("VITRINA_KEY_PASSWORD", "wrong-password-value")

    assert run(attest_argv(artifact, key)) == 3
    assert "wrong-password-value" not in capsys.readouterr().err


def test_missing_artifact_is_bad_input(tmp_path, capsys):
    key = write_key(tmp_path, generate_private_key())

    assert run(attest_argv(tmp_path / "missing.tar.gz", key)) == 3
    assert "missing.tar.gz" in capsys.readouterr().err


def test_short_commit_is_bad_input(tmp_path, artifact, capsys):
    argv = attest_argv(artifact, write_key(tmp_path, generate_private_key()))
    argv[argv.index(COMMIT)] = "0123abc"

    assert run(argv) == 3
    assert "commit" in capsys.readouterr().err


def test_a_public_key_is_refused_as_signing_key(tmp_path, artifact, capsys):
    key = tmp_path / "public.pem"
    key.write_text(generate_private_key().public_key.pem)

    assert run(attest_argv(artifact, key)) == 3
    assert "private key" in capsys.readouterr().err


IMAGE = "sha256:" + "9" * 64


def test_several_artifacts_and_subjects_sign_one_release_of_named_components(tmp_path, artifact):
    private_key = generate_private_key()
    worker = tmp_path / "worker.tar"
    worker.write_bytes(b"the worker")
    out = tmp_path / "envelope.json"
    argv = attest_argv(f"static={artifact}", write_key(tmp_path, private_key), "--out", str(out))
    argv += ["--artifact", f"worker={worker}", "--subject", f"web={IMAGE}"]

    assert run(argv) == 0

    signed = verified_statement(out, private_key.public_key)
    assert [(c.name, c.sha256) for c in signed.components] == [
        ("static", sha256_bytes(b"the built artifact").removeprefix("sha256:")),
        ("worker", sha256_bytes(b"the worker").removeprefix("sha256:")),
        ("web", "9" * 64),
    ]


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--subject", "web"], "--subject 'web': a release of several components needs NAME=sha256:<hex>"),
        (["--subject", "web=sha256:abc"], "a component digest must be"),
        (["--subject", "=" + IMAGE], "needs NAME="),
        (["--subject", f"app-1.0.tar.gz={IMAGE}"], "two subjects are named"),
    ],
)
def test_bad_components_are_bad_input_with_a_clear_line(tmp_path, artifact, capsys, extra, complaint):
    argv = attest_argv(f"app-1.0.tar.gz={artifact}", write_key(tmp_path, generate_private_key()), *extra)

    assert run(argv) == 3
    assert complaint in capsys.readouterr().err

"""The CI client against a running portal: ``attest`` signs, ``publish`` registers the release and deployment.

Each test runs the commands twice over: in-process through their argparse entry points, and as
``python -m verifier ...`` subprocesses the way a CI job runs them.
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from portal.registry.models import Deployment, Release
from portal.registry.services import add_signing_key
from tests.portal.factories import fake_commit, make_environment, make_key, make_project, make_token
from verifier import dsse, statement
from verifier.attest import add_attest_parser
from verifier.digest import sha256_bytes
from verifier.publish import add_publish_parser

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENV = "VITRINA_TEST_TOKEN"

pytestmark = pytest.mark.django_db(transaction=True)


class InProcess:
    def __init__(self, monkeypatch, capsys):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *argv, token=None):
        self.monkeypatch.delenv(TOKEN_ENV, raising=False)
        if token is not None:
            self.monkeypatch.setenv(TOKEN_ENV, token)
        parser = argparse.ArgumentParser(prog="verifier")
        subparsers = parser.add_subparsers(dest="command", required=True)
        add_attest_parser(subparsers)
        add_publish_parser(subparsers)
        args = parser.parse_args(argv)
        self.capsys.readouterr()
        code = args.func(args)
        out, err = self.capsys.readouterr()
        return code, out, err


class Subprocess:
    def __call__(self, *argv, token=None):
        env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
        if token is not None:
            env[TOKEN_ENV] = token
        done = subprocess.run(
            [sys.executable, "-m", "verifier", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture(params=["in-process", "subprocess"])
def verifier_cli(request, monkeypatch, capsys):
    if request.param == "subprocess":
        return Subprocess()
    return InProcess(monkeypatch, capsys)


@pytest.fixture
def portal(live_server):
    """A project with a trusted ECDSA P-256 key, a CI token and a production environment."""
    project = make_project("demo")
    environment = make_environment(project, "production")
    private_key, signing_key = make_key(project, "ecdsa-p256")
    _, token = make_token(project)
    return {
        "url": live_server.url,
        "project": project,
        "environment": environment,
        "private_key": private_key,
        "signing_key": signing_key,
        "token": token,
    }


@pytest.fixture
def signed(tmp_path, portal, verifier_cli):
    """Run ``attest`` on a fresh artifact; returns (envelope path, artifact bytes, commit)."""
    artifact = tmp_path / "demo-1.0.0.tar.gz"
    artifact.write_bytes(b"demo 1.0.0 build output")
    key = tmp_path / "signing.pem"
    key.write_text(portal["private_key"].private_pem())
    envelope = tmp_path / "envelope.json"
    commit = fake_commit()
    code, _, err = verifier_cli(
        "attest", "--artifact", str(artifact), "--commit", commit, "--repo", portal["project"].repo_url,
        "--ci-url", "https://ci.example.org/demo/runs/7", "--key", str(key), "--out", str(envelope),
    )  # fmt: skip
    assert code == 0, err
    return envelope, artifact.read_bytes(), commit


def publish_argv(portal, envelope, version="1.0.0", *extra, portal_url=None):
    return (
        "publish", "--portal", portal_url or portal["url"], "--token-env", TOKEN_ENV,
        "--envelope", str(envelope), "--version", version, *extra,
    )  # fmt: skip


def test_attest_then_publish_registers_the_release_and_its_deployment(portal, signed, verifier_cli):
    envelope, artifact, commit = signed

    code, out, err = verifier_cli(
        *publish_argv(portal, envelope, "1.0.0", "--environment", "production",
                      "--pipeline-url", "https://ci.example.org/demo/pipelines/3"),
        token=portal["token"],
    )  # fmt: skip

    assert code == 0, err
    release = Release.objects.get(project=portal["project"], version="1.0.0")
    assert release.artifact_digest == sha256_bytes(artifact)
    assert release.source_commit == commit
    assert release.ci_build_url == "https://ci.example.org/demo/runs/7"
    assert release.signer_key == portal["signing_key"]
    deployment = Deployment.objects.get(environment=portal["environment"])
    assert deployment.release == release
    assert deployment.pipeline_run_url == "https://ci.example.org/demo/pipelines/3"
    assert release.artifact_digest in out
    assert len(out.splitlines()) == 2


def test_publishing_the_same_envelope_again_is_fine(portal, signed, verifier_cli):
    envelope, _, _ = signed

    first = verifier_cli(*publish_argv(portal, envelope), token=portal["token"])
    again = verifier_cli(*publish_argv(portal, envelope), token=portal["token"])

    assert (first[0], again[0]) == (0, 0)
    assert Release.objects.filter(project=portal["project"]).count() == 1


def test_same_version_with_other_content_is_refused_with_the_servers_message(
    portal, signed, verifier_cli, tmp_path
):
    envelope, _, _ = signed
    verifier_cli(*publish_argv(portal, envelope), token=portal["token"])
    other = tmp_path / "other.json"
    statement_doc = statement.build_statement(
        artifact_name="demo.tar.gz",
        artifact_digest=sha256_bytes(b"other"),
        repo_uri=portal["project"].repo_url,
        commit=fake_commit(),
        ci_build_url="https://ci.example.org/demo/runs/8",
    )
    signed_other = dsse.sign_envelope(statement.statement_to_payload(statement_doc), portal["private_key"])
    other.write_text(json.dumps(signed_other))

    code, _, err = verifier_cli(*publish_argv(portal, other), token=portal["token"])

    assert code == 1
    assert err.count("\n") == 1
    assert "409" in err
    assert "already registered" in err


def test_wrong_token_is_refused_in_one_line_without_echoing_it(portal, signed, verifier_cli):
    envelope, _, _ = signed

    code, out, err = verifier_cli(*publish_argv(portal, envelope), token="vtr_not-a-real-token")

    assert code == 1
    assert err.count("\n") == 1
    assert "refused" in err
    assert "vtr_not-a-real-token" not in out + err
    assert not Release.objects.exists()


def test_missing_token_variable_is_bad_input(portal, signed, verifier_cli):
    envelope, _, _ = signed

    code, _, err = verifier_cli(*publish_argv(portal, envelope))

    assert code == 3
    assert TOKEN_ENV in err


def test_unreachable_portal_is_exit_2(portal, signed, verifier_cli):
    envelope, _, _ = signed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"

    code, _, err = verifier_cli(*publish_argv(portal, envelope, portal_url=closed), token=portal["token"])

    assert code == 2
    assert err.count("\n") == 1


def test_plain_http_off_loopback_is_refused_before_sending_the_token(portal, signed, verifier_cli):
    envelope, _, _ = signed

    code, _, err = verifier_cli(
        *publish_argv(portal, envelope, portal_url="http://vitrina.example.org"), token=portal["token"]
    )

    assert code == 3
    assert "https" in err


def test_malformed_envelope_is_bad_input(portal, verifier_cli, tmp_path):
    broken = tmp_path / "envelope.json"
    broken.write_text('{"payload": "not base64!"}')

    code, _, _ = verifier_cli(*publish_argv(portal, broken), token=portal["token"])

    assert code == 3


def cosign_style_envelope(private_key, artifact, repo_url, commit):
    """An envelope as ``cosign attest-blob --key --statement`` writes it: ECDSA P-256 DER, empty keyid.

    cosign marshals Go structs, so the payload keeps struct field order rather than sorted keys.
    """
    payload = json.dumps(
        {
            "_type": statement.STATEMENT_TYPE,
            "predicateType": statement.SLSA_PROVENANCE_V1,
            "subject": [
                {"name": "demo.tar.gz", "digest": {"sha256": sha256_bytes(artifact)[len("sha256:") :]}}
            ],
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://example.org/build/v1",
                    "externalParameters": {},
                    "resolvedDependencies": [{"uri": repo_url, "digest": {"gitCommit": commit}}],
                },
                "runDetails": {
                    "builder": {"id": "https://example.org/ci"},
                    "metadata": {"invocationId": "https://ci.example.org/demo/runs/9"},
                },
            },
        },
        separators=(",", ":"),
    ).encode()
    signature = private_key.sign(dsse.pae(dsse.PAYLOAD_TYPE_IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    return {
        "payloadType": dsse.PAYLOAD_TYPE_IN_TOTO,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }


def test_a_cosign_ecdsa_envelope_is_accepted(portal, verifier_cli, tmp_path):
    cosign_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        cosign_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )  # what `cosign generate-key-pair` writes to cosign.pub
    signing_key, _ = add_signing_key(portal["project"], public_pem, label="cosign.pub")
    commit = fake_commit()
    envelope = tmp_path / "cosign-envelope.json"
    document = cosign_style_envelope(cosign_key, b"cosign artifact", portal["project"].repo_url, commit)
    envelope.write_text(json.dumps(document))

    code, _, err = verifier_cli(*publish_argv(portal, envelope, "2.0.0"), token=portal["token"])

    assert code == 0, err
    release = Release.objects.get(version="2.0.0")
    assert release.signer_key == signing_key
    assert release.artifact_digest == sha256_bytes(b"cosign artifact")

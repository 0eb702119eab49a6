"""Independent rebuilds carried in a release bundle: each rebuild's signature under its rebuilder's key,
its statement against its record and the release, its log entry and inclusion, then "reproduced by N of
M" against ``--rebuilder-key`` and ``--min-rebuilders``, offline and through ``python -m verifier verify``."""

import copy
import datetime
import hashlib
import subprocess
import sys

import pytest

from tests.verifier.factories import key_pair
from tests.verifier.test_bundle import (  # noqa: F401 - fixtures
    ARTIFACT,
    commit,
    encode,
    failed,
    log,
    log_entry,
    release_document,
    signer,
    statuses,
    verify,
)
from verifier.bundle import FAIL, PASS, SKIP, parse_bundle
from verifier.command import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from verifier.digest import sha256_bytes
from verifier.dsse import envelope_to_json
from verifier.entries import format_time
from verifier.errors import FormatError
from verifier.rebuilds import Rebuilt, sign_rebuild
from verifier.statement import BuildInstructions, Subject

FINISHED = datetime.datetime(2026, 1, 3, 10, 0, 0, tzinfo=datetime.UTC)
OTHER = b"a build with a timestamp in it"


def add_rebuild(document, log, rebuilder, name, *, got=ARTIFACT, rebuild_id=None, **changes):  # noqa: F811
    """Sign a rebuild of the document's release by ``rebuilder``, log its record and add it to the bundle
    as the portal does; ``got`` is the artifact the rebuilder built, ``changes`` edit the attestation."""
    release = document["release"]
    values = {
        "subjects": (Subject("app.tar.gz", {"sha256": sha256_bytes(got).removeprefix("sha256:")}),),
        "portal": "https://vitrina.example",
        "project": release["project"],
        "version": release["version"],
        "release_id": release["release_id"],
        "artifact_digest": release["artifact_digest"],
        "repository": release["repo_url"],
        "commit": release["source_commit"],
        "build": BuildInstructions("make", {}, {"app.tar.gz": "dist/app.tar.gz"}),
        "rebuilder": name,
        "started_on": FINISHED - datetime.timedelta(minutes=5),
        "finished_on": FINISHED,
        "invocation_id": f"{name}-{len(document.get('rebuilds', []))}",
        **changes,
    }
    rebuilt = Rebuilt(**values)
    text = envelope_to_json(sign_rebuild(rebuilt, rebuilder.private_key))
    record = {
        "project": release["project"],
        "release_id": release["release_id"],
        "version": release["version"],
        "rebuild_id": rebuild_id or len(document.get("rebuilds", [])) + 1,
        "rebuilder": name,
        "rebuilder_key_id": rebuilder.key_id,
        "rebuilt_at": format_time(FINISHED),
        "result": "reproduced" if got == ARTIFACT else "differs",
        "subjects": [subject.to_json() for subject in rebuilt.subjects],
        "envelope_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    entry = {k: v for k, v in log_entry("rebuild", record).items() if k != "by"}
    index = log.append(entry)
    document.setdefault("rebuilds", []).append(
        {
            "rebuild": record,
            "envelope": text,
            "rebuilder": {
                "name": name,
                "key_id": rebuilder.key_id,
                "algorithm": "ed25519",
                "public_key_pem": rebuilder.public_pem,
            },
            "log": log.proof_section(index),
        }
    )
    return document


@pytest.fixture
def alice():
    return key_pair()


@pytest.fixture
def bob():
    return key_pair()


@pytest.fixture
def rebuilt_twice(log, signer, commit, alice, bob):  # noqa: F811
    document = release_document(log, signer, commit)
    add_rebuild(document, log, alice, "Alice Lab")
    return add_rebuild(document, log, bob, "Bob's rebuilder")


def test_two_reproducing_rebuilders_pass_every_check_and_a_minimum_of_two(rebuilt_twice, log, alice, bob):  # noqa: F811
    results = verify(
        rebuilt_twice,
        log_key=log.verifier_key,
        rebuilder_keys=[alice.public_key, bob.public_key],
        min_rebuilders=2,
    )
    rebuild_checks = {name: status for name, status in statuses(results).items() if "rebuild" in name}
    assert rebuild_checks == {
        **{
            f"rebuild {i} {check}": PASS
            for i in (1, 2)
            for check in ("signature", "statement", "log entry", "project", "checkpoint", "inclusion")
        },
        "rebuild 1 witnesses": SKIP,
        "rebuild 2 witnesses": SKIP,
        "rebuild 1 history": SKIP,
        "rebuild 2 history": SKIP,
        "rebuilds": PASS,
    }
    assert failed(results) == []
    assert results[-1].message == "reproduced by 2 of 2 rebuilders (Alice Lab, Bob's rebuilder)"
    statement = next(r for r in results if r.name == "rebuild 1 statement")
    assert statement.message == "Alice Lab rebuilt 1.0.0 at 2026-01-03T10:00:00.000000Z: reproduced"


def test_without_rebuilds_the_check_is_skipped_unless_a_minimum_is_asked(log, signer, commit):  # noqa: F811
    document = release_document(log, signer, commit)
    assert statuses(verify(document))["rebuilds"] == SKIP
    results = verify(document, min_rebuilders=1)
    assert statuses(results)["rebuilds"] == FAIL
    assert results[-1].message == "reproduced by 0 of 0 rebuilders; --min-rebuilders 1 asked"


def test_unpinned_rebuilder_keys_count_with_a_warning(rebuilt_twice):
    result = verify(rebuilt_twice)[-1]
    assert result.status == PASS
    assert "WARNING: the rebuilders' keys were taken from the bundle itself" in result.message


def test_a_differing_rebuild_is_shown_and_fails_only_when_a_minimum_is_asked(log, signer, commit, alice, bob):  # noqa: F811
    document = release_document(log, signer, commit)
    add_rebuild(document, log, alice, "Alice Lab")
    add_rebuild(document, log, bob, "Bob", got=OTHER)
    keys = [alice.public_key, bob.public_key]

    results = verify(document, rebuilder_keys=keys)
    assert failed(results) == []
    assert results[-1].message.startswith(
        "reproduced by 1 of 2 rebuilders (Alice Lab); Bob got something else"
    )
    differs = next(r for r in results if r.name == "rebuild 2 statement").message
    assert differs == (
        f"Bob rebuilt 1.0.0 at 2026-01-03T10:00:00.000000Z: differs: app.tar.gz is {sha256_bytes(OTHER)}, "
        f"the release's {sha256_bytes(ARTIFACT)}"
    )

    assert failed(verify(document, rebuilder_keys=keys, min_rebuilders=1)) == ["rebuilds"]


def test_only_the_rebuilder_keys_given_count(rebuilt_twice, alice):
    results = verify(rebuilt_twice, rebuilder_keys=[alice.public_key], min_rebuilders=2)
    assert failed(results) == ["rebuilds"]
    assert results[-1].message.startswith(
        "reproduced by 1 of 1 rebuilders (Alice Lab); 1 rebuild(s) not counted"
    )
    assert next(r for r in results if r.name == "rebuild 2 signature").message.endswith(
        "(not a key given with --rebuilder-key: not counted)"
    )
    assert failed(verify(rebuilt_twice, rebuilder_keys=[alice.public_key], min_rebuilders=1)) == []


def test_one_rebuilder_rebuilding_twice_counts_once(log, signer, commit, alice):  # noqa: F811
    document = release_document(log, signer, commit)
    add_rebuild(document, log, alice, "Alice Lab")
    add_rebuild(document, log, alice, "Alice Lab")
    results = verify(document, rebuilder_keys=[alice.public_key], min_rebuilders=2)
    assert failed(results) == ["rebuilds"]
    assert results[-1].message.startswith("reproduced by 1 of 1 rebuilders")


def _set_result(document):
    document["rebuilds"][0]["rebuild"]["result"] = "differs"


def _swap_envelopes(document):
    first, second = document["rebuilds"]
    first["envelope"], second["envelope"] = second["envelope"], first["envelope"]


def _other_pem(document):
    document["rebuilds"][0]["rebuilder"]["public_key_pem"] = key_pair().public_pem


def _other_checkpoint(document):
    document["rebuilds"][0]["log"]["checkpoint"] = document["rebuilds"][1]["log"]["checkpoint"]


@pytest.mark.parametrize(
    ("tamper", "check", "complaint", "left"),
    [
        (_set_result, "rebuild 1 log entry", "the rebuild record says result", 1),
        (_swap_envelopes, "rebuild 1 signature", "does not verify", 0),
        (_other_pem, "rebuild 1 signature", "its PEM is key", 1),
        (_other_checkpoint, "rebuild 1 checkpoint", "the proof is for tree size", 1),
    ],
)
def test_a_tampered_rebuild_fails_the_check_that_guards_it_and_does_not_count(
    rebuilt_twice, alice, bob, tamper, check, complaint, left
):
    tamper(rebuilt_twice)
    results = verify(rebuilt_twice, rebuilder_keys=[alice.public_key, bob.public_key], min_rebuilders=1)
    assert check in failed(results)
    assert complaint in next(r for r in results if r.name == check).message
    assert next(r for r in results if r.name == "rebuilds").message.startswith(
        f"reproduced by {left} of {left} rebuilders"
    )


def test_a_logged_record_whose_result_is_not_the_comparison_fails(log, signer, commit, alice):  # noqa: F811
    document = release_document(log, signer, commit)
    add_rebuild(document, log, alice, "Alice Lab", got=OTHER)
    document["rebuilds"][0]["rebuild"]["result"] = "reproduced"
    document["rebuilds"][0]["log"] = log.proof_section(
        log.append(
            {k: v for k, v in log_entry("rebuild", document["rebuilds"][0]["rebuild"]).items() if k != "by"}
        )
    )
    results = verify(document)
    assert "rebuild 1 statement" in failed(results)
    message = next(r for r in results if r.name == "rebuild 1 statement").message
    assert message.endswith("comparing its subjects with the release's says differs")


def test_a_rebuild_of_another_release_fails_its_statement_check(log, signer, commit, alice):  # noqa: F811
    document = release_document(log, signer, commit)
    add_rebuild(document, log, alice, "Alice Lab", version="0.9.0")
    results = verify(document)
    assert failed(results) == ["rebuild 1 statement"]
    message = next(r for r in results if r.name == "rebuild 1 statement").message
    assert message == "the rebuild attestation is about another release: version is '0.9.0', not '1.0.0'"


def test_a_deployment_bundle_checks_its_release_rebuilds(log, signer, commit, alice):  # noqa: F811
    release = add_rebuild(release_document(log, signer, commit), log, alice, "Alice Lab")
    deployment = {
        "bundle_version": 1,
        "kind": "deployment",
        "deployment": {
            "project": "demo",
            "environment": "production",
            "deployment_id": 3,
            "release_id": 7,
            "version": "1.0.0",
            "artifact_digest": release["release"]["artifact_digest"],
            "deployed_at": "2026-01-02T04:00:00.000000Z",
            "pipeline_run_url": "",
        },
        "project": release["project"],
        "release_bundle": release,
    }
    deployment["log"] = log.proof_section(log.append(log_entry("deployment", deployment["deployment"])))
    results = verify(deployment, min_rebuilders=1)
    assert statuses(results)["release rebuilds"] == PASS


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.update(rebuilds={}), "bundle.rebuilds must be a JSON array"),
        (lambda d: d["rebuilds"][0].pop("log"), "bundle.rebuilds[0] has no 'log' field"),
        (lambda d: d["rebuilds"][0].update(extra=1), "bundle.rebuilds[0] has an unknown field 'extra'"),
        (
            lambda d: d["rebuilds"][0]["rebuild"].pop("subjects"),
            "bundle.rebuilds[0].rebuild has no 'subjects'",
        ),
        (lambda d: d["rebuilds"][0]["rebuild"].update(rebuild_id="1"), "rebuild.rebuild_id must be a int"),
        (lambda d: d["rebuilds"][0]["rebuilder"].pop("algorithm"), "rebuilder has no 'algorithm' field"),
        (lambda d: d["rebuilds"][0].update(envelope=None), "bundle.rebuilds[0].envelope must be a string"),
    ],
)
def test_malformed_rebuilds_are_refused(rebuilt_twice, mutate, problem):
    document = copy.deepcopy(rebuilt_twice)
    mutate(document)
    with pytest.raises(FormatError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_bundle(encode(document))


def run_verify(*argv):
    done = subprocess.run(
        [sys.executable, "-m", "verifier", "verify", "--no-state", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_verify_on_the_command_line_counts_the_pinned_rebuilders(rebuilt_twice, log, alice, bob, tmp_path):  # noqa: F811
    path = tmp_path / "bundle.json"
    path.write_bytes(encode(rebuilt_twice))
    keys = []
    for i, pair in enumerate((alice, bob)):
        keys += ["--rebuilder-key", str(tmp_path / f"rebuilder{i}.pem")]
        (tmp_path / f"rebuilder{i}.pem").write_text(pair.public_pem)

    code, out, _ = run_verify(str(path), "--log-key", log.verifier_key, *keys, "--min-rebuilders", "2")
    assert code == EXIT_OK, out
    assert "PASS  rebuilds: reproduced by 2 of 2 rebuilders (Alice Lab, Bob's rebuilder)\n" in out

    code, out, _ = run_verify(str(path), "--log-key", log.verifier_key, *keys[:2], "--min-rebuilders", "2")
    assert code == EXIT_FAILED
    assert "FAIL  rebuilds: reproduced by 1 of 1 rebuilders (Alice Lab)" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--min-rebuilders", "-1"], "verify: --min-rebuilders must be 0 or more, got -1\n"),
        (
            ["--rebuilder-key", "missing.pem"],
            "verify: --rebuilder-key missing.pem: No such file or directory\n",
        ),
        (["--rebuilder-key", "bundle.json"], "verify: --rebuilder-key bundle.json: "),
    ],
)
def test_bad_rebuilder_options_are_bad_input_in_one_line(
    rebuilt_twice, tmp_path, monkeypatch, argv, complaint
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.json").write_bytes(encode(rebuilt_twice))
    code, out, err = run_verify("bundle.json", *argv)
    assert code == EXIT_BAD_INPUT
    assert err.startswith(complaint) and err.count("\n") == 1
    assert out == ""

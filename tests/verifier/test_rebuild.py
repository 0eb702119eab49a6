"""``rebuild`` against a loopback portal stand-in serving a real release proof bundle, and a real project
(``tests.helpers.reproducible``) in a real git repository: the build really runs, its bytes are really
compared.

The run ends on what the rebuild got: 0 reproduced, 1 differs (or a bundle that does not verify), 2 could
not rebuild, 3 bad input (a release that records no build command among them).
"""

import hashlib
import os
import time

import pytest

from tests.helpers.reproducible import ARTIFACT_NAME, ci_build, make_project, tampering_gzip
from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_bundle import MemoryLog, log_entry
from tests.verifier.test_observe import Portal
from verifier.cli import main
from verifier.digest import sha256_file
from verifier.dsse import envelope_to_json, sign_envelope
from verifier.rebuild import Member, compare_members, network_isolation
from verifier.rebuilds import verify_rebuild
from verifier.statement import BuildInstructions, build_statement, statement_to_payload

RELEASES = "/api/v1/projects/demo/releases/?version=1.0.0&limit=200&offset=0"
BUNDLE = "/api/v1/releases/7/bundle"
REBUILDERS = "/api/v1/rebuilders/?limit=200&offset=0"
REBUILDER = "Rebuilder Ñandú"


def release_bundle(log, signer, project, digest, build, commit=None):
    """A release bundle of ``project``'s commit whose statement records ``build``, its entry in ``log``."""
    commit = commit or project.commit
    statement = build_statement(
        artifact_name=ARTIFACT_NAME,
        artifact_digest=digest,
        repo_uri=project.repo_url,
        commit=commit,
        ci_build_url="https://ci.example.org/runs/1",
        build=build,
    )
    envelope = envelope_to_json(sign_envelope(statement_to_payload(statement), signer.private_key))
    record = {
        "project": "demo",
        "release_id": 7,
        "version": "1.0.0",
        "artifact_name": ARTIFACT_NAME,
        "artifact_digest": digest,
        "source_commit": commit,
        "repo_url": project.repo_url,
        "ci_build_url": "https://ci.example.org/runs/1",
        "envelope_sha256": hashlib.sha256(envelope.encode()).hexdigest(),
        "signer_key_id": signer.key_id,
        "registered_at": "2026-01-02T03:04:05.000006Z",
    }
    index = log.append(log_entry("release", record))
    return {
        "bundle_version": 1,
        "kind": "release",
        "release": record,
        "envelope": envelope,
        "signing_keys": [
            {"key_id": signer.key_id, "algorithm": "ed25519", "public_key_pem": signer.public_pem}
        ],
        "log": log.proof_section(index),
        "project": {"slug": "demo", "repo_url": project.repo_url, "protected_branch": "main"},
    }


class World:
    """A portal stand-in serving one release of a real project, built by CI as ``artifact``."""

    def __init__(self, tmp_path, portal, *, reproducible=True):
        self.tmp_path = tmp_path
        self.portal = portal
        self.log = MemoryLog()
        self.log.append({"v": 1, "type": "key_added", "project": "demo"})
        self.signer = key_pair()
        self.rebuilder = key_pair()
        self.key_file = tmp_path / "rebuilder.pem"
        self.key_file.write_text(self.rebuilder.private_pem)
        self.project = make_project(tmp_path / "app", reproducible=reproducible)
        self.artifact = ci_build(self.project, tmp_path / "ci")
        portal.documents[RELEASES] = {"count": 1, "results": [{"id": 7, "version": "1.0.0"}]}
        # A portal that ignores the filter: the version is matched on the client too.
        portal.documents[RELEASES.replace("1.0.0", "9.9.9")] = portal.documents[RELEASES]
        portal.documents[REBUILDERS] = {
            "results": [{"name": REBUILDER, "key_id": self.rebuilder.key_id, "removed_at": None}]
        }
        self.release(BuildInstructions("sh build.sh", {}, {ARTIFACT_NAME: "dist/app.tar.gz"}))

    def release(self, build, *, digest=None, commit=None):
        """Serve a release recording ``build`` (None: no build instructions)."""
        self.bundle = release_bundle(
            self.log, self.signer, self.project, digest or sha256_file(self.artifact), build, commit
        )
        self.portal.documents[BUNDLE] = self.bundle


@pytest.fixture
def world(tmp_path):
    with Portal({}) as portal:
        yield World(tmp_path, portal)


def rebuild(world, *extra):
    return main(
        [
            "rebuild", "--portal", world.portal.base_url, "--project", "demo", "--version", "1.0.0",
            "--no-state", "--allow-private", "--log-key", world.log.verifier_key, *extra,
        ]
    )  # fmt: skip


def test_a_reproducible_release_is_reproduced(world, capsys):
    assert rebuild(world) == 0
    out = capsys.readouterr().out
    assert "PASS  signature" in out
    assert f"source: commit {world.project.commit}" in out
    assert f"SOURCE_DATE_EPOCH={world.project.commit_time}" in out
    assert f"PASS  app.tar.gz: rebuilt dist/app.tar.gz is {sha256_file(world.artifact)}, as released" in out
    assert out.splitlines()[-1].startswith("RESULT: reproduced.")


def test_publish_posts_what_was_rebuilt_signed_with_the_rebuilders_key(world, capsys, monkeypatch):
    monkeypatch.setenv("VITRINA_REBUILDER_TOKEN", "vtb_secret")
    world.portal.answer = (201, {"id": 5, "log_index": 42, "result": "reproduced"})
    assert rebuild(world, "--key", str(world.key_file), "--publish") == 0
    assert "published: rebuild 5 (reproduced), log index 42" in capsys.readouterr().out
    [(path, authorization, body)] = world.portal.posted
    assert (path, authorization) == ("/api/v1/rebuilds/", "Bearer vtb_secret")
    rebuilt = verify_rebuild(body["envelope"], world.rebuilder.public_key)
    assert rebuilt.rebuilder == REBUILDER
    assert [(s.name, dict(s.digests)) for s in rebuilt.subjects] == [
        (ARTIFACT_NAME, {"sha256": sha256_file(world.artifact).removeprefix("sha256:")})
    ]
    assert (rebuilt.project, rebuilt.version, rebuilt.release_id) == ("demo", "1.0.0", 7)
    assert (rebuilt.portal, rebuilt.artifact_digest) == (world.portal.base_url, sha256_file(world.artifact))
    assert (rebuilt.repository, rebuilt.commit) == (world.project.repo_url, world.project.commit)
    assert rebuilt.build.command == "sh build.sh" and rebuilt.started_on <= rebuilt.finished_on


def test_each_run_has_its_own_invocation_id(world, monkeypatch):
    monkeypatch.setenv("VITRINA_REBUILDER_TOKEN", "vtb_secret")
    for _ in range(2):
        assert rebuild(world, "--key", str(world.key_file), "--publish") == 0
    ids = {
        verify_rebuild(body["envelope"], world.rebuilder.public_key).invocation_id
        for *_, body in world.portal.posted
    }
    assert len(ids) == 2


def test_a_tampered_build_tool_gives_other_bytes_and_the_hint_says_the_members_are_the_same(
    world, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", f"{tampering_gzip(tmp_path / 'shim')}{os.pathsep}{os.environ['PATH']}")
    assert rebuild(world, "--reference", str(world.artifact)) == 1
    out = capsys.readouterr().out
    assert "FAIL  app.tar.gz: rebuilt dist/app.tar.gz is sha256:" in out
    assert f"the release's is {sha256_file(world.artifact)}" in out
    assert "every member is the same: the archive itself differs" in out
    assert out.splitlines()[-1].startswith(
        "RESULT: DIFFERS. 1 of 1 outputs differ from the release: app.tar.gz"
    )


def test_without_a_reference_a_differing_archive_lists_its_members_with_size_and_sha256(
    world, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", f"{tampering_gzip(tmp_path / 'shim')}{os.pathsep}{os.environ['PATH']}")
    assert rebuild(world) == 1
    out = capsys.readouterr().out
    assert "the rebuilt app.tar.gz holds 5 members:" in out
    assert "src/app.py  34 bytes  sha256:" in out


def test_a_build_that_embeds_its_time_differs_in_that_one_file(tmp_path, capsys):
    with Portal({}) as portal:
        world = World(tmp_path, portal, reproducible=False)
        assert rebuild(world, "--reference", str(world.artifact)) == 1
    out = capsys.readouterr().out
    assert "differs: src/BUILT_AT  31 bytes sha256:" in out
    assert "src/app.py" not in out.split("FAIL")[1]


def test_a_release_without_build_instructions_cannot_be_rebuilt(world, capsys):
    world.release(None)
    assert rebuild(world) == 3
    assert "rebuild: this release records no build command" in capsys.readouterr().err


def test_a_failing_build_could_not_rebuild_and_shows_the_end_of_its_output(world, capsys):
    world.release(
        BuildInstructions("echo compiling; echo 'cc: no such file' >&2; exit 4", {}, {ARTIFACT_NAME: "x"})
    )
    assert rebuild(world) == 2
    out, err = capsys.readouterr()
    assert "  | compiling\n  | cc: no such file" in out
    assert "rebuild: could not rebuild: the build command exited with 4" in err


def test_a_build_that_leaves_no_output_could_not_rebuild(world, capsys):
    world.release(BuildInstructions("true", {}, {ARTIFACT_NAME: "dist/app.tar.gz"}))
    assert rebuild(world) == 2
    assert "the build left no file or directory at dist/app.tar.gz (app.tar.gz)" in capsys.readouterr().err


def test_a_build_that_outlives_the_timeout_is_stopped(world, capsys):
    world.release(BuildInstructions("sleep 60 & sleep 60", {}, {ARTIFACT_NAME: "dist/app.tar.gz"}))
    started = time.monotonic()
    assert rebuild(world, "--timeout", "1") == 2
    assert time.monotonic() - started < 20
    assert "the build command did not finish within 1 s" in capsys.readouterr().err


def test_the_build_runs_in_a_clean_environment_with_the_recorded_variables(
    world, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("CI_SECRET", "must not leak")
    build = BuildInstructions(
        "mkdir -p dist && env | sort > dist/env.txt && umask > dist/umask.txt",
        {"PYTHON_VERSION": "3.12.4", "HOME": "/elsewhere", "TZ": "UTC"},
        {ARTIFACT_NAME: "dist"},
    )
    world.release(build)
    keep = tmp_path / "kept"
    assert rebuild(world, "--keep", str(keep)) == 1  # the digest is CI's tarball, not this listing
    out = capsys.readouterr().out
    assert "note: the release's buildEnvironment sets HOME; this machine's own is used" in out
    variables = dict(line.split("=", 1) for line in (keep / "dist" / "env.txt").read_text().splitlines())
    assert variables["SOURCE_DATE_EPOCH"] == str(world.project.commit_time)
    assert (variables["LC_ALL"], variables["LANG"], variables["TZ"]) == ("C.UTF-8", "C.UTF-8", "UTC")
    assert variables["PYTHON_VERSION"] == "3.12.4"
    assert variables["PATH"] == os.environ["PATH"]
    assert variables["HOME"] != "/elsewhere" and variables["HOME"].startswith(
        variables["TMPDIR"].rsplit("/", 1)[0]
    )
    assert "CI_SECRET" not in variables and "VITRINA_REBUILDER_TOKEN" not in variables
    assert (keep / "dist" / "umask.txt").read_text().strip() == "0022"
    assert (keep / "build.log").exists()


@pytest.mark.skipif(not network_isolation(), reason="unshare -rn is not allowed on this machine")
def test_the_build_has_no_network(world, capsys, tmp_path):
    port = world.portal.port
    probe = f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo reached || echo isolated"
    world.release(
        BuildInstructions(f"mkdir -p dist && {{ {probe}; }} > dist/net.txt", {}, {ARTIFACT_NAME: "dist"})
    )
    keep = tmp_path / "kept"
    rebuild(world, "--keep", str(keep))
    assert "(network isolated: unshare -rn)" in capsys.readouterr().out
    assert (keep / "dist" / "net.txt").read_text().strip() == "isolated"


def test_the_rebuilders_umask_does_not_change_the_bytes(world, capsys):
    """CI checked out under umask 022; a rebuilder whose umask is 077 still gets the same tarball."""
    previous = os.umask(0o077)
    try:
        assert rebuild(world) == 0, capsys.readouterr().out
    finally:
        os.umask(previous)


def test_a_bundle_that_does_not_verify_ends_the_run_before_anything_is_cloned(world, capsys):
    world.bundle["release"]["artifact_digest"] = "sha256:" + "ee" * 32
    assert rebuild(world) == 1
    out = capsys.readouterr().out
    assert "FAIL  " in out and "source:" not in out


def test_a_commit_the_repository_does_not_have_is_a_failure(world, capsys):
    world.release(
        BuildInstructions("sh build.sh", {}, {ARTIFACT_NAME: "dist/app.tar.gz"}), commit=random_commit()
    )
    assert rebuild(world) == 1
    assert "has no commit" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--version", "9.9.9"], "--version 9.9.9: project demo has no such release"),
        (["--project", "other"], "--project other: the portal at"),
        (["--project", "../x"], "is not a slug"),
        (["--timeout", "0"], "--timeout must be"),
        (["--publish"], "--publish signs the rebuild: give your private key with --key"),
        (["--reference", "/nonexistent"], "--reference /nonexistent: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(world, capsys, argv, problem):
    assert rebuild(world, *argv) == 3
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1


def test_a_reference_that_is_not_the_releases_artifact_is_bad_input(world, capsys, tmp_path):
    other = tmp_path / "other.tar.gz"
    other.write_bytes(b"not it")
    assert rebuild(world, "--reference", str(other)) == 3
    assert "is not the release's artifact" in capsys.readouterr().err


def test_keep_refuses_a_directory_that_is_not_empty(world, capsys, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert rebuild(world, "--keep", str(tmp_path / "full")) == 3
    assert "--keep" in capsys.readouterr().err


def test_a_key_the_portal_does_not_list_is_refused_before_building(world, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("VITRINA_REBUILDER_TOKEN", "vtb_secret")
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(key_pair().private_pem)
    assert rebuild(world, "--key", str(stranger), "--publish") == 3
    assert "lists no active rebuilder with key" in capsys.readouterr().err
    assert not world.portal.posted


@pytest.mark.parametrize("status, code", [(409, 1), (503, 2)])
def test_a_refused_or_failed_post_has_its_exit_code(world, capsys, monkeypatch, status, code):
    monkeypatch.setenv("VITRINA_REBUILDER_TOKEN", "vtb_secret")
    world.portal.answer = (status, {"error": {"message": "This rebuild was already recorded."}})
    assert rebuild(world, "--key", str(world.key_file), "--publish") == code
    err = capsys.readouterr().err
    assert ("already recorded" in err) if status == 409 else ("503" in err)


def test_members_in_another_order_are_named_as_such():
    a, b = Member("a", 1, "aa", "file"), Member("b", 1, "bb", "file")
    assert compare_members([a, b], [b, a]) == [
        "the same members in another order (sort them: tar --sort=name)"
    ]
    later = Member("a", 1, "aa", "file time 2")
    assert compare_members([a, b], [later, b]) == ["differs: a  file in the release, file time 2 rebuilt"]
    assert compare_members([a], [a, b]) == ["extra: b (in the rebuild, not in the release's artifact)"]

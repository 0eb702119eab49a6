"""Three independent rebuilders against a running portal, each ``python -m verifier rebuild --publish`` as a
separate process with its own key and token, rebuilding a real project (``tests.helpers.reproducible``)
that CI built, signed with ``attest --build-command`` and published with ``publish``.

Two rebuild it honestly and get CI's bytes; the third has a tampered build tool (a ``gzip`` earlier in
its PATH that adds bytes) and gets others. The portal records and logs the three, the release API and
page say "reproduced by 2 of 3", and the proof bundle carries them for ``verify --min-rebuilders``. A build
that writes its own time into the package is reported as not reproducible, naming the file.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from portal.monitoring.runner import check_environment
from portal.registry import services
from portal.registry.models import Rebuild, Release
from portal.transparency.signing import verifier_key
from tests.helpers.liveserver import LiveServer
from tests.helpers.reproducible import ci_build, make_project, tampering_gzip
from tests.portal import factories
from verifier.keys import generate_private_key

ROOT = Path(__file__).resolve().parents[2]
HONEST = ("Universidad de la República", "Debian reproducible-builds volunteer")
TAMPERED = "A rebuilder with a broken gzip"

pytestmark = pytest.mark.django_db(transaction=True)


def verifier(*argv, cwd=ROOT, env=None):
    """``python -m verifier ARGV`` as a separate process; ``(exit code, stdout, stderr)``."""
    result = subprocess.run(
        [sys.executable, "-m", "verifier", *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.returncode, result.stdout, result.stderr


def release_by_ci(live_server, tmp_path, *, reproducible=True):
    """CI's side: build the commit, sign it with ``attest --build-command`` at the checkout's root,
    publish it with the project's token. Returns (Release, the artifact CI built)."""
    source = make_project(tmp_path / "app", reproducible=reproducible)
    project = factories.make_project("city", repo_url=source.repo_url)
    private_key, _ = factories.make_key(project)
    key_file = tmp_path / "ci-key.pem"
    key_file.write_text(private_key.private_pem())
    artifact = ci_build(source, tmp_path / "ci")
    checkout = tmp_path / "ci" / "checkout"
    code, out, err = verifier(
        "attest", "--artifact", source.output, "--commit", source.commit, "--repo", source.repo_url,
        "--ci-url", "https://ci.example.org/city/runs/1", "--key", str(key_file),
        "--build-command", source.build_command, "--out", str(tmp_path / "envelope.json"),
        cwd=checkout,
    )  # fmt: skip
    assert code == 0, out + err
    _, token = factories.make_token(project)
    code, out, err = verifier(
        "publish", "--portal", live_server.url, "--envelope", str(tmp_path / "envelope.json"),
        "--version", "1.0.0", env={"VITRINA_TOKEN": token},
    )  # fmt: skip
    assert code == 0, out + err
    return Release.objects.get(project=project, version="1.0.0"), artifact


def add_rebuilder(name, tmp_path):
    """A registered rebuilder: its key file, token and state directory."""
    key = generate_private_key("ed25519")
    key_file = tmp_path / f"{name[:12].replace(' ', '-')}.pem"
    key_file.write_text(key.private_pem())
    _rebuilder, token = services.add_rebuilder(name, key.public_key.pem)
    return {"key": key, "key_file": key_file, "token": token, "state": tmp_path / f"state-{name[:12]}"}


def rebuilder_process(url, rebuilder, *extra, path=None):
    """``rebuild --publish`` of city 1.0.0 as a separate process, the token (and PATH) in its environment."""
    argv = [
        sys.executable, "-m", "verifier", "rebuild", "--portal", url, "--project", "city",
        "--version", "1.0.0", "--key", str(rebuilder["key_file"]), "--publish", "--allow-private",
        "--log-key", verifier_key(), "--state-dir", str(rebuilder["state"]), *extra,
    ]  # fmt: skip
    env = {**os.environ, "VITRINA_REBUILDER_TOKEN": rebuilder["token"], "PATH": path or os.environ["PATH"]}
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process):
    out, err = process.communicate(timeout=180)
    return process.returncode, out, err


def test_two_rebuilders_reproduce_a_release_and_a_third_with_a_tampered_tool_differs(
    live_server, log_key_file, tmp_path, client
):
    release, artifact = release_by_ci(live_server, tmp_path)
    honest = [add_rebuilder(name, tmp_path) for name in HONEST]
    tampered = add_rebuilder(TAMPERED, tmp_path)

    processes = [rebuilder_process(live_server.url, rebuilder) for rebuilder in honest]
    shimmed = f"{tampering_gzip(tmp_path / 'shim')}{os.pathsep}{os.environ['PATH']}"
    processes.append(rebuilder_process(live_server.url, tampered, "--reference", str(artifact), path=shimmed))
    results = [finished(process) for process in processes]

    for code, out, err in results[:2]:
        assert code == 0, out + err
        assert f"PASS  app.tar.gz: rebuilt dist/app.tar.gz is {release.artifact_digest}, as released" in out
        assert "RESULT: reproduced." in out
        assert "published: rebuild" in out and "(reproduced), log index" in out
    code, out, err = results[2]
    assert code == 1, out + err
    assert f"the release's is {release.artifact_digest}" in out
    assert "every member is the same: the archive itself differs" in out
    assert "published: rebuild" in out and "(differs), log index" in out

    rebuilds = {rebuild.rebuilder.name: rebuild for rebuild in Rebuild.objects.filter(release=release)}
    assert sorted(rebuilds) == sorted([*HONEST, TAMPERED])
    assert [rebuilds[name].result for name in HONEST] == ["reproduced", "reproduced"]
    assert rebuilds[TAMPERED].result == "differs"
    assert rebuilds[TAMPERED].subjects[0]["digest"]["sha256"] != release.artifact_digest.removeprefix(
        "sha256:"
    )
    for rebuild in rebuilds.values():
        assert factories.sequenced_entries().filter(kind="rebuild", object_id=rebuild.pk).exists()

    detail = client.get(f"/api/v1/releases/{release.pk}/").json()
    assert (detail["reproduced"], detail["rebuilt_by"]) == (2, 3)
    page = client.get("/p/city/releases/1.0.0/").content.decode()
    assert "Reproduced by 2 of 3 independent rebuilders" in page
    assert all(name in page for name in [*HONEST, TAMPERED])

    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(client.get(f"/api/v1/releases/{release.pk}/bundle").content)
    trusted = []
    for n, rebuilder in enumerate(honest):
        trusted += ["--rebuilder-key", str(tmp_path / f"trusted-{n}.pub")]
        Path(trusted[-1]).write_text(rebuilder["key"].public_key.pem)
    code, out, err = verifier("verify", str(bundle), "--no-state", "--min-rebuilders", "2", *trusted)
    assert code == 0, out + err

    # Where the release runs, the differing rebuild is red until the project answers it in public.
    with (
        LiveServer({"artifact_digest": release.artifact_digest}) as server,
        override_settings(
            VITRINA_ALLOW_PRIVATE_ADDRESSES=True, VITRINA_REPO_CACHE_DIR=str(tmp_path / "repo-cache")
        ),
    ):
        environment = factories.make_environment(release.project, live_url=server.url)
        factories.make_deployment(environment, release)
        observation = check_environment(environment)
        assert (observation.result, observation.reason) == ("mismatch", "rebuild_mismatch")
        assert TAMPERED in observation.message
        page = client.get(environment.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'id="layer-rebuilds"' in page
        services.answer_rebuild(rebuilds[TAMPERED], "Their gzip differs from the one our build records.")
        assert check_environment(environment).result == "verified"
    assert factories.sequenced_entries().filter(kind="rebuild_answer").count() == 1


def test_a_build_that_embeds_its_time_is_reported_not_reproducible_naming_the_file(
    live_server, log_key_file, tmp_path
):
    release, artifact = release_by_ci(live_server, tmp_path, reproducible=False)
    rebuilder = add_rebuilder(HONEST[0], tmp_path)

    code, out, err = finished(rebuilder_process(live_server.url, rebuilder, "--reference", str(artifact)))

    assert code == 1, out + err
    assert "FAIL  app.tar.gz:" in out and "differs: src/BUILT_AT" in out
    assert "RESULT: DIFFERS." in out
    assert Rebuild.objects.get(release=release).result == "differs"

"""A release's proof bundle carries the rebuilds its light counts (each active rebuilder's latest), each with
its envelope, rebuilder and log proof under the release's checkpoint; the volunteer's ``python -m verifier
verify --min-rebuilders`` (a real subprocess) checks them offline."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from portal.registry import services
from tests.portal import factories
from tests.portal.rebuilders import make_rebuilder, rebuild

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def rebuilt(db, log_key_file):
    """Release 1.0.0 of 'demo', deployed, reproduced by 'First' (whose earlier run differed) and 'Second';
    'Gone' reproduced it too, but was removed since."""
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    release = factories.make_deployed_release(project, "1.0.0", environment)
    keys = {}
    for name in ("First", "Second", "Gone"):
        private_key, rebuilder, _ = make_rebuilder(name)
        keys[name] = (private_key, rebuilder)
    first_key, first = keys["First"]
    rebuild(first_key, first, release, got={"app.tar.gz": "ab" * 32})
    for name in ("First", "Second", "Gone"):
        rebuild(*keys[name], release)
    services.remove_rebuilder(keys["Gone"][1])
    release.keys = keys
    return release


def download(client, name, pk):
    response = client.get(reverse(name, args=[pk]))
    assert response.status_code == 200, response.content
    return response.json()


def run_verify(client, tmp_path, bundle, *options):
    path = tmp_path / "release.bundle.json"
    path.write_text(json.dumps(bundle))
    log_key = client.get("/api/v1/log/").json()["verifier_key"]
    return subprocess.run(
        [sys.executable, "-m", "verifier", "verify", str(path), "--log-key", log_key, "--no-state", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_bundle_carries_each_active_rebuilders_latest_rebuild_with_its_proof(client, rebuilt):
    bundle = download(client, "api:release-bundle", rebuilt.pk)
    carried = bundle["rebuilds"]
    assert [(item["rebuild"]["rebuilder"], item["rebuild"]["result"]) for item in carried] == [
        ("Second", "reproduced"),
        ("First", "reproduced"),
    ]
    for item in carried:
        name = item["rebuild"]["rebuilder"]
        rebuilder = rebuilt.keys[name][1]
        assert item["rebuilder"] == {
            "name": name,
            "key_id": rebuilder.key_id,
            "algorithm": "ed25519",
            "public_key_pem": rebuilder.public_key_pem,
        }
        assert item["envelope"] == rebuilder.rebuilds.order_by("-id").first().envelope
        log = item["log"]
        assert (log["tree_size"], log["checkpoint"]) == (
            bundle["log"]["tree_size"],
            bundle["log"]["checkpoint"],
        )
        logged = json.loads(base64.b64decode(log["entry_b64"]))
        assert logged["type"] == "rebuild" and logged["rebuilder"] == name and log["index"] < log["tree_size"]


def test_the_downloaded_bundle_verifies_with_two_rebuilders_and_fails_asking_three(client, rebuilt, tmp_path):
    bundle = download(client, "api:release-bundle", rebuilt.pk)
    passed = run_verify(client, tmp_path, bundle, "--min-rebuilders", "2")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "reproduced by 2 of 2 rebuilders (First, Second)" in passed.stdout
    pinned = []
    for name in ("First", "Second"):
        path = tmp_path / f"{name}.pem"
        path.write_text(rebuilt.keys[name][1].public_key_pem)
        pinned += ["--rebuilder-key", str(path)]
    assert run_verify(client, tmp_path, bundle, "--min-rebuilders", "2", *pinned).returncode == 0
    failed = run_verify(client, tmp_path, bundle, "--min-rebuilders", "3")
    assert failed.returncode == 1 and "--min-rebuilders 3" in failed.stdout


def test_a_rebuild_record_edited_behind_the_orms_back_fails_the_bundle(client, rebuilt, tmp_path):
    from tests.portal.registry.test_audit import update

    newest = rebuilt.rebuilds.order_by("-id").filter(rebuilder__name="Second").first()
    update(type(newest), newest.pk, result="differs")
    result = run_verify(client, tmp_path, download(client, "api:release-bundle", rebuilt.pk))
    assert result.returncode == 1, result.stdout


def test_a_deployment_bundle_carries_its_releases_rebuilds(client, rebuilt, tmp_path):
    deployment = rebuilt.deployments.get()
    bundle = download(client, "api:deployment-bundle", deployment.pk)
    assert len(bundle["release_bundle"]["rebuilds"]) == 2
    result = run_verify(client, tmp_path, bundle, "--min-rebuilders", "2")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_release_nobody_rebuilt_has_no_rebuilds_member(client, db, log_key_file):
    project = factories.make_project("plain")
    release = factories.make_release(project, factories.make_key(project)[0], "1.0.0")
    assert "rebuilds" not in download(client, "api:release-bundle", release.pk)

"""Proof bundles served by the portal, checked by the volunteer's verifier, online and offline."""

import json
import random

import pytest
from django.db import connection

from portal.transparency import services
from portal.transparency.signing import load_signing_key
from tests.portal import factories
from verifier import merkle, note
from verifier.bundle import ERROR, FAIL, PASS, SKIP, parse_bundle, verify_bundle
from verifier.cli import EXIT_FAILED, EXIT_OK, main
from verifier.errors import FormatError
from verifier.state import CheckpointStore

ARTIFACT = b"demo 1.0.0 artifact"


@pytest.fixture
def demo(db, log_key_file):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0", artifact=ARTIFACT)
    deployment = factories.make_deployment(environment, release)
    return {"project": project, "private_key": private_key, "release": release, "deployment": deployment}


def download(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response


def pinned_key(client):
    return client.get("/api/v1/log/").json()["verifier_key"]


def test_a_release_bundle_integrates_the_entry_first_and_verifies(client, demo, tmp_path):
    assert services.tree_size() == 0
    response = download(client, f"/api/v1/releases/{demo['release'].pk}/bundle")
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="demo-1.0.0.bundle.json"'
    assert services.tree_size() == 3
    bundle = parse_bundle(response.content)
    assert bundle.log.tree_size == 3
    artifact = tmp_path / "artifact"
    artifact.write_bytes(ARTIFACT)
    results = verify_bundle(bundle, artifact_path=str(artifact), log_key=pinned_key(client))
    assert {r.name: r.status for r in results} == {
        "signature": PASS,
        "statement": PASS,
        "artifact": PASS,
        "log entry": PASS,
        "project": PASS,
        "checkpoint": PASS,
        "witnesses": SKIP,
        "inclusion": PASS,
        "history": SKIP,
        "repository": SKIP,
        "served files": SKIP,
        "rebuilds": SKIP,
    }


def test_a_deployment_bundle_holds_the_release_bundle_and_verifies(client, demo):
    response = download(client, f"/api/v1/deployments/{demo['deployment'].pk}/bundle")
    assert "deployment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert document["release_bundle"]["kind"] == "release"
    assert document["log"]["checkpoint"] == document["release_bundle"]["log"]["checkpoint"]
    results = verify_bundle(parse_bundle(response.content), log_key=pinned_key(client))
    assert not [r for r in results if r.status in (FAIL, ERROR)], results


def test_unknown_records_are_a_404_in_the_api_error_shape(client, demo):
    for url in ("/api/v1/releases/999/bundle", "/api/v1/deployments/999/bundle"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_release_row_edited_behind_the_orms_back_fails_verification(client, demo):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_release SET artifact_name = %s WHERE id = %s",
            ["innocent.tar.gz", demo["release"].pk],
        )
    response = download(client, f"/api/v1/releases/{demo['release'].pk}/bundle")
    results = verify_bundle(parse_bundle(response.content), log_key=pinned_key(client))
    failed = [r for r in results if r.status == FAIL]
    assert [r.name for r in failed] == ["log entry"]
    assert "artifact_name" in failed[0].message


def test_a_flipped_bit_in_a_served_bundle_never_passes(client, demo):
    data = download(client, f"/api/v1/deployments/{demo['deployment'].pk}/bundle").content
    key = pinned_key(client)
    assert all(r.status in (PASS, SKIP) for r in verify_bundle(parse_bundle(data), log_key=key))
    rng = random.Random(7)
    for position in rng.sample(range(len(data)), min(len(data), 3000)):
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        try:
            results = verify_bundle(parse_bundle(bytes(damaged)), log_key=key)
        except FormatError:
            continue
        assert any(r.status == FAIL for r in results), position


@pytest.mark.django_db(transaction=True)
def test_the_cli_checks_consistency_with_the_portal_against_a_live_server(
    live_server, log_key_file, tmp_path, capsys
):
    project = factories.make_project("live")
    private_key, _ = factories.make_key(project)
    first = factories.make_release(project, private_key, "1.0.0")
    state = tmp_path / "state"
    first_path = tmp_path / "first.json"
    first_path.write_bytes(download_live(live_server, f"/api/v1/releases/{first.pk}/bundle"))
    assert main(["verify", str(first_path), "--state-dir", str(state)]) == EXIT_OK

    for n in range(5):
        factories.make_release(project, private_key, f"1.1.{n}")
    second = factories.make_release(project, private_key, "2.0.0")
    second_path = tmp_path / "second.json"
    second_path.write_bytes(download_live(live_server, f"/api/v1/releases/{second.pk}/bundle"))
    capsys.readouterr()

    assert main(["verify", str(second_path), "--state-dir", str(state)]) == EXIT_OK
    assert (
        "SKIP  history: the checkpoint is newer than the one remembered (size 2)" in capsys.readouterr().out
    )

    code = main(["verify", str(second_path), "--state-dir", str(state), "--portal", live_server.url])
    assert code == EXIT_OK
    assert (
        "PASS  history: the log only grew since the remembered checkpoint (size 2 -> 8)"
        in capsys.readouterr().out
    )
    assert CheckpointStore(state).load("vitrina.example/log")[2].size == 8

    # A checkpoint of size 5 that the log never had, signed with the log's own key (a rewritten history).
    forged_root = merkle.leaf_hash(b"rewritten")
    origin = "vitrina.example/log"
    forged = note.sign_note(note.format_checkpoint(origin, 5, forged_root), origin, load_signing_key())
    CheckpointStore(state).save(origin, pinned_key_live(live_server), forged)
    code = main(["verify", str(second_path), "--state-dir", str(state), "--portal", live_server.url])
    assert code == EXIT_FAILED
    assert "FAIL  history: the log REWROTE HISTORY" in capsys.readouterr().out


def test_the_cli_reports_a_portal_it_cannot_reach(demo, client, tmp_path, capsys):
    path = tmp_path / "bundle.json"
    path.write_bytes(download(client, f"/api/v1/releases/{demo['release'].pk}/bundle").content)
    state = tmp_path / "state"
    forged = note.sign_note(
        note.format_checkpoint("vitrina.example/log", 1, merkle.leaf_hash(b"x")),
        "vitrina.example/log",
        load_signing_key(),
    )
    CheckpointStore(state).save("vitrina.example/log", pinned_key(client), forged)
    code = main(["verify", str(path), "--state-dir", str(state), "--portal", "http://127.0.0.1:9"])
    assert code == 2
    assert "ERROR history: cannot reach the portal" in capsys.readouterr().out


def download_live(live_server, path):
    import urllib.request

    with urllib.request.urlopen(live_server.url + path, timeout=30) as response:  # noqa: S310
        return response.read()


def pinned_key_live(live_server):
    return json.loads(download_live(live_server, "/api/v1/log/"))["verifier_key"]


def test_a_bundle_is_a_file_in_the_documented_layout_and_head_gives_its_headers(client, demo):
    url = f"/api/v1/releases/{demo['release'].pk}/bundle"
    body = download(client, url).content

    assert body == (json.dumps(json.loads(body), indent=2, ensure_ascii=True) + "\n").encode("ascii")
    head = client.head(url)
    assert head.status_code == 200
    assert head["Content-Type"] == "application/json"
    assert head["Content-Disposition"] == 'attachment; filename="demo-1.0.0.bundle.json"'
    assert head.content == b""


def test_a_bundle_while_the_log_key_is_unreadable_is_a_503(client, demo, settings, tmp_path):
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "absent.key")

    response = client.get(f"/api/v1/deployments/{demo['deployment'].pk}/bundle")

    assert response.status_code == 503
    assert response.json()["error"] == {
        "status": 503,
        "code": "unavailable",
        "message": "The log signing key is unavailable; try again later.",
        "fields": {},
    }

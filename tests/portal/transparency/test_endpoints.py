"""The log's public endpoints, end to end: records registered through the registry services,
integrated, then every answer checked with the volunteer's own ``verifier`` code."""

import base64
import json

import pytest

from portal.transparency import services
from portal.transparency.models import Checkpoint, PendingEntry
from tests.portal import factories
from verifier import merkle, note, tiles

pytestmark = pytest.mark.django_db


def b64decode(text):
    return base64.b64decode(text, validate=True)


@pytest.fixture
def records(log_key_file):
    """A project with a key, two releases and a deployment: four entries (key, release, release, deploy)."""
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    first = factories.make_release(project, private_key, "1.0.0")
    second = factories.make_release(project, private_key, "1.1.0")
    deployment = factories.make_deployment(environment, second)
    return {"project": project, "releases": [first, second], "deployment": deployment}


def log_info(client):
    response = client.get("/api/v1/log/")
    assert response.status_code == 200
    return response.json()


def test_registered_records_are_provable_with_the_verifier_after_integration(client, records):
    services.integrate()
    info = log_info(client)
    assert info["origin"] == "vitrina.example/log"
    assert info["tree_size"] == 4

    checkpoint_response = client.get("/log/checkpoint")
    assert checkpoint_response["Content-Type"] == "text/plain; charset=utf-8"
    assert "max-age" in checkpoint_response["Cache-Control"]
    signed = note.verify_checkpoint(checkpoint_response.content, info["verifier_key"], origin=info["origin"])
    assert signed.size == 4
    assert info["checkpoint"] == checkpoint_response.content.decode()

    for index in range(signed.size):
        entry = client.get(f"/api/v1/log/entries/{index}").json()
        entry_bytes = b64decode(entry["entry_b64"])
        assert b64decode(entry["leaf_hash_b64"]) == merkle.leaf_hash(entry_bytes)
        assert entry["entry"] == json.loads(entry_bytes)
        proof = client.get(f"/api/v1/log/proof/inclusion?index={index}&tree_size={signed.size}").json()
        assert proof["index"] == index and proof["tree_size"] == signed.size
        path = [b64decode(h) for h in proof["proof"]]
        merkle.verify_inclusion(merkle.leaf_hash(entry_bytes), index, signed.size, path, signed.root)

    kinds = [client.get(f"/api/v1/log/entries/{i}").json()["entry"]["type"] for i in range(4)]
    assert kinds == ["key_added", "release", "release", "deployment"]


def test_consistency_proofs_link_every_checkpoint_to_the_latest(client, records, log_key_file):
    services.integrate(limit=1)
    services.integrate(limit=2)
    services.integrate()
    project = records["project"]
    private_key, _ = factories.make_key(project)
    factories.make_release(project, private_key, "2.0.0")
    services.integrate()
    info = log_info(client)
    latest = note.verify_checkpoint(info["checkpoint"], info["verifier_key"])
    assert latest.size == 6
    for old in Checkpoint.objects.exclude(size=latest.size):
        earlier = note.verify_checkpoint(old.note, info["verifier_key"])
        response = client.get(f"/api/v1/log/proof/consistency?first={earlier.size}&second={latest.size}")
        body = response.json()
        assert (body["first"], body["second"]) == (earlier.size, latest.size)
        merkle.verify_consistency(
            earlier.size, latest.size, [b64decode(h) for h in body["proof"]], earlier.root, latest.root
        )


@pytest.mark.parametrize(
    ("path", "numbers"), [("/api/v1/log/proof/inclusion", (1, 4)), ("/api/v1/log/proof/consistency", (2, 4))]
)
def test_a_proof_answers_the_numbers_its_schema_declares_and_the_proof(client, records, path, numbers):
    services.integrate()
    operation = json.loads(client.get("/api/v1/schema/?format=json").content)["paths"][path]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert len(names) == len(numbers)
    query = "&".join(f"{name}={number}" for name, number in zip(names, numbers, strict=True))

    body = client.get(f"{path}?{query}").json()

    assert set(body) == {*names, "proof"}
    assert [body[name] for name in names] == list(numbers)
    assert all(len(b64decode(h)) == 32 for h in body["proof"])


def test_tiles_hold_the_leaf_hashes_and_entries_of_the_checkpoint(client, records):
    services.integrate()
    size = log_info(client)["tree_size"]
    response = client.get(f"/log/{tiles.tile_path(0, 0, size)}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "immutable" not in response["Cache-Control"]
    leaf_hashes = [response.content[i : i + 32] for i in range(0, len(response.content), 32)]
    assert merkle.root_from_leaf_hashes(leaf_hashes) == Checkpoint.objects.get(size=size).root

    bundle = client.get(f"/log/{tiles.entries_path(0, size)}")
    assert bundle.status_code == 200
    entries = tiles.decode_entry_bundle(bundle.content)
    assert [merkle.leaf_hash(e) for e in entries] == leaf_hashes


def test_tiles_beyond_the_checkpoint_are_not_found(client, records):
    services.integrate(limit=2)
    assert client.get(f"/log/{tiles.tile_path(0, 0, 3)}").status_code == 404
    assert client.get(f"/log/{tiles.tile_path(0, 0)}").status_code == 404
    assert client.get(f"/log/{tiles.tile_path(1, 0, 1)}").status_code == 404
    assert client.get(f"/log/{tiles.entries_path(1, 1)}").status_code == 404
    assert client.get("/log/tile/0/0").status_code == 404  # not canonical
    assert client.get("/log/tile/0/" + "x999/" * 2000 + "000").status_code == 404
    assert client.get(f"/log/{tiles.tile_path(0, 0, 2)}").status_code == 200


def test_full_tiles_are_cached_forever_and_higher_levels_hash_full_tiles(client, log_key_file):
    project = factories.make_project()
    private_key, _ = factories.make_key(project)
    for n in range(256):
        factories.make_release(project, private_key, f"0.0.{n}")
    services.integrate()
    full = client.get(f"/log/{tiles.tile_path(0, 0)}")
    assert full.status_code == 200
    assert full["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(full.content) == 8192
    level_one = client.get(f"/log/{tiles.tile_path(1, 0, 1)}")
    assert level_one.status_code == 200
    leaf_hashes = [full.content[i : i + 32] for i in range(0, 8192, 32)]
    assert level_one.content == merkle.root_from_leaf_hashes(leaf_hashes)
    entries = tiles.decode_entry_bundle(client.get(f"/log/{tiles.entries_path(0)}").content)
    assert len(entries) == 256


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/v1/log/proof/inclusion?index=-1&tree_size=4", "index"),
        ("/api/v1/log/proof/inclusion?index=4&tree_size=4", "index"),
        ("/api/v1/log/proof/inclusion?index=0&tree_size=5", "tree_size"),
        ("/api/v1/log/proof/inclusion?index=0&tree_size=0", "tree_size"),
        ("/api/v1/log/proof/inclusion?index=zero&tree_size=4", "index"),
        ("/api/v1/log/proof/inclusion?index=1e3&tree_size=4", "index"),
        ("/api/v1/log/proof/inclusion?tree_size=4", "index"),
        ("/api/v1/log/proof/inclusion?index=0&tree_size=99999999999999999999999", "tree_size"),
        ("/api/v1/log/proof/consistency?first=3&second=2", "first"),
        ("/api/v1/log/proof/consistency?first=0&second=2", "first"),
        ("/api/v1/log/proof/consistency?first=1&second=5", "second"),
        ("/api/v1/log/proof/consistency?first=1&second=-5", "second"),
        ("/api/v1/log/proof/consistency?first=%20&second=2", "first"),
        ("/api/v1/log/entries/4", "index"),
        ("/api/v1/log/entries/-1", "index"),
        ("/api/v1/log/entries/abc", "index"),
    ],
)
def test_bad_parameters_are_a_400_in_the_api_error_shape(client, records, url, field):
    services.integrate()
    response = client.get(url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert error["message"]


def test_entries_appended_after_the_checkpoint_are_not_served_until_integrated(client, records):
    services.integrate(limit=3)
    assert client.get("/api/v1/log/entries/3").status_code == 400
    assert PendingEntry.objects.count() == 1
    services.integrate()
    assert client.get("/api/v1/log/entries/3").status_code == 200


def test_an_empty_log_signs_an_empty_checkpoint(client, log_key_file):
    checkpoint = services.integrate()
    assert checkpoint.size == 0
    info = log_info(client)
    assert note.verify_checkpoint(info["checkpoint"], info["verifier_key"]).root == merkle.EMPTY_ROOT


def test_no_checkpoint_yet_is_a_404(client):
    assert client.get("/log/checkpoint").status_code == 404


def test_a_missing_key_file_is_a_503_not_a_500(client, settings, tmp_path):
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "absent.key")
    response = client.get("/api/v1/log/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_head_answers_with_the_headers_of_get_and_no_body(client, records):
    services.integrate()
    for url in ("/api/v1/log/", "/api/v1/log/entries/0", "/api/v1/log/proof/inclusion?index=0&tree_size=4"):
        response = client.head(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/json"
        assert response.content == b""


def test_a_bad_parameter_names_the_field_and_the_problem(client, records):
    services.integrate()

    response = client.get("/api/v1/log/proof/consistency?first=1&second=-5")

    assert response.json()["error"] == {
        "status": 400,
        "code": "invalid",
        "message": "second must not be negative; got -5.",
        "fields": {"second": ["second must not be negative; got -5."]},
    }

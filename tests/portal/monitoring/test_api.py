"""The public observations API and the portal's own live endpoint."""

import json
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.monitoring import selfwatch
from portal.monitoring.models import Observation
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    environment = factories.make_environment(factories.make_project(slug="demo"), name="production")
    start = timezone.now() - timedelta(hours=1)
    for minute in range(5):
        Observation.objects.create(
            environment=environment,
            checked_at=start + timedelta(minutes=minute),
            result="verified" if minute % 2 == 0 else "unverifiable",
            reason="" if minute % 2 == 0 else "timeout",
            message=f"check {minute}",
            live_digest="sha256:" + "ab" * 32,
            duration_ms=minute,
        )
    return environment


def test_observations_are_paged_newest_first(client, history):
    response = client.get("/api/v1/projects/demo/environments/production/observations/?limit=2")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 5
    assert [o["message"] for o in data["results"]] == ["check 4", "check 3"]
    assert data["previous"] is None
    assert data["next"].endswith("?limit=2&offset=2")
    first = data["results"][0]
    assert set(first) == {
        "checked_at", "light", "result", "reason", "message", "live_digest", "expected_digest", "ahead_by",
        "duration_ms", "layers",
    }  # fmt: skip
    assert first["light"] == "green" and first["reason"] is None and first["expected_digest"] is None
    assert first["checked_at"].endswith("Z")
    assert data["results"][1]["light"] == "amber" and data["results"][1]["reason"] == "timeout"


def test_last_page_has_no_next(client, history):
    data = client.get("/api/v1/projects/demo/environments/production/observations/?limit=2&offset=4").json()

    assert [o["message"] for o in data["results"]] == ["check 0"]
    assert data["next"] is None
    assert data["previous"].endswith("?limit=2&offset=2")


def test_unknown_environment_is_a_404_in_the_api_error_shape(client, history):
    response = client.get("/api/v1/projects/demo/environments/staging/observations/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "status": 404,
            "code": "not_found",
            "message": "There is no environment 'staging' in project 'demo'.",
            "fields": {},
        }
    }


@pytest.mark.parametrize("query", ["limit=x", "limit=0", "limit=100000", "offset=-1"])
def test_bad_paging_is_a_400_naming_the_field(client, history, query):
    response = client.get(f"/api/v1/projects/demo/environments/production/observations/?{query}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [query.split("=")[0]]


@pytest.mark.parametrize("query", ["limit=2&limit=3", "offset=%2B1", "limit=%202", "limit=501"])
def test_observations_page_by_the_api_s_one_paging_rule(client, history, query):
    """Given twice, signed or padded, or past the list's ceiling: the client's mistake, as on every list."""
    response = client.get(f"/api/v1/projects/demo/environments/production/observations/?{query}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [query.split("=")[0]]


def test_own_endpoint_serves_the_build_manifest(client, settings, tmp_path):
    manifest = tmp_path / "build.json"
    body = {"artifact_digest": "sha256:" + "cd" * 32, "source_commit": "ef" * 20, "version": "2.0.0"}
    manifest.write_text(json.dumps(body))
    settings.VITRINA_BUILD_MANIFEST = str(manifest)
    selfwatch.running_deployment.cache_clear()
    try:
        response = client.get("/.well-known/vitrina/deployment")
    finally:
        selfwatch.running_deployment.cache_clear()

    assert response.status_code == 200
    assert response.json() == body
    assert response["Cache-Control"] == "no-store"


def test_own_endpoint_refuses_writes(client):
    assert client.post("/.well-known/vitrina/deployment").status_code == 405


def test_source_tree_digest_is_what_find_and_sha256sum_give(tmp_path):
    for name, content in [
        ("portal/a.py", "a"),
        ("portal/sub/b.py", "b"),
        ("portal/__pycache__/a.cpython-312.pyc", "compiled"),
        ("portal/sub/c.pyc", "compiled"),
        ("verifier/Z.py", "z"),
        ("verifier/_x.py", "x"),
        ("other/ignored.py", "ignored"),
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)

    command = (
        "find portal verifier -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort "
        "| xargs -d '\\n' sha256sum | sha256sum"
    )
    by_hand = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, check=True)

    assert selfwatch.source_tree_digest(tmp_path) == "sha256:" + by_hand.stdout.split()[0]

"""GET /api/v1/observer-reports/<id>/bundle: an observer's report as a proof bundle, which the volunteer's
``python -m verifier verify`` (a real subprocess) passes, fails when tampered with, and refuses when
malformed."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from portal.registry import services
from tests.portal import factories
from tests.portal.api.support import error_of
from tests.portal.observers import make_observation, make_observer, signed
from verifier.dsse import envelope_to_json
from verifier.keys import generate_private_key

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def report(db, log_key_file):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    release = factories.make_deployed_release(project, "1.0.0", environment)
    deployment = environment.deployments.get(release=release)
    private_key, observer, _ = make_observer("Lab")
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    recorded = services.record_observer_report(observer, json.dumps(envelope))
    recorded.private_key = private_key
    return recorded


def download(client, report):
    response = client.get(reverse("api:observer-report-bundle", args=[report.pk]))
    assert response.status_code == 200, response.content
    return response


def run_verify(client, tmp_path, document):
    path = tmp_path / "report.bundle.json"
    path.write_text(json.dumps(document) if isinstance(document, dict) else document)
    log_key = client.get("/api/v1/log/").json()["verifier_key"]
    return subprocess.run(
        [sys.executable, "-m", "verifier", "verify", str(path), "--log-key", log_key, "--no-state"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_bundle_url_of_the_post_answer_is_the_route(report):
    assert (
        reverse("api:observer-report-bundle", args=[report.pk])
        == f"/api/v1/observer-reports/{report.pk}/bundle"
    )


def test_a_downloaded_report_bundle_passes_the_verifier(client, report, tmp_path):
    response = download(client, report)
    assert response["Content-Disposition"] == (
        f'attachment; filename="demo-production-observer-report-{report.pk}.bundle.json"'
    )
    document = response.json()
    assert document["envelope"] == report.envelope
    assert document["observer"]["key_id"] == report.observer.key_id
    result = run_verify(client, tmp_path, response.content.decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  observer signature: " in result.stdout
    assert "PASS  observer statement: Lab signed that demo/production was verified" in result.stdout
    assert "PASS  observer inclusion: " in result.stdout


def test_a_removed_observers_earlier_report_still_verifies(client, report, tmp_path):
    services.remove_observer(report.observer)
    result = run_verify(client, tmp_path, download(client, report).json())
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_report_row_edited_behind_the_orms_back_fails(client, report, tmp_path):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_observerreport SET result = 'mismatch' WHERE id = %s", [report.pk])
    result = run_verify(client, tmp_path, download(client, report).json())
    assert result.returncode == 1
    assert "FAIL  observer statement: the report record says result = " in result.stdout
    assert "FAIL  observer log entry: " in result.stdout


def another_envelope(document, report):
    """The same observer's signature over another message: it verifies, but is not the one logged."""
    observation = make_observation(
        report.observer, report.environment, report.deployment, observed_at=report.observed_at, message="x"
    )
    document["envelope"] = envelope_to_json(signed(report.private_key, observation))


def another_key(document, report):
    key = generate_private_key("ed25519").public_key
    document["observer"].update(key_id=key.key_id, public_key_pem=key.pem)


def another_entry(document, report):
    entry = json.loads(base64.b64decode(document["log"]["entry_b64"]))
    entry["result"] = "mismatch"
    document["log"]["entry_b64"] = base64.b64encode(json.dumps(entry).encode()).decode()


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        (another_envelope, "observer statement"),
        (another_key, "observer signature"),
        (another_entry, "observer log entry"),
    ],
)
def test_a_tampered_bundle_fails_naming_the_check(client, report, tmp_path, tamper, check):
    document = download(client, report).json()
    tamper(document, report)
    result = run_verify(client, tmp_path, document)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL  {check}: " in result.stdout
    assert "RESULT: FAILED" in result.stdout


def test_a_malformed_bundle_is_bad_input(client, report, tmp_path):
    document = download(client, report).json()
    del document["observer"]
    result = run_verify(client, tmp_path, document)
    assert result.returncode == 3
    assert "has no 'observer' field" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_report_is_a_404_in_the_error_shape(client, report):
    response = client.get("/api/v1/observer-reports/999/bundle")
    error = error_of(response)
    assert error["status"] == 404 and "observer report 999" in error["message"]

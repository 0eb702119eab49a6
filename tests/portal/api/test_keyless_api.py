"""CI registers a keyless release through POST /api/v1/releases/ with the Sigstore bundle its attestation
step made; its page, its API record and its proof bundle show what the certificate says."""

import json

import pytest
from django.test import Client

from portal.registry import services
from portal.registry.models import Release
from portal.transparency import services as transparency
from tests.conftest import SHARED_TESTDATA
from tests.portal import factories
from tests.portal.api.support import error_of
from verifier.bundle import PASS, SKIP, parse_bundle, verify_bundle

ARTIFACT = SHARED_TESTDATA / "sigstore" / "reusable-workflow-artifact"
RUN = "https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1"
COMMIT = "95baf27389e83e6a5c48f42e190d48d7abcea19e"


class KeylessCI:
    def __init__(self, project):
        self.project = project
        _, self.raw_token = factories.make_token(project)
        self.client = Client()

    def register(self, sigstore_bundle=None, version="0.0.0", **fields):
        if sigstore_bundle is None:
            sigstore_bundle = json.loads(
                factories.sigstore_testdata("reusable-workflow-attestation.sigstore.json")
            )
        body = {"version": version, "sigstore_bundle": sigstore_bundle, **fields}
        return self.client.post(
            "/api/v1/releases/",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.raw_token}",
        )


@pytest.fixture
def keyless(db, log_key_file):
    return KeylessCI(factories.make_keyless_project())


def nothing_written():
    return Release.objects.count() == 0 and factories.sequenced_entries().filter(kind="release").count() == 0


def test_the_github_bundle_registers_shows_on_its_page_and_its_proof_bundle_verifies(keyless, tmp_path):
    response = keyless.register()
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source_commit"] == COMMIT
    assert keyless.register().status_code == 200

    detail = keyless.client.get(f"/api/v1/releases/{body['id']}/").json()
    assert detail["signer_key_id"] is None and detail["envelope"] is None
    assert detail["ci_build_url"] == RUN
    assert detail["keyless"]["source_ref"] == "refs/heads/main"

    page = keyless.client.get(body["url"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Built by the workflow" in page
    assert "attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d" in page
    assert "https://github.com/malancas/attest-demo" in page
    assert COMMIT in page
    assert RUN in page
    assert "https://token.actions.githubusercontent.com" in page
    assert str(Release.objects.get().sigstore_log_index) in page

    download = keyless.client.get(body["bundle_url"])
    assert download.status_code == 200
    bundle = parse_bundle(download.content)
    assert bundle.sigstore_bundle == Release.objects.get().sigstore_bundle
    if not ARTIFACT.is_file():
        factories.sigstore_testdata(ARTIFACT.name)
    log_key = keyless.client.get("/api/v1/log/").json()["verifier_key"]
    results = {r.name: r for r in verify_bundle(bundle, artifact_path=str(ARTIFACT), log_key=log_key)}
    for name in ("signature", "statement", "artifact", "log entry", "project", "checkpoint", "inclusion"):
        assert results[name].status == PASS, results[name]
    assert results["repository"].status == SKIP
    run = transparency.audit()
    assert run.ok, run.message


def test_the_page_speaks_spanish_too(keyless):
    url = keyless.register().json()["url"]
    page = keyless.client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Construida por el workflow" in page
    assert "registrada en el registro de Sigstore con el índice" in page


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        ({"workflow": "https://github.com/malancas/attest-demo/.github/workflows/*"}, "workflow"),
        ({"issuer": "https://gitlab.com"}, "issuer is https://token.actions.githubusercontent.com"),
    ],
    ids=["workflow", "issuer"],
)
def test_a_bundle_under_another_policy_is_a_400_and_nothing_is_written(db, policy, said):
    project = factories.make_keyless_project(trusted=False)
    services.add_identity(project, **{**factories.SIGSTORE_IDENTITY, **policy})
    response = KeylessCI(project).register()
    assert response.status_code == 400
    error = error_of(response)
    assert "sigstore_bundle" in error["fields"]
    assert said in error["message"]
    assert nothing_written()


def test_the_bad_signature_bundle_is_a_400(keyless):
    bad = json.loads(factories.sigstore_testdata("sigstoreBundle-invalid-signature.json"))
    response = keyless.register(bad)
    assert response.status_code == 400
    assert "The Sigstore bundle is refused" in error_of(response)["message"]
    assert nothing_written()


def test_a_project_with_no_identity_is_told_to_add_one(db):
    response = KeylessCI(factories.make_keyless_project(trusted=False)).register()
    assert response.status_code == 400
    assert "manage.py addidentity" in error_of(response)["message"]
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [
        {"version": "1.0.0"},
        {"version": "1.0.0", "envelope": {"payload": ""}, "sigstore_bundle": {}},
        {"version": "1.0.0", "sigstore_bundle": [1, 2]},
        {"version": "1.0.0", "sigstore_bundle": "not json"},
        {"version": "1.0.0", "sigstore_bundle": {"mediaType": 7}},
        {
            "version": "1.0.0",
            "sigstore_bundle": {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"},
        },
    ],
    ids=["neither", "both", "a-list", "not-json", "bad-media-type", "empty-bundle"],
)
def test_malformed_requests_are_a_400_never_a_500(keyless, body):
    response = keyless.client.post(
        "/api/v1/releases/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {keyless.raw_token}",
    )
    assert response.status_code == 400, response.content
    assert error_of(response)["message"]
    assert nothing_written()


def test_a_bundle_larger_than_the_body_cap_is_refused(keyless):
    huge = {"mediaType": "x", "padding": "a" * (300 * 1024)}
    response = keyless.register(huge)
    assert response.status_code in (400, 413)
    assert nothing_written()


def test_the_statement_claims_must_agree(keyless):
    response = keyless.register(source_commit="ab" * 20)
    assert response.status_code == 400
    assert "source_commit" in error_of(response)["fields"]

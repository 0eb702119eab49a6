"""Keyless releases: a real Sigstore bundle made by GitHub Actions, registered under the project's trusted
CI identities (policies on its certificate), refused under any other, and logged; identities logged too."""

import json

import pytest

from portal.registry import services
from portal.registry.models import Release
from portal.registry.services import Refused
from portal.transparency import services as transparency
from tests.portal import factories
from verifier.entries import parse_entry

pytestmark = pytest.mark.django_db

GOOD = "reusable-workflow-attestation.sigstore.json"
BAD_SIGNATURE = "sigstoreBundle-invalid-signature.json"
ARTIFACT_DIGEST = "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25"
COMMIT = "95baf27389e83e6a5c48f42e190d48d7abcea19e"
RUN = "https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1"
SIGNER = (
    "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml"
    "@09b495c3f12c7881b3cc17209a327792065c1a1d"
)


def bundle(name=GOOD):
    return json.loads(factories.sigstore_testdata(name))


def register(project, document=None, version="0.0.0", **claims):
    document = document if document is not None else bundle()
    return services.register_release(project, sigstore_bundle=document, version=version, **claims)


def refusal(project, document=None, **claims):
    """The Refused of registering the bundle, after checking that nothing was written."""
    before = Release.objects.count(), factories.sequenced_entries().filter(kind="release").count()
    with pytest.raises(Refused) as caught:
        register(project, document, **claims)
    assert (Release.objects.count(), factories.sequenced_entries().filter(kind="release").count()) == before
    assert caught.value.status == 400
    return caught.value


def logged(kind, object_id):
    return parse_entry(bytes(factories.sequenced_entries().get(kind=kind, object_id=object_id).entry))


def test_the_github_bundle_registers_under_the_identity_its_readme_describes(log_key_file):
    project = factories.make_keyless_project()
    release, created = register(project)

    assert created
    assert (release.artifact_digest, release.source_commit) == (ARTIFACT_DIGEST, COMMIT)
    assert release.artifact_name == "github_provenance_demo-0.0.0-py3-none-any.whl"
    assert release.repo_url == factories.SIGSTORE_REPOSITORY
    assert release.ci_build_url == RUN
    assert release.certificate_issuer == "https://token.actions.githubusercontent.com"
    assert release.certificate_identity == SIGNER
    assert release.source_ref == "refs/heads/main"
    assert release.is_keyless and release.signer_key is None and release.envelope == ""
    entry = logged("release", release.pk)
    assert entry["envelope_sha256"] is None and entry["signer_key_id"] is None
    assert entry["sigstore_log_index"] == release.sigstore_log_index > 0
    assert entry["sigstore_bundle_sha256"] == release.sigstore_bundle_sha256
    assert (entry["certificate_identity"], entry["source_ref"], entry["ci_build_url"]) == (
        SIGNER,
        "refs/heads/main",
        RUN,
    )
    transparency.integrate()
    run = transparency.audit()
    assert run.ok, run.message


def test_a_keyed_release_entry_has_no_keyless_member(log_key_file):
    project = factories.make_project()
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key)
    entry = logged("release", release.pk)
    assert not {"sigstore_bundle_sha256", "certificate_issuer", "sigstore_log_index"} & set(entry)
    assert not release.is_keyless


def test_the_same_bundle_again_is_the_same_release_and_other_content_is_a_conflict():
    project = factories.make_keyless_project()
    release, _ = register(project)
    again, created = register(project, json.dumps(bundle(), indent=2))
    assert (again, created) == (release, False)

    private_key, _ = factories.make_key(project)
    envelope = factories.make_envelope(private_key, repo_url=project.repo_url)
    with pytest.raises(Refused) as caught:
        services.register_release(project, envelope, version="0.0.0")
    assert caught.value.status == 409
    assert factories.sequenced_entries().filter(kind="release").count() == 1


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        (
            {"repository": "https://github.com/malancas/other"},
            "repository is https://github.com/malancas/attest-demo",
        ),
        ({"issuer": "https://gitlab.com"}, "issuer is https://token.actions.githubusercontent.com"),
        ({"workflow": "https://github.com/malancas/attest-demo/.github/workflows/*"}, "does not match"),
        ({"ref": "refs/tags/v*"}, "ref refs/heads/main does not match refs/tags/v*"),
    ],
    ids=["repository", "issuer", "workflow", "ref"],
)
def test_a_policy_naming_another_repository_issuer_workflow_or_ref_refuses_it(policy, said):
    project = factories.make_keyless_project(trusted=False)
    if "repository" in policy:
        project.repo_url = policy["repository"]
        project.save()
    services.add_identity(project, **{**factories.SIGSTORE_IDENTITY, **policy})
    refused = refusal(project)
    assert refused.field == "sigstore_bundle"
    assert said in refused.message
    assert "matches none of the trusted identities" in refused.message


def test_the_bundle_with_a_bad_signature_is_refused():
    refused = refusal(factories.make_keyless_project(), bundle(BAD_SIGNATURE))
    assert refused.message.startswith("The Sigstore bundle is refused:")


def test_a_bundle_that_is_not_one_is_refused():
    refused = refusal(factories.make_keyless_project(), {"mediaType": "text/plain"})
    assert "mediaType" in refused.message


def test_a_project_that_trusts_no_identity_says_to_add_one():
    project = factories.make_keyless_project(trusted=False)
    refused = refusal(project)
    assert "trusts no CI identity" in refused.message
    assert "manage.py addidentity attest-demo --issuer URL --repository URL" in refused.message


def test_a_removed_identity_no_longer_admits_a_bundle():
    project = factories.make_keyless_project()
    services.remove_identity(project.identities.get())
    assert "trusts no CI identity" in refusal(project).message


def test_a_bundle_built_from_another_repository_than_the_projects_is_refused():
    """The identity trusts the bundle's repository, but the project now names another one."""
    project = factories.make_keyless_project()
    project.repo_url = "https://github.com/city/portal"
    project.save()
    refused = refusal(project)
    assert "issued to a run of 'https://github.com/malancas/attest-demo'" in refused.message
    assert "https://github.com/city/portal" in refused.message


def test_a_claim_the_statement_does_not_bear_out_is_refused():
    refused = refusal(factories.make_keyless_project(), source_commit="ab" * 20)
    assert refused.field == "source_commit"


def test_evidence_is_exactly_one_of_an_envelope_and_a_sigstore_bundle():
    project = factories.make_keyless_project()
    with pytest.raises(Refused, match="exactly one of envelope"):
        services.register_release(project, {"payload": ""}, sigstore_bundle=bundle(), version="1")
    with pytest.raises(Refused, match="exactly one of envelope"):
        services.register_release(project, version="1")


def test_adding_and_removing_an_identity_is_logged_and_audited(log_key_file):
    project = factories.make_keyless_project()
    identity = project.identities.get()
    assert services.add_identity(project, **factories.SIGSTORE_IDENTITY) == (identity, False)
    added = logged("identity_added", identity.pk)
    assert {name: added[name] for name in ("project", "identity_id", "issuer", "workflow", "ref")} == {
        "project": "attest-demo",
        "identity_id": identity.pk,
        "issuer": "https://token.actions.githubusercontent.com",
        "workflow": factories.SIGSTORE_IDENTITY["workflow"],
        "ref": "refs/heads/main",
    }
    assert added["by"] == {"kind": "system", "name": "vitrina"}
    services.remove_identity(identity)
    removed = logged("identity_removed", identity.pk)
    assert removed["removed_at"] is not None
    transparency.integrate()
    run = transparency.audit()
    assert run.ok, run.message
    assert "CI identities: 1" in run.message


def test_an_identity_edited_behind_the_applications_back_fails_the_audit(log_key_file):
    project = factories.make_keyless_project()
    project.identities.update(workflow="*")
    transparency.integrate()
    run = transparency.audit()
    assert not run.ok
    assert "CI identity" in run.message and "workflow" in run.message


def test_an_identity_must_name_the_projects_repository_and_an_https_issuer():
    project = factories.make_keyless_project(trusted=False)
    with pytest.raises(Refused, match="not the repository of project 'attest-demo'"):
        services.add_identity(project, issuer="https://token.actions.githubusercontent.com", repository="x")
    with pytest.raises(Refused, match="https:// URL"):
        services.add_identity(project, issuer="github", repository=factories.SIGSTORE_REPOSITORY)


def test_addidentity_trusts_an_identity_once_and_refuses_another_repository(log_key_file):
    from io import StringIO

    from django.core.management import CommandError, call_command

    project = factories.make_keyless_project(trusted=False)
    args = ["addidentity", "attest-demo", "--issuer", factories.SIGSTORE_IDENTITY["issuer"]]
    out = StringIO()
    call_command(*args, "--repository", factories.SIGSTORE_REPOSITORY, "--ref", "refs/heads/main", stdout=out)
    identity = project.identities.get()
    assert out.getvalue().strip() == str(identity.pk)
    assert identity.ref == "refs/heads/main" and identity.workflow == ""
    call_command(*args, "--repository", factories.SIGSTORE_REPOSITORY, "--ref", "refs/heads/main", stdout=out)
    assert project.identities.count() == 1
    assert factories.sequenced_entries().filter(kind="identity_added").count() == 1
    with pytest.raises(CommandError, match="not the repository of project"):
        call_command(*args, "--repository", "https://github.com/other/repo")
    release, _ = register(project)
    assert release.is_keyless

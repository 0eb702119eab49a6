"""The registration rules, through the service functions the API, the admin and the commands share."""

import base64
import datetime
import json

import pytest
from django.utils import timezone

from portal.registry import services
from portal.registry.models import ApiToken, Deployment, Release
from portal.registry.services import Refused
from tests.portal import factories
from verifier import dsse, statement
from verifier.digest import sha256_bytes
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return factories.make_project("city-portal")


@pytest.fixture
def signer(project):
    private_key, _ = factories.make_key(project)
    return private_key


def refusal(project, envelope, version="1.0.0", **claims):
    """The Refused raised by registering ``envelope``, after checking that nothing was written."""
    before = Release.objects.count(), factories.sequenced_entries().count()
    with pytest.raises(Refused) as caught:
        services.register_release(project, envelope, version=version, **claims)
    assert (Release.objects.count(), factories.sequenced_entries().count()) == before
    return caught.value


def changed_byte(text, position):
    raw = bytearray(base64.b64decode(text))
    raw[position] ^= 0x80
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_every_changed_byte_of_the_signature_is_refused(project, algorithm):
    private_key, _ = factories.make_key(project, algorithm)
    envelope = factories.make_envelope(private_key, repo_url=project.repo_url)
    sig = envelope["signatures"][0]["sig"]

    for position in range(len(base64.b64decode(sig))):
        tampered = {**envelope, "signatures": [{"sig": changed_byte(sig, position)}]}
        error = refusal(project, tampered)
        assert error.field == "envelope" and "does not verify" in error.message, position


def test_a_changed_byte_anywhere_in_the_payload_is_refused(project, signer):
    envelope = factories.make_envelope(signer, repo_url=project.repo_url)
    size = len(base64.b64decode(envelope["payload"]))
    positions = sorted({0, size - 1, *range(0, size, max(1, size // 50))})

    for position in positions:
        tampered = {**envelope, "payload": changed_byte(envelope["payload"], position)}
        error = refusal(project, tampered)
        assert "does not verify" in error.message, position


def test_the_untampered_envelope_is_accepted(project, signer):
    """The control for the two tests above: the same envelope, unchanged, registers."""
    release, created = services.register_release(
        project, factories.make_envelope(signer, repo_url=project.repo_url), version="1.0.0"
    )

    assert created and release.version == "1.0.0"


def test_refusal_lists_the_trusted_keys_it_tried(project):
    first, first_key = factories.make_key(project)
    _, second_key = factories.make_key(project, "ecdsa-p256")
    stranger, _ = factories.make_key(factories.make_project("other"))

    error = refusal(project, factories.make_envelope(stranger))

    assert error.status == 400
    assert f"keys: {first_key.short_id}…, {second_key.short_id}…" in error.message


def test_project_without_keys_refuses_every_release(project):
    stranger, _ = factories.make_key(factories.make_project("other"))

    error = refusal(project, factories.make_envelope(stranger))

    assert "(keys: none)" in error.message


def test_keyid_in_the_envelope_plays_no_part(project, signer):
    envelope = factories.make_envelope(signer, repo_url=project.repo_url)
    envelope["signatures"][0]["keyid"] = "0" * 64

    release, created = services.register_release(project, envelope, version="1.0.0")

    assert created


def test_revoking_a_key_refuses_later_releases_and_keeps_earlier_ones(project, signer):
    release = factories.make_release(project, signer, "1.0.0")

    services.revoke_signing_key(release.signer_key)

    assert (
        "was revoked at"
        in refusal(project, factories.make_envelope(signer, repo_url=project.repo_url), "1.1.0").message
    )
    assert Release.objects.get(pk=release.pk).signer_key.revoked_at is not None


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "phrase"),
    [
        (-30, -1, "expired at"),
        (1, None, "is valid only from"),
    ],
)
def test_key_outside_its_validity_is_refused(project, valid_from, valid_until, phrase):
    now = timezone.now()
    private_key, _ = factories.make_key(
        project,
        valid_from=now + datetime.timedelta(days=valid_from),
        valid_until=now + datetime.timedelta(days=valid_until) if valid_until else None,
    )

    assert phrase in refusal(project, factories.make_envelope(private_key, repo_url=project.repo_url)).message


def test_statement_rules(project, signer):
    def envelope_with(change):
        doc = statement.build_statement(
            artifact_name="a",
            artifact_digest=sha256_bytes(b"a"),
            repo_uri="https://x.example/r.git",
            commit="a" * 40,
        )
        change(doc)
        return dsse.sign_envelope(statement.statement_to_payload(doc), signer)

    assert "Statement v1" in refusal(project, envelope_with(lambda d: d.update(_type="x"))).message
    assert "provenance v1" in refusal(project, envelope_with(lambda d: d.update(predicateType="x"))).message
    assert "sha256" in refusal(project, envelope_with(lambda d: d.update(subject=[]))).message
    no_commit = envelope_with(lambda d: d["predicate"]["buildDefinition"].update(resolvedDependencies=[]))
    assert "no source commit" in refusal(project, no_commit).message


def test_version_must_be_one_url_path_segment(project, signer):
    """Regression: 'feature/x' was stored, then the release's page URL could not be built (a 500)."""
    for version in ["feature/x", "..", "1.0 beta", "-1", ""]:
        assert (
            refusal(project, factories.make_envelope(signer, repo_url=project.repo_url), version).field
            == "version"
        )
    for version in ["1.0.0", "v2.1.0-rc.1+build.7", "2026.03.01~1"]:
        services.register_release(
            project,
            factories.make_envelope(signer, artifact=version.encode(), repo_url=project.repo_url),
            version=version,
        )


def test_registration_is_idempotent_and_a_version_never_changes(project, signer):
    envelope = factories.make_envelope(signer, artifact=b"one", repo_url=project.repo_url)
    first, created = services.register_release(project, envelope, version="1.0.0")
    again, created_again = services.register_release(project, envelope, version="1.0.0")

    assert (created, created_again) == (True, False)
    assert again == first
    with pytest.raises(Refused) as conflict:
        services.register_release(
            project,
            factories.make_envelope(signer, artifact=b"two", repo_url=project.repo_url),
            version="1.0.0",
        )
    assert conflict.value.status == 409
    assert factories.sequenced_entries().filter(kind="release").count() == 1


def test_the_same_envelope_as_json_text_in_any_layout_is_the_same_release(project, signer):
    envelope = factories.make_envelope(signer, repo_url=project.repo_url)
    first, _ = services.register_release(project, envelope, version="1.0.0")
    reordered = {key: envelope[key] for key in reversed(list(envelope))}

    for again in [
        dsse.envelope_to_json(envelope),
        json.dumps(envelope, indent=2),
        json.dumps(reordered),
        reordered,
    ]:
        assert services.register_release(project, again, version="1.0.0") == (first, False)
    assert factories.sequenced_entries().filter(kind="release").count() == 1


def test_statement_naming_another_repository_than_the_projects_is_refused(project, signer):
    envelope = factories.make_envelope(signer, repo_url="https://git.example.org/fork.git")

    error = refusal(project, envelope)

    assert error.field == "envelope"
    assert "'https://git.example.org/fork.git'" in error.message
    assert f"'{project.repo_url}'" in error.message and "'.git'" in error.message


@pytest.mark.parametrize(
    "spelling",
    [
        "https://git.example.org/city-portal",
        "https://git.example.org/city-portal/",
        "https://git.example.org/city-portal.git/",
        "git+https://git.example.org/city-portal.git",
    ],
)
def test_statement_may_spell_the_projects_repository_with_or_without_git_and_slash(project, signer, spelling):
    envelope = factories.make_envelope(signer, repo_url=spelling)

    release, created = services.register_release(project, envelope, version="1.0.0")

    assert created and release.repo_url == spelling


def test_release_records_the_signed_facts_not_the_claims(project, signer):
    envelope = factories.make_envelope(signer, artifact=b"a", commit="c" * 40, repo_url=project.repo_url)

    release, _ = services.register_release(
        project, envelope, version="1.0.0", artifact_digest=sha256_bytes(b"a")
    )

    assert (release.artifact_digest, release.source_commit, release.repo_url) == (
        sha256_bytes(b"a"),
        "c" * 40,
        project.repo_url,
    )
    with pytest.raises(Refused) as caught:
        services.register_release(project, envelope, version="1.0.1", source_commit="d" * 40)
    assert caught.value.field == "source_commit"


def test_deployment_rules(project, signer):
    environment = factories.make_environment(project)
    release = factories.make_release(project, signer, "1.0.0")
    other = factories.make_project("other")
    other_key, _ = factories.make_key(other)
    foreign = factories.make_release(other, other_key, "1.0.0")

    assert services.find_release(project, "1.0.0") == release
    assert services.find_release(project, release.artifact_digest) == release
    for ref, status in [("2.0.0", 404), ("sha256:" + "0" * 64, 404), ("sha256:zz", 400), ("", 400)]:
        with pytest.raises(Refused) as caught:
            services.find_release(project, ref)
        assert caught.value.status == status, ref
    with pytest.raises(Refused, match="another project"):
        services.record_deployment(environment, foreign)
    with pytest.raises(Refused, match="future"):
        services.record_deployment(
            environment, release, deployed_at=timezone.now() + datetime.timedelta(minutes=1)
        )
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "deployed_at",
    [
        datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(1999, 12, 31, 23, 59, tzinfo=datetime.UTC),
    ],
)
def test_deployment_dated_before_2000_is_refused(project, signer, deployed_at):
    environment = factories.make_environment(project)
    release = factories.make_release(project, signer, "1.0.0")

    with pytest.raises(Refused) as caught:
        services.record_deployment(environment, release, deployed_at=deployed_at)

    assert caught.value.field == "deployed_at" and "2000-01-01" in caught.value.message
    assert not Deployment.objects.exists()
    deployment = services.record_deployment(
        environment, release, deployed_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    )
    assert deployment.deployed_at.year == 2000


def test_lookups_and_token_scope(project):
    factories.make_environment(project, "staging")
    token, _ = ApiToken.issue(factories.make_project("other"), "ci")

    assert services.get_project("city-portal") == project
    assert services.get_environment(project, "staging").name == "staging"
    with pytest.raises(Refused) as unknown:
        services.get_project("atlantis")
    assert (unknown.value.status, unknown.value.message) == (404, "There is no project 'atlantis'.")
    with pytest.raises(Refused) as scope:
        services.check_token_scope(token, project)
    assert (scope.value.status, scope.value.field) == (403, "project")


def test_keys_are_added_once_and_revoked_once_each_in_the_log(project):
    private_key = generate_private_key("ed25519")

    key, created = services.add_signing_key(project, private_key.public_key.pem, label="ci")
    same, created_again = services.add_signing_key(project, private_key.public_key.pem)
    services.revoke_signing_key(key)
    services.revoke_signing_key(key)

    assert (created, created_again, same) == (True, False, key)
    assert factories.sequenced_entries().filter(kind="key_added", object_id=key.pk).count() == 1
    assert factories.sequenced_entries().filter(kind="key_revoked", object_id=key.pk).count() == 1
    with pytest.raises(Refused) as caught:
        services.add_signing_key(project, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    assert caught.value.field == "public_key_pem"

"""CI registers a signed release through POST /api/v1/releases/."""

import base64
import datetime
import json

import pytest
from django.utils import timezone

from portal.registry import services
from portal.registry.models import Release
from tests.portal import factories
from tests.portal.api.support import error_of
from verifier import dsse, statement
from verifier.digest import sha256_bytes
from verifier.keys import generate_private_key

COMMIT = "ab" * 20


def nothing_written():
    return Release.objects.count() == 0 and factories.sequenced_entries().filter(kind="release").count() == 0


def signed(private_key, doc, payload_type=dsse.PAYLOAD_TYPE_IN_TOTO):
    return dsse.sign_envelope(statement.statement_to_payload(doc), private_key, payload_type=payload_type)


def good_statement(ci):
    return statement.build_statement(
        artifact_name="portal.tar.gz",
        artifact_digest=sha256_bytes(b"portal"),
        repo_uri=ci.project.repo_url,
        commit=COMMIT,
        ci_build_url="https://ci.example.org/runs/7",
    )


def test_signed_ed25519_release_is_registered_with_its_log_entry(ci):
    response = ci.register(ci.envelope(artifact=b"portal 1.0", commit=COMMIT), version="1.0.0")

    assert response.status_code == 201
    body = response.json()
    release = Release.objects.get()
    entry = factories.sequenced_entries().get(kind="release", object_id=release.pk)
    assert body == {
        "id": release.pk,
        "project": "city-portal",
        "version": "1.0.0",
        "artifact_digest": sha256_bytes(b"portal 1.0"),
        "source_commit": COMMIT,
        "url": "http://testserver/p/city-portal/releases/1.0.0/",
        "bundle_url": f"/api/v1/releases/{release.pk}/bundle",
        "log_index": entry.index,
    }
    assert release.signer_key == ci.signing_key
    assert release.registered_by_token.project == ci.project
    assert release.repo_url == ci.project.repo_url
    assert release.ci_build_url == "https://ci.example.org/runs/1"


def test_signed_ecdsa_release_is_registered(ci):
    ecdsa_key, ecdsa_signing_key = factories.make_key(ci.project, "ecdsa-p256")
    envelope = factories.make_envelope(ecdsa_key, repo_url=ci.project.repo_url)

    response = ci.register(envelope, version="2.0.0")

    assert response.status_code == 201
    release = Release.objects.get(pk=response.json()["id"])
    assert release.signer_key == ecdsa_signing_key
    assert release.signer_key.algorithm == "ecdsa-p256"


def test_envelope_may_be_sent_as_json_text(ci):
    text = dsse.envelope_to_json(ci.envelope())

    response = ci.register(text, version="1.0.0")

    assert response.status_code == 201
    assert Release.objects.get().envelope == text


def test_project_named_in_the_body_must_be_the_tokens(ci):
    assert ci.register(project="city-portal").status_code == 201


def test_posting_the_same_envelope_again_returns_the_same_release(ci):
    envelope = ci.envelope()
    first = ci.register(envelope, version="1.0.0")

    again = ci.register(envelope, version="1.0.0")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Release.objects.count() == 1
    assert factories.sequenced_entries().filter(kind="release").count() == 1


def test_the_same_envelope_posted_again_as_json_text_returns_the_same_release(ci):
    envelope = ci.envelope()
    first = ci.register(envelope, version="1.0.0")

    again = ci.register(json.dumps(envelope, indent=2), version="1.0.0")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert factories.sequenced_entries().filter(kind="release").count() == 1


def test_statement_naming_another_repository_is_refused(ci):
    response = ci.register(ci.envelope(repo_url="https://git.example.org/someone-else.git"))

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["envelope"]
    assert "someone-else.git" in error["message"] and ci.project.repo_url in error["message"]
    assert nothing_written()


def test_same_version_with_other_content_is_a_conflict(ci):
    ci.register(ci.envelope(artifact=b"first build"), version="1.0.0")

    response = ci.register(ci.envelope(artifact=b"second build"), version="1.0.0")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "1.0.0" in error["message"] and sha256_bytes(b"first build") in error["message"]
    assert list(error["fields"]) == ["version"]
    assert Release.objects.get().artifact_digest == sha256_bytes(b"first build")
    assert factories.sequenced_entries().filter(kind="release").count() == 1


def test_top_level_fields_that_agree_with_the_statement_are_accepted(ci):
    envelope = ci.envelope(artifact=b"x", commit=COMMIT)

    response = ci.register(
        envelope, artifact_digest=sha256_bytes(b"x"), source_commit=COMMIT, repo_url=ci.project.repo_url
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("field", "claimed"),
    [
        ("artifact_digest", sha256_bytes(b"something else")),
        ("source_commit", "cd" * 20),
        ("repo_url", "https://git.example.org/fork.git"),
        ("ci_build_url", "https://ci.example.org/runs/999"),
    ],
)
def test_top_level_field_disagreeing_with_the_statement_is_refused(ci, field, claimed):
    response = ci.register(ci.envelope(artifact=b"x", commit=COMMIT), **{field: claimed})

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == [field]
    assert claimed in error["message"] and "signed statement" in error["message"]
    assert nothing_written()


def test_signature_by_a_key_the_project_does_not_trust_is_refused(ci):
    stranger = generate_private_key("ed25519")

    response = ci.register(factories.make_envelope(stranger))

    error = error_of(response)
    assert response.status_code == 400
    assert error["fields"] == {"envelope": [error["message"]]}
    assert "does not verify under any trusted key of project 'city-portal'" in error["message"]
    assert ci.signing_key.short_id in error["message"]
    assert nothing_written()


def test_signature_by_a_revoked_key_is_refused(ci):
    revoked_key, signing_key = factories.make_key(ci.project)
    services.revoke_signing_key(signing_key)

    response = ci.register(factories.make_envelope(revoked_key))

    assert response.status_code == 400
    assert "was revoked" in error_of(response)["message"]
    assert nothing_written()


def test_signature_by_an_expired_key_is_refused(ci):
    now = timezone.now()
    expired_key, _ = factories.make_key(
        ci.project, valid_from=now - datetime.timedelta(days=30), valid_until=now - datetime.timedelta(days=1)
    )

    response = ci.register(factories.make_envelope(expired_key))

    assert response.status_code == 400
    assert "expired" in error_of(response)["message"]
    assert nothing_written()


def test_signature_by_a_key_not_yet_valid_is_refused(ci):
    future_key, _ = factories.make_key(ci.project, valid_from=timezone.now() + datetime.timedelta(days=1))

    response = ci.register(factories.make_envelope(future_key))

    assert response.status_code == 400
    assert "valid only from" in error_of(response)["message"]
    assert nothing_written()


def test_payload_that_is_not_an_in_toto_statement_v1_is_refused(ci):
    doc = good_statement(ci)
    doc["_type"] = "https://in-toto.io/Statement/v0.1"

    response = ci.register(signed(ci.private_key, doc))

    assert response.status_code == 400
    assert "Statement v1" in error_of(response)["message"]
    assert nothing_written()


def test_statement_without_a_sha256_subject_is_refused(ci):
    doc = good_statement(ci)
    doc["subject"] = [{"name": "portal.tar.gz", "digest": {"sha512": "00" * 64}}]

    response = ci.register(signed(ci.private_key, doc))

    assert response.status_code == 400
    assert "no subject with a sha256 digest" in error_of(response)["message"]
    assert nothing_written()


def test_statement_without_a_source_commit_is_refused(ci):
    doc = good_statement(ci)
    doc["predicate"]["buildDefinition"]["resolvedDependencies"] = [{"uri": ci.project.repo_url}]

    response = ci.register(signed(ci.private_key, doc))

    assert response.status_code == 400
    assert "no source commit" in error_of(response)["message"]
    assert nothing_written()


def test_payload_type_other_than_in_toto_is_refused(ci):
    response = ci.register(signed(ci.private_key, good_statement(ci), payload_type="application/json"))

    assert response.status_code == 400
    assert "payloadType must be application/vnd.in-toto+json" in error_of(response)["message"]
    assert nothing_written()


def flipped(text, position):
    """The base64 text of ``text``'s decoded bytes with one byte changed at ``position``."""
    raw = bytearray(base64.b64decode(text))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("where", ["payload:0", "payload:middle", "payload:last", "sig:0", "sig:last"])
def test_one_changed_byte_in_payload_or_signature_is_refused(ci, where):
    envelope = ci.envelope()
    part, spot = where.split(":")
    text = envelope["payload"] if part == "payload" else envelope["signatures"][0]["sig"]
    size = len(base64.b64decode(text))
    position = {"0": 0, "middle": size // 2, "last": size - 1}[spot]
    if part == "payload":
        envelope["payload"] = flipped(text, position)
    else:
        envelope["signatures"][0]["sig"] = flipped(text, position)

    response = ci.register(envelope)

    assert response.status_code == 400
    assert "does not verify" in error_of(response)["message"]
    assert nothing_written()


def test_stored_envelope_is_the_one_received(ci):
    envelope = ci.envelope()

    ci.register(envelope)

    assert json.loads(Release.objects.get().envelope) == envelope

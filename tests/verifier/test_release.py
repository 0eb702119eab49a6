"""The one check of a release's evidence, as the portal runs it at registration and in every check, and a
volunteer runs it on a bundle: envelope + trusted keys + the record's claims -> the signed facts, or a typed
error carrying its evidence."""

import datetime

import pytest

from tests.verifier.factories import (
    ARTIFACT_DIGEST,
    CI_BUILD_URL,
    COMMIT,
    REPO_URI,
    key_pair,
    signed_envelope,
)
from verifier.dsse import envelope_to_json
from verifier.errors import ClaimMismatch, FormatError, StatementError, UntrustedSigner
from verifier.release import Claims, TrustedKey, check_release

NOON = datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def trusted(pair, **window):
    return TrustedKey(key_id=pair.key_id, public_key_pem=pair.public_pem, **window)


RECORD = Claims(
    artifact_digest=ARTIFACT_DIGEST, source_commit=COMMIT, repo_url=REPO_URI, ci_build_url=CI_BUILD_URL
)


def test_a_release_whose_record_agrees_with_its_signed_statement_passes_and_names_its_signer():
    pair, other = key_pair(), key_pair("ecdsa-p256")

    checked = check_release(
        envelope_to_json(signed_envelope(pair)), [trusted(other), trusted(pair)], at=NOON, claims=RECORD
    )

    assert checked.signer == trusted(pair)
    assert (checked.statement.artifact_digest, checked.statement.source_commit) == (ARTIFACT_DIGEST, COMMIT)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("artifact_digest", "sha256:" + "0" * 64),
        ("source_commit", "f" * 40),
        ("repo_url", "https://git.example.org/fork.git"),
        ("ci_build_url", "https://ci.example.org/other/1"),
        ("repo_url", ""),
    ],
)
def test_a_record_field_the_statement_contradicts_is_a_claim_mismatch_with_both_values(field, value):
    pair = key_pair()
    claims = Claims(**{**RECORD.__dict__, field: value})

    with pytest.raises(ClaimMismatch) as caught:
        check_release(signed_envelope(pair), [trusted(pair)], at=NOON, claims=claims)

    assert (caught.value.field, caught.value.claimed) == (field, value)
    assert "signed statement" in str(caught.value)


def test_fields_a_registration_leaves_out_are_not_compared():
    pair = key_pair()

    assert check_release(signed_envelope(pair), [trusted(pair)], at=NOON, claims=Claims(ci_build_url=""))


def test_a_key_revoked_before_the_moment_is_named_with_why():
    pair = key_pair()

    with pytest.raises(UntrustedSigner) as caught:
        check_release(signed_envelope(pair), [trusted(pair, revoked_at=NOON - DAY)], at=NOON)

    assert (caught.value.untrusted, caught.value.tried) == (pair.key_id, ())
    assert "was revoked at 2025-05-31 12:00 UTC" in caught.value.refusal


def test_a_key_trusted_at_the_moment_still_signs_after_its_later_revocation():
    pair = key_pair()

    assert check_release(signed_envelope(pair), [trusted(pair, revoked_at=NOON + DAY)], at=NOON)


def test_a_stranger_signature_lists_the_keys_tried():
    pair, stranger = key_pair(), key_pair()

    with pytest.raises(UntrustedSigner) as caught:
        check_release(signed_envelope(stranger), [trusted(pair)], at=NOON)

    assert caught.value.tried == (pair.key_id,) and caught.value.untrusted is None
    assert f"(keys: {pair.key_id[:16]}…)" in str(caught.value)


def test_the_signer_the_record_names_must_be_the_one_that_verifies():
    pair, other = key_pair(), key_pair()

    with pytest.raises(ClaimMismatch) as caught:
        check_release(
            signed_envelope(pair), [trusted(pair), trusted(other)], claims=Claims(signer_key_id=other.key_id)
        )

    assert (caught.value.field, caught.value.signed) == ("signer_key_id", pair.key_id)


def test_a_trusted_key_whose_pem_is_another_key_is_refused():
    pair, other = key_pair(), key_pair()

    with pytest.raises(FormatError, match="its PEM is key"):
        check_release(
            signed_envelope(pair), [TrustedKey(key_id=pair.key_id, public_key_pem=other.public_pem)]
        )


def test_another_payload_type_is_a_format_error_before_any_key_is_tried():
    pair = key_pair()
    envelope = {**signed_envelope(pair), "payloadType": "text/plain"}

    with pytest.raises(FormatError, match="payloadType must be application/vnd.in-toto"):
        check_release(envelope, [])


def test_a_signed_payload_that_is_no_statement_is_a_statement_error():
    from verifier.dsse import sign_envelope

    pair = key_pair()

    with pytest.raises(StatementError):
        check_release(sign_envelope(b'{"_type": "x"}', pair.private_key), [trusted(pair)])


COMPONENTS = [("web", "sha256:" + "1" * 64), ("static", "sha512:" + "3" * 128)]
RECORDED_COMPONENTS = [
    {"name": "web", "digest": {"sha256": "1" * 64}},
    {"name": "static", "digest": {"sha512": "3" * 128}},
]


def test_a_record_of_several_components_must_name_every_signed_component():
    pair = key_pair()
    envelope = signed_envelope(pair, components=COMPONENTS)
    record = Claims(source_commit=COMMIT, repo_url=REPO_URI, components=RECORDED_COMPONENTS)

    checked = check_release(envelope, [trusted(pair)], at=NOON, claims=record)
    assert [c.name for c in checked.statement.components] == ["web", "static"]

    for wrong in (RECORDED_COMPONENTS[:1], [RECORDED_COMPONENTS[1], RECORDED_COMPONENTS[0]], []):
        with pytest.raises(ClaimMismatch, match="components") as caught:
            check_release(envelope, [trusted(pair)], at=NOON, claims=Claims(components=wrong))
        assert caught.value.field == "components"


def test_a_one_artifact_release_records_no_components():
    pair = key_pair()
    check_release(signed_envelope(pair), [trusted(pair)], at=NOON, claims=Claims(components=[]))
    with pytest.raises(ClaimMismatch):
        check_release(
            signed_envelope(pair), [trusted(pair)], at=NOON, claims=Claims(components=RECORDED_COMPONENTS)
        )

"""The signed observation format: building, signing, verifying under the observer's key, strict parsing."""

import base64
import datetime
import hashlib
import json

import pytest

from tests.verifier.factories import key_pair, random_digest
from verifier import observation as ob
from verifier.dsse import parse_envelope, sign_envelope
from verifier.errors import FormatError, SignatureError, StatementError
from verifier.reasons import Reason, Result
from verifier.statement import statement_to_payload

OBSERVED_AT = datetime.datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=datetime.UTC)
EXPECTED = random_digest()


def observation(**changes):
    values = {
        "portal": "https://vitrina.example.org",
        "project": "demo",
        "environment": "production",
        "observer": "civic-lab",
        "observed_at": OBSERVED_AT,
        "deployment_id": 12,
        "release_id": 7,
        "expected_digest": EXPECTED,
        "live_url": "https://demo.example.org/.well-known/vitrina",
        "live_digest": EXPECTED,
        "live_components": None,
        "served_files": ob.ServedFilesSeen(
            result=Result.MISMATCH,
            reason=Reason.SERVED_FILE_MISMATCH,
            message="/static/app.js differs",
            checked=3,
            matched=2,
            inline_scripts=1,
            inline_declared=1,
            problems=(ob.ServedProblemSeen(Reason.SERVED_FILE_MISMATCH, "/static/app.js", EXPECTED, None),),
        ),
        "result": Result.VERIFIED,
        "reason": None,
        "message": "the live endpoint reports the deployed release",
    }
    values.update(changes)
    return ob.Observation(**values)


def predicate_payload(**changes):
    """The payload of a good observation with predicate members replaced (or removed, for ``...``)."""
    statement = ob.build_observation(observation())
    for name, value in changes.items():
        if value is ...:
            del statement["predicate"][name]
        else:
            statement["predicate"][name] = value
    return statement_to_payload(statement)


def test_a_signed_observation_verifies_and_reads_back_as_built():
    pair = key_pair()
    envelope = ob.sign_observation(observation(), pair.private_key)
    read = ob.verify_observation(json.dumps(envelope), pair.public_key)
    assert read == observation()
    assert read.raw["subject"] == [{"name": "demo/production", "digest": {"sha256": EXPECTED[7:]}}]
    assert read.raw["predicate"]["observed_at"] == "2026-12-02T10:00:00.123456Z"


def test_an_ecdsa_observer_key_works_too():
    pair = key_pair("ecdsa-p256")
    envelope = ob.sign_observation(observation(), pair.private_key)
    assert ob.verify_observation(envelope, pair.public_key).observer == "civic-lab"


def test_an_observation_signed_by_another_key_is_refused():
    envelope = ob.sign_observation(observation(), key_pair().private_key)
    with pytest.raises(SignatureError):
        ob.verify_observation(envelope, key_pair().public_key)


def test_an_edited_payload_no_longer_verifies():
    pair = key_pair()
    envelope = ob.sign_observation(observation(), pair.private_key)
    edited = parse_envelope(envelope).payload.replace(b'"civic-lab"', b'"other-lab"')
    forged = dict(envelope, payload=base64.b64encode(edited).decode())
    with pytest.raises(SignatureError):
        ob.verify_observation(forged, pair.public_key)


def test_without_a_deployment_the_subject_carries_the_sha256_of_the_empty_string():
    obs = observation(
        deployment_id=None,
        release_id=None,
        expected_digest="",
        live_digest=None,
        result=Result.UNVERIFIABLE,
        reason=Reason.NO_DEPLOYMENT,
    )
    statement = ob.build_observation(obs)
    assert statement["subject"][0]["digest"] == {"sha256": hashlib.sha256(b"").hexdigest()}
    read = ob.parse_observation(statement_to_payload(statement))
    assert (read.deployment_id, read.expected_digest, read.reason) == (None, "", Reason.NO_DEPLOYMENT)


def test_build_refuses_what_parse_would_refuse():
    with pytest.raises(FormatError, match="reason"):
        ob.build_observation(observation(result=Result.MISMATCH, reason=None))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"observer": ...}, "predicate has no observer"),
        ({"extra": 1}, "'extra'"),
        ({"project": ""}, "predicate.project"),
        ({"observed_at": "2026-12-02T10:00:00Z"}, "predicate.observed_at"),
        ({"observed_at": "2026-13-02T10:00:00.000000Z"}, "predicate.observed_at"),
        ({"deployment_id": "12"}, "predicate.deployment_id"),
        ({"deployment_id": True}, "predicate.deployment_id"),
        ({"deployment_id": None}, "all set"),
        ({"expected_digest": "sha256:ABC"}, "predicate.expected_digest"),
        ({"live_digest": "sha1:00"}, "predicate.live_digest"),
        ({"live_components": {"web": "md5:00"}}, "live_components"),
        ({"result": "unchecked"}, "predicate.result"),
        ({"reason": "wrong_release"}, "not a reason for the result 'verified'"),
        ({"reason": "made_up"}, "predicate.reason"),
        ({"message": "x" * 2001}, "predicate.message"),
        ({"served_files": {"result": "verified"}}, "predicate.served_files has no"),
        ({"served_files": []}, "predicate.served_files"),
    ],
)
def test_a_malformed_predicate_is_refused_naming_the_member(changes, named):
    with pytest.raises(StatementError, match=named.replace("(", r"\(").replace(")", r"\)")):
        ob.parse_observation(predicate_payload(**changes))


def test_more_than_twenty_served_file_problems_are_refused():
    served = observation().served_files.to_json()
    served["problems"] = served["problems"] * 21
    with pytest.raises(StatementError, match="at most 20"):
        ob.parse_observation(predicate_payload(served_files=served))


def test_more_files_matched_than_checked_is_refused():
    served = dict(observation().served_files.to_json(), matched=4)
    with pytest.raises(StatementError, match="more than checked"):
        ob.parse_observation(predicate_payload(served_files=served))


@pytest.mark.parametrize(
    "subject",
    [
        [],
        [{"name": "demo/staging", "digest": {"sha256": EXPECTED[7:]}}],
        [{"name": "demo/production", "digest": {"sha256": random_digest()[7:]}}],
        [{"name": "demo/production", "digest": {"sha256": EXPECTED[7:]}}] * 2,
    ],
)
def test_a_subject_other_than_the_observed_environment_and_expected_digest_is_refused(subject):
    statement = ob.build_observation(observation())
    statement["subject"] = subject
    with pytest.raises(StatementError, match="subject"):
        ob.parse_observation(statement_to_payload(statement))


@pytest.mark.parametrize(
    ("name", "value"),
    [("_type", "https://in-toto.io/Statement/v0.1"), ("predicateType", "https://slsa.dev/provenance/v1")],
)
def test_another_statement_type_or_predicate_is_refused(name, value):
    statement = ob.build_observation(observation())
    statement[name] = value
    with pytest.raises(StatementError, match=name):
        ob.parse_observation(statement_to_payload(statement))


def test_a_payload_that_is_not_json_is_a_statement_error():
    pair = key_pair()
    envelope = sign_envelope(b"not json", pair.private_key)
    with pytest.raises(StatementError, match="not an observation"):
        ob.verify_observation(envelope, pair.public_key)

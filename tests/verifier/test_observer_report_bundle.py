"""An observer's report carried in a proof bundle: its envelope verifies under the observer's key and says
what the record says, the record is logged; a changed record, envelope, key or entry fails the check that
guards it, and a malformed bundle is refused."""

import copy
import datetime
import hashlib

import pytest

from tests.verifier.factories import key_pair
from tests.verifier.test_bundle import PROJECT, encode, failed, log, log_entry, statuses, verify  # noqa: F401
from verifier.bundle import FAIL, PASS, SKIP, parse_bundle
from verifier.dsse import envelope_to_json
from verifier.errors import FormatError
from verifier.observation import Observation, sign_observation
from verifier.reasons import Reason, Result

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
OBSERVED_AT = datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)


def observation(**changes):
    values = {
        "portal": "https://vitrina.example",
        "project": "demo",
        "environment": "production",
        "observer": "Lab",
        "observed_at": OBSERVED_AT,
        "deployment_id": 3,
        "release_id": 7,
        "expected_digest": DIGEST,
        "live_url": "https://demo.example/version",
        "live_digest": OTHER_DIGEST,
        "live_components": None,
        "served_files": None,
        "result": Result.MISMATCH,
        "reason": Reason.UNREGISTERED_ARTIFACT,
        "message": "The server runs an artifact no release has.",
        **changes,
    }
    return Observation(**values)


def report_record(envelope_text, observer, obs):
    """The record as ``services.observer_report_entry_body`` writes it (empty values as null)."""
    return {
        "project": obs.project,
        "environment": obs.environment,
        "report_id": 11,
        "observer": obs.observer,
        "observer_key_id": observer.key_id,
        "deployment_id": obs.deployment_id,
        "observed_at": "2026-01-02T03:04:05.000006Z",
        "result": str(obs.result),
        "reason": None if obs.reason is None else str(obs.reason),
        "live_digest": obs.live_digest,
        "expected_digest": obs.expected_digest or None,
        "envelope_sha256": hashlib.sha256(envelope_text.encode()).hexdigest(),
    }


@pytest.fixture
def observer():
    return key_pair()


def report_document(log, observer, obs=None):  # noqa: F811 - the fixture's name
    obs = obs or observation()
    text = envelope_to_json(sign_observation(obs, observer.private_key))
    record = report_record(text, observer, obs)
    entry = {k: v for k, v in log_entry("observer_report", record).items() if k != "by"}
    index = log.append(entry)
    return {
        "bundle_version": 1,
        "kind": "observer_report",
        "observer_report": record,
        "envelope": text,
        "observer": {
            "name": obs.observer,
            "key_id": observer.key_id,
            "algorithm": "ed25519",
            "public_key_pem": observer.public_pem,
        },
        "log": log.proof_section(index),
        "project": dict(PROJECT),
    }


def test_an_observer_report_bundle_passes_every_check(log, observer):  # noqa: F811
    results = verify(report_document(log, observer), log_key=log.verifier_key)
    assert statuses(results) == {
        "observer signature": PASS,
        "observer statement": PASS,
        "observer log entry": PASS,
        "observer project": PASS,
        "observer checkpoint": PASS,
        "observer witnesses": SKIP,
        "observer inclusion": PASS,
        "observer history": SKIP,
    }
    assert "Lab signed that demo/production was mismatch" in results[1].message


def test_a_report_of_an_environment_without_deployment_passes(log, observer):  # noqa: F811
    obs = observation(
        deployment_id=None,
        release_id=None,
        expected_digest="",
        live_digest=None,
        result=Result.UNVERIFIABLE,
        reason=Reason.NO_DEPLOYMENT,
    )
    assert failed(verify(report_document(log, observer, obs))) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("result", "verified"),
        ("reason", None),
        ("live_digest", DIGEST),
        ("observed_at", "2026-01-02T03:04:06.000006Z"),
        ("deployment_id", 4),
    ],
)
def test_a_record_changed_before_logging_fails_the_statement_check(log, observer, field, value):  # noqa: F811
    """A portal that logs something else than the observer signed: the entry agrees, the signature not."""
    obs = observation()
    text = envelope_to_json(sign_observation(obs, observer.private_key))
    record = {**report_record(text, observer, obs), field: value}
    document = report_document(log, observer)
    document["observer_report"], document["envelope"] = record, text
    document["log"] = log.proof_section(log.append(log_entry("observer_report", record)))
    results = verify(document)
    assert failed(results) == ["observer statement"]
    assert f"the report record says {field} = " in results[1].message


def test_a_record_changed_after_logging_fails_the_log_entry_check(log, observer):  # noqa: F811
    document = report_document(log, observer)
    document["observer_report"]["report_id"] = 12
    results = verify(document)
    assert failed(results) == ["observer log entry"]
    assert "report_id = 12" in results[2].message


def test_another_envelope_fails_the_statement_check(log, observer):  # noqa: F811
    """The same signed envelope in another layout still verifies, but is not the envelope that was logged."""
    document = report_document(log, observer)
    document["envelope"] = document["envelope"].replace(",", ", ", 1)
    results = verify(document)
    assert failed(results) == ["observer statement"]
    assert "the envelope's sha256 is" in results[1].message


def test_a_tampered_signature_fails_the_signature_check(log, observer):  # noqa: F811
    document = report_document(log, observer)
    signed = sign_observation(observation(message="All fine."), observer.private_key)
    tampered = sign_observation(observation(), observer.private_key)
    tampered["signatures"] = signed["signatures"]
    document["envelope"] = envelope_to_json(tampered)
    results = verify(document)
    assert statuses(results)["observer signature"] == FAIL
    assert statuses(results)["observer statement"] == SKIP


def test_another_key_fails_the_signature_check(log, observer):  # noqa: F811
    document = report_document(log, observer)
    other = key_pair()
    document["observer"].update(key_id=other.key_id, public_key_pem=other.public_pem)
    results = verify(document)
    assert statuses(results)["observer signature"] == FAIL
    assert "names observer 'Lab' with key" in results[0].message


def test_a_key_whose_id_is_not_its_own_fails_the_signature_check(log, observer):  # noqa: F811
    document = report_document(log, observer)
    document["observer"]["public_key_pem"] = key_pair().public_pem
    results = verify(document)
    assert failed(results) == ["observer signature"]
    assert "its PEM is key" in results[0].message


def test_another_observers_name_fails_the_signature_check(log, observer):  # noqa: F811
    document = report_document(log, observer)
    document["observer"]["name"] = "Other"
    assert failed(verify(document)) == ["observer signature"]


def test_a_key_added_entry_is_not_an_observer_report(log, observer):  # noqa: F811
    document = report_document(log, observer)
    document["log"] = log.proof_section(0)
    results = verify(document)
    assert "not a observer_report entry" in results[2].message


def test_a_report_of_another_project_than_the_bundle_names_fails(log, observer):  # noqa: F811
    document = report_document(log, observer)
    document["project"]["slug"] = "other"
    assert failed(verify(document)) == ["observer project"]


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d["observer_report"].pop("envelope_sha256"), "no 'envelope_sha256'"),
        (lambda d: d["observer_report"].update(deployment_id="3"), "deployment_id must be a int or null"),
        (lambda d: d["observer_report"].update(reason=3), "reason must be a str or null"),
        (lambda d: d.pop("envelope"), "no 'envelope'"),
        (lambda d: d.update(envelope={}), "envelope must be a string"),
        (lambda d: d["observer"].pop("key_id"), "no 'key_id'"),
        (lambda d: d["observer"].update(extra="x"), "unknown field 'extra'"),
        (lambda d: d.update(signing_keys=[]), "unknown field"),
    ],
)
def test_a_malformed_observer_report_bundle_is_refused(log, observer, mutate, problem):  # noqa: F811
    document = copy.deepcopy(report_document(log, observer))
    mutate(document)
    with pytest.raises(FormatError, match=problem):
        parse_bundle(encode(document))

"""An operator's note carried in a proof bundle: checked as logged (entry, project, checkpoint, inclusion),
and refused or failed when it was changed, mislabelled or malformed."""

import pytest

from tests.verifier.test_bundle import PROJECT, encode, failed, log, log_entry, statuses, verify  # noqa: F401
from verifier.bundle import FAIL, PASS, SKIP, parse_bundle
from verifier.errors import FormatError


def note_record(**changes):
    return {
        "project": "demo",
        "environment": "production",
        "note_id": 4,
        "kind": "maintenance",
        "text": "Mantenimiento programado de la base de datos",
        "starts_at": "2026-01-02T03:00:00.000000Z",
        "ends_at": "2026-01-02T05:00:00.000000Z",
        **changes,
    }


def note_document(log, **changes):  # noqa: F811 - the fixture's name
    record = note_record(**changes)
    index = log.append(log_entry("note", record))
    return {
        "bundle_version": 1,
        "kind": "note",
        "note": record,
        "log": log.proof_section(index),
        "project": dict(PROJECT),
    }


def test_a_note_bundle_passes_the_log_checks(log):  # noqa: F811
    results = verify(note_document(log), log_key=log.verifier_key)
    assert statuses(results) == {
        "note log entry": PASS,
        "note project": PASS,
        "note checkpoint": PASS,
        "note witnesses": SKIP,
        "note inclusion": PASS,
        "note history": SKIP,
    }


def test_a_note_for_the_whole_project_and_without_an_end_passes(log):  # noqa: F811
    results = verify(note_document(log, environment=None, ends_at=None))
    assert failed(results) == []


def test_a_note_whose_text_was_changed_after_logging_fails(log):  # noqa: F811
    document = note_document(log)
    document["note"]["text"] = "Todo normal"
    results = verify(document)
    assert failed(results) == ["note log entry"]
    assert "the note record says text = " in results[0].message


def test_a_note_of_another_project_than_the_bundle_names_fails(log):  # noqa: F811
    document = note_document(log, project="other")
    assert [r.name for r in verify(document) if r.status == FAIL] == ["note project"]


def test_a_release_entry_is_not_a_note(log):  # noqa: F811
    document = note_document(log)
    document["log"] = log.proof_section(0)  # the log's first entry is a key_added entry
    results = verify(document)
    assert "not a note entry" in results[0].message


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d: d["note"].pop("environment"), "no 'environment'"),
        (lambda d: d["note"].update(environment=3), "environment must be a str or null"),
        (lambda d: d["note"].update(ends_at=False), "ends_at must be a str or null"),
        (lambda d: d["note"].update(note_id="4"), "note_id must be a int"),
        (lambda d: d.update(release_bundle={}), "unknown field"),
    ],
)
def test_a_malformed_note_bundle_is_refused(log, mutate, problem):  # noqa: F811
    document = note_document(log)
    mutate(document)
    with pytest.raises(FormatError, match=problem):
        parse_bundle(encode(document))

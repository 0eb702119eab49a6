"""The rebuild attestation format: building, signing, verifying under the rebuilder's key, strict parsing,
the release link and the comparison with the release's subjects."""

import datetime
import json

import pytest

from tests.verifier.factories import COMMIT, REPO_URI, key_pair, random_digest
from verifier import rebuilds as rb
from verifier.dsse import parse_envelope, sign_envelope
from verifier.errors import FormatError, SignatureError, StatementError
from verifier.statement import BuildInstructions, Subject, parse_statement, statement_to_payload

STARTED = datetime.datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=datetime.UTC)
FINISHED = STARTED + datetime.timedelta(minutes=3)
WEB = random_digest()
WORKER = random_digest()
BUILD = BuildInstructions(
    "make dist", {"PYTHON": "3.12"}, {"web": "dist/web.tar", "worker": "dist/worker.tar"}
)


def hex_of(digest):
    return digest.removeprefix("sha256:")


def release_subjects(web=WEB, worker=WORKER):
    return [Subject("web", {"sha256": hex_of(web)}), Subject("worker", {"sha256": hex_of(worker)})]


def rebuilt(**changes):
    """A rebuild of the two-component release 'demo' 1.0 (id 7) that reproduced it."""
    values = {
        "subjects": tuple(release_subjects()),
        "portal": "https://vitrina.example.org",
        "project": "demo",
        "version": "1.0",
        "release_id": 7,
        "artifact_digest": WEB,
        "repository": REPO_URI,
        "commit": COMMIT,
        "build": BUILD,
        "rebuilder": "Civic Lab / Rebuilds",
        "started_on": STARTED,
        "finished_on": FINISHED,
        "invocation_id": "6f1c2b9e-run",
    }
    values.update(changes)
    return rb.Rebuilt(**values)


def payload_with(edit):
    """The payload of a good attestation after ``edit(statement)`` changed the statement dict."""
    statement = rb.build_rebuild_statement(rebuilt())
    edit(statement)
    return statement_to_payload(statement)


def test_a_signed_attestation_verifies_and_reads_back_what_was_signed():
    pair = key_pair()
    envelope = rb.sign_rebuild(rebuilt(), pair.private_key)
    got = rb.verify_rebuild(json.dumps(envelope), pair.public_key)
    assert got == rebuilt()
    assert got.raw["predicate"]["runDetails"]["builder"]["id"] == (
        "https://vitrina.invalid/rebuilders/Civic%20Lab%20%2F%20Rebuilds"
    )


def test_the_attestation_is_slsa_provenance_any_reader_of_statements_reads():
    statement = parse_statement(statement_to_payload(rb.build_rebuild_statement(rebuilt())))
    assert [s.name for s in statement.subjects] == ["web", "worker"]
    assert (statement.source_uri, statement.source_commit) == (REPO_URI, COMMIT)
    assert statement.build == BUILD
    assert statement.raw["predicate"]["buildDefinition"]["buildType"] == rb.REBUILD_BUILD_TYPE


def test_an_ecdsa_rebuilder_key_works_too():
    pair = key_pair("ecdsa-p256")
    assert rb.verify_rebuild(rb.sign_rebuild(rebuilt(), pair.private_key), pair.public_key) == rebuilt()


def test_another_key_is_a_signature_error():
    envelope = rb.sign_rebuild(rebuilt(), key_pair().private_key)
    with pytest.raises(SignatureError):
        rb.verify_rebuild(envelope, key_pair().public_key)


def test_a_malformed_envelope_is_a_format_error():
    with pytest.raises(FormatError):
        rb.verify_rebuild("{not json", key_pair().public_key)


def test_a_signed_release_statement_is_not_a_rebuild():
    pair = key_pair()
    statement = rb.build_rebuild_statement(rebuilt())
    statement["predicate"]["buildDefinition"]["buildType"] = "https://vitrina.invalid/buildtypes/ci/v1"
    envelope = sign_envelope(statement_to_payload(statement), pair.private_key)
    with pytest.raises(StatementError, match="buildType"):
        rb.verify_rebuild(parse_envelope(envelope).to_dict(), pair.public_key)


def test_building_what_would_not_parse_back_is_a_format_error():
    with pytest.raises(FormatError, match="finishedOn is before startedOn"):
        rb.build_rebuild_statement(rebuilt(finished_on=STARTED - datetime.timedelta(seconds=1)))
    with pytest.raises(FormatError, match="release_id"):
        rb.build_rebuild_statement(rebuilt(release_id=0))


def _set(path, value):
    def edit(statement):
        obj = statement
        for name in path[:-1]:
            obj = obj[name]
        if value is ...:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value

    return edit


EXTERNAL = ("predicate", "buildDefinition", "externalParameters")
METADATA = ("predicate", "runDetails", "metadata")


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_set(("extra",), 1), "the statement has members"),
        (_set(("predicate", "extra"), 1), "predicate has members"),
        (_set((*EXTERNAL, "release", "portal"), ...), "release has no portal"),
        (_set((*EXTERNAL, "release", "note"), "x"), "release has members"),
        (_set((*EXTERNAL, "release", "release_id"), True), "release_id"),
        (_set((*EXTERNAL, "release", "artifact_digest"), "sha256:ABC"), "artifact_digest"),
        (_set((*EXTERNAL, "release", "project"), ""), "release.project"),
        (_set((*EXTERNAL, "buildCommand"), ...), "externalParameters has no buildCommand"),
        (_set((*EXTERNAL, "buildOutputs"), {"web": "../web.tar"}), "not a path inside"),
        (_set((*EXTERNAL, "commit"), "abc"), "commit"),
        (
            _set(
                ("predicate", "buildDefinition", "resolvedDependencies"),
                [{"uri": "https://x", "digest": {"gitCommit": COMMIT}}],
            ),
            "resolvedDependencies",
        ),
        (_set(("predicate", "runDetails", "builder", "id"), "https://vitrina.invalid/ci"), "builder.id"),
        (_set(("predicate", "runDetails", "builder", "id"), rb.REBUILDER_ID_PREFIX), "builder.id"),
        (_set(("predicate", "runDetails", "builder", "id"), rb.REBUILDER_ID_PREFIX + "a b"), "builder.id"),
        (_set((*METADATA, "startedOn"), "2026-12-02 10:00:00"), "startedOn"),
        (_set((*METADATA, "finishedOn"), "2026-02-30T10:00:00Z"), "finishedOn"),
        (_set((*METADATA, "invocationId"), ""), "invocationId"),
        (_set((*METADATA, "extra"), 1), "metadata has members"),
        (_set(("subject", 0, "annotations"), {}), r"subject\[0\] has members"),
        (_set(("subject", 1, "name"), "web"), "two subjects are named 'web'"),
        (_set(("subject", 0, "digest"), {"sha256": hex_of(WEB), "md5": "00"}), "sha256 and/or sha512 only"),
        (_set(("subject", 0, "digest", "sha256"), "00"), r"subject\[0\]\.digest\.sha256 is malformed"),
        (_set(("subject",), []), "no subject"),
    ],
)
def test_a_malformed_member_is_refused_naming_it(edit, named):
    with pytest.raises(StatementError, match=named):
        rb.parse_rebuild(payload_with(edit))


def test_times_without_a_fraction_are_read():
    got = rb.parse_rebuild(payload_with(_set((*METADATA, "startedOn"), "2026-12-02T10:00:00Z")))
    assert got.started_on == datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)


def test_the_same_subjects_reproduce():
    assert rb.compare_rebuild(release_subjects(), rebuilt()) == rb.RebuildComparison("reproduced", ())


def test_another_digest_differs_naming_both():
    other = random_digest()
    comparison = rb.compare_rebuild(release_subjects(worker=other), rebuilt())
    assert comparison.result == "differs"
    assert comparison.differences == (("worker", "sha256:" + hex_of(other), "sha256:" + hex_of(WORKER)),)


def test_the_strongest_common_algorithm_decides():
    sha512 = "ab" * 64
    release = [Subject("web", {"sha256": hex_of(WEB), "sha512": sha512}), release_subjects()[1]]
    got = rebuilt(subjects=(Subject("web", {"sha256": hex_of(WEB), "sha512": "cd" * 64}), release[1]))
    assert rb.compare_rebuild(release, got).differences == (
        ("web", f"sha512:{sha512}", "sha512:" + "cd" * 64),
    )


def test_a_missing_or_extra_subject_is_refused():
    with pytest.raises(StatementError, match="missing 'worker'"):
        rb.compare_rebuild(release_subjects(), rebuilt(subjects=tuple(release_subjects()[:1])))
    with pytest.raises(StatementError, match="not in the release 'worker'"):
        rb.compare_rebuild(release_subjects()[:1], rebuilt())


def test_no_algorithm_in_common_is_refused():
    got = rebuilt(
        subjects=(Subject("web", {"sha256": hex_of(WEB)}), Subject("worker", {"sha512": "ab" * 64}))
    )
    with pytest.raises(StatementError, match="nothing to compare"):
        rb.compare_rebuild(release_subjects(), got)


def test_the_release_link_names_the_release():
    link = {"project": "demo", "version": "1.0", "release_id": 7, "artifact_digest": WEB}
    rb.check_release_link(rebuilt(), **link)
    rb.check_release_link(rebuilt(), **link, portal="https://vitrina.example.org")
    with pytest.raises(StatementError, match="release_id is 7, not 8"):
        rb.check_release_link(rebuilt(), **{**link, "release_id": 8})
    with pytest.raises(StatementError, match="portal"):
        rb.check_release_link(rebuilt(), **link, portal="https://other.example.org")

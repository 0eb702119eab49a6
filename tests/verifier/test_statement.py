"""in-toto Statement v1 with SLSA provenance v1: building one, and reading the four facts Vitrina uses."""

import copy
import json

import pytest

from verifier.errors import FormatError, StatementError
from verifier.statement import (
    BUILD_TYPE,
    SLSA_PROVENANCE_V1,
    STATEMENT_TYPE,
    Subject,
    build_statement,
    digest_sets_match,
    parse_statement,
    statement_to_payload,
)

DIGEST_HEX = "5a" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "https://git.example.org/city/portal.git"
CI_URL = "https://ci.example.org/city/portal/builds/42"


def build(**fields):
    """``build_statement`` with valid defaults for every argument not given."""
    defaults = {"artifact_name": "app", "artifact_digest": f"sha256:{DIGEST_HEX}", "repo_uri": REPO}
    return build_statement(**{**defaults, "commit": COMMIT, **fields})


def statement(**overrides):
    built = build(artifact_name="portal.tar.gz", ci_build_url=CI_URL)
    built.update(overrides)
    return built


def payload_of(doc):
    return json.dumps(doc).encode()


def test_built_statement_parses_back_to_the_same_facts():
    parsed = parse_statement(statement_to_payload(statement()))
    assert parsed.subjects == [Subject("portal.tar.gz", {"sha256": DIGEST_HEX})]
    assert parsed.artifact_digest == f"sha256:{DIGEST_HEX}"
    assert parsed.artifact_name == "portal.tar.gz"
    assert parsed.predicate_type == SLSA_PROVENANCE_V1
    assert parsed.source_uri == REPO
    assert parsed.source_commit == COMMIT
    assert parsed.ci_build_url == CI_URL
    assert parsed.builder_id == "https://vitrina.invalid/ci"
    assert parsed.raw == statement()


def test_built_statement_puts_each_fact_where_the_specs_say():
    doc = build_statement(
        artifact_name="app",
        artifact_digest=f"sha256:{DIGEST_HEX}",
        repo_uri=REPO,
        commit=COMMIT,
        ci_build_url=CI_URL,
        builder_id="https://ci.example.org/runner",
    )
    assert doc["_type"] == STATEMENT_TYPE
    assert doc["subject"] == [{"name": "app", "digest": {"sha256": DIGEST_HEX}}]
    assert doc["predicateType"] == SLSA_PROVENANCE_V1
    build_definition = doc["predicate"]["buildDefinition"]
    assert build_definition["buildType"] == BUILD_TYPE
    assert build_definition["externalParameters"] == {"repository": REPO, "commit": COMMIT}
    assert build_definition["resolvedDependencies"] == [{"uri": REPO, "digest": {"gitCommit": COMMIT}}]
    assert doc["predicate"]["runDetails"] == {
        "builder": {"id": "https://ci.example.org/runner"},
        "metadata": {"invocationId": CI_URL},
    }


def test_statement_without_a_build_url_has_none():
    doc = build()
    assert "metadata" not in doc["predicate"]["runDetails"]
    assert parse_statement(statement_to_payload(doc)).ci_build_url is None


def test_statement_for_a_sha256_repository_commit_is_accepted():
    commit = "a" * 64
    doc = build(commit=commit)
    assert parse_statement(statement_to_payload(doc)).source_commit == commit


def test_payload_is_compact_sorted_utf8_json():
    payload = statement_to_payload({"b": 1, "a": {"z": "ñ", "y": [1, 2]}})
    assert payload == '{"a":{"y":[1,2],"z":"ñ"},"b":1}'.encode()


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"artifact_digest": DIGEST_HEX}, "sha256:<64 lowercase hex>"),
        ({"artifact_digest": f"sha256:{DIGEST_HEX.upper()}"}, "lowercase"),
        ({"commit": COMMIT[:-1]}, "commit must be 40 lowercase hex"),
        ({"commit": COMMIT.upper()}, "commit must be 40 lowercase hex"),
    ],
)
def test_statement_with_a_malformed_digest_or_commit_cannot_be_built(fields, complaint):
    with pytest.raises(FormatError, match=complaint):
        build(**fields)


def test_every_subject_with_a_digest_set_is_a_component_and_the_first_sha256_names_the_release():
    doc = statement(
        subject=[
            {"name": "checksums.txt", "digest": {"sha512": "ab" * 64}},
            {"name": "app.tar.gz", "digest": {"sha256": "1" * 64}},
            {"name": "app.sbom", "digest": {"sha256": "2" * 64}},
        ]
    )
    parsed = parse_statement(payload_of(doc))
    assert parsed.artifact_name == "app.tar.gz"
    assert parsed.artifact_digest == "sha256:" + "1" * 64
    assert [subject.name for subject in parsed.subjects] == ["checksums.txt", "app.tar.gz", "app.sbom"]
    assert parsed.components == parsed.subjects
    assert parsed.subjects[0].digests == {"sha512": "ab" * 64}
    assert parsed.subjects[0].sha256 is None


def test_first_resolved_dependency_with_a_git_commit_is_the_source():
    doc = statement()
    doc["predicate"]["buildDefinition"]["resolvedDependencies"] = [
        {"uri": "https://example.org/base-image", "digest": {"sha256": "3" * 64}},
        {"uri": REPO, "digest": {"gitCommit": COMMIT}},
        {"uri": "https://example.org/submodule.git", "digest": {"gitCommit": "f" * 40}},
    ]
    parsed = parse_statement(payload_of(doc))
    assert (parsed.source_uri, parsed.source_commit) == (REPO, COMMIT)


def test_missing_or_non_string_build_url_and_builder_are_none():
    doc = statement()
    doc["predicate"]["runDetails"] = {"builder": {"id": 7}, "metadata": {"invocationId": ["x"]}}
    parsed = parse_statement(payload_of(doc))
    assert parsed.ci_build_url is None
    assert parsed.builder_id is None
    del doc["predicate"]["runDetails"]
    assert parse_statement(payload_of(doc)).builder_id is None


def with_dependencies(*dependencies):
    doc = statement()
    doc["predicate"]["buildDefinition"]["resolvedDependencies"] = list(dependencies)
    return doc


def with_subject_digest(digest):
    return statement(subject=[{"name": "app", "digest": digest}])


def without(path):
    doc = statement()
    *parents, last = path
    target = doc
    for name in parents:
        target = target[name]
    del target[last]
    return doc


NO_SOURCE = "names no source commit"
BAD_COMMIT = "gitCommit must be 40 lowercase hex characters \\(64 for a SHA-256 repository\\)"
NO_SHA256 = "has no subject with a sha256 digest"
BAD_SHA256 = "subject\\[0\\].digest.sha256 is malformed"


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"{not json", "the signed payload is not valid JSON"),
        (b'{"_type": "\xff"}', "the signed payload is not UTF-8"),
        (b"[1, 2]", "not an object"),
        (b'"a string"', "not an object"),
        (payload_of(statement(_type="https://in-toto.io/Statement/v0.1")), "only in-toto Statement v1"),
        (payload_of(without(["_type"])), "the statement has no _type; only in-toto Statement v1"),
        (payload_of(statement(predicateType="https://slsa.dev/provenance/v0.2")), "only SLSA provenance v1"),
        (payload_of(statement(predicateType="https://spdx.dev/Document")), "only SLSA provenance v1"),
        (
            payload_of(without(["predicateType"])),
            "the statement has no predicateType; only SLSA provenance v1",
        ),
        (payload_of(without(["subject"])), NO_SHA256),
        (payload_of(statement(subject=[])), NO_SHA256),
        (payload_of(statement(subject={"name": "app"})), NO_SHA256),
        (payload_of(with_subject_digest({"sha512": "ab" * 64})), NO_SHA256),
        (payload_of(with_subject_digest({"sha256": DIGEST_HEX.upper()})), BAD_SHA256),
        (payload_of(with_subject_digest({"sha256": DIGEST_HEX[:-2]})), BAD_SHA256),
        (payload_of(with_subject_digest({"sha256": 5})), BAD_SHA256),
        (payload_of(without(["predicate", "buildDefinition", "resolvedDependencies"])), NO_SOURCE),
        (payload_of(without(["predicate"])), NO_SOURCE),
        (payload_of(with_dependencies()), NO_SOURCE),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"sha1": COMMIT}})), NO_SOURCE),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"gitCommit": COMMIT[:7]}})), BAD_COMMIT),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"gitCommit": COMMIT.upper()}})), BAD_COMMIT),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"gitCommit": COMMIT + "0"}})), BAD_COMMIT),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"gitCommit": None}})), NO_SOURCE),
        (payload_of(with_dependencies({"uri": REPO, "digest": {"gitCommit": 12}})), BAD_COMMIT),
        (payload_of(with_dependencies({"digest": {"gitCommit": COMMIT}})), "has no uri"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "_type": "x"}', "the key '_type' appears twice"),
        (b'{"subject": [' * 50_000, "nested more than 64 levels"),
        (b'{"_type": NaN}', "NaN is not a JSON value"),
    ],
)
def test_unacceptable_statement_is_refused_saying_why(payload, complaint):
    with pytest.raises(StatementError, match=complaint):
        parse_statement(payload)


def test_parsing_does_not_depend_on_key_order_or_whitespace():
    doc = statement()
    reordered = json.dumps(dict(reversed(list(copy.deepcopy(doc).items()))), indent=2).encode()
    assert parse_statement(reordered).raw == parse_statement(statement_to_payload(doc)).raw


WEB, WORKER = "sha256:" + "1" * 64, "sha256:" + "2" * 64
STATIC_SHA512 = "sha512:" + "3" * 128


def test_a_statement_of_several_subjects_is_a_release_of_several_named_components():
    doc = build(components=[("web", WEB), ("worker", WORKER), ("static", STATIC_SHA512)])

    parsed = parse_statement(statement_to_payload(doc))

    assert [(c.name, dict(c.digests)) for c in parsed.components] == [
        ("web", {"sha256": "1" * 64}),
        ("worker", {"sha256": "2" * 64}),
        ("static", {"sha512": "3" * 128}),
    ]
    assert (parsed.artifact_name, parsed.artifact_digest) == ("web", WEB)
    assert doc["subject"][2] == {"name": "static", "digest": {"sha512": "3" * 128}}


def test_a_one_subject_statement_has_no_components_and_is_built_as_before():
    assert parse_statement(statement_to_payload(build())).components == []
    assert build()["subject"] == [{"name": "app", "digest": {"sha256": DIGEST_HEX}}]


@pytest.mark.parametrize(
    ("subjects", "complaint"),
    [
        ([{"name": "web", "digest": {"sha256": "1" * 64}}, {"digest": {"sha256": "2" * 64}}], "has no name"),
        (
            [
                {"name": "web", "digest": {"sha256": "1" * 64}},
                {"name": "web", "digest": {"sha256": "2" * 64}},
            ],
            "two subjects are named 'web'",
        ),
        ([{"name": "a", "digest": {"sha512": "ab" * 64}}], "only sha512 ones"),
        (
            [{"name": "web", "digest": {"sha256": "1" * 64}}, {"name": "s", "digest": {"sha512": "AB" * 64}}],
            "subject\\[1\\].digest.sha512 is malformed",
        ),
        ([{"name": "web", "digest": {"sha256": "1" * 64, "sha512": "ab"}}], "digest.sha512 is malformed"),
    ],
)
def test_components_without_names_of_their_own_or_with_bad_digests_are_refused(subjects, complaint):
    with pytest.raises(StatementError, match=complaint):
        parse_statement(payload_of(statement(subject=subjects)))


def test_components_a_verifier_would_refuse_cannot_be_built():
    with pytest.raises(FormatError, match="two subjects are named 'web'"):
        build(components=[("web", WEB), ("web", WORKER)])
    with pytest.raises(FormatError, match="a component digest must be"):
        build(components=[("web", "sha384:" + "1" * 96)])


@pytest.mark.parametrize(
    ("declared", "reported", "same"),
    [
        ({"sha256": "a", "sha512": "b"}, {"sha256": "a", "sha512": "b"}, True),
        # The strongest both know decides: a sha256 agreeing does not hide a sha512 disagreeing.
        ({"sha256": "a", "sha512": "b"}, {"sha256": "a", "sha512": "c"}, False),
        ({"sha256": "a", "sha512": "b"}, {"sha512": "b"}, True),
        ({"sha256": "a"}, {"sha256": "a", "sha512": "z"}, True),
        ({"sha256": "a"}, {"sha512": "b"}, None),
    ],
)
def test_digest_sets_compare_by_the_strongest_algorithm_both_know(declared, reported, same):
    assert digest_sets_match(declared, reported) is same

"""Log entries: the builders write the documented format byte for byte, and the one comparison of a record
with its entry names every member that differs."""

import datetime

import pytest

from verifier.entries import (
    ABSENT,
    ENTRY_FIELDS,
    ENTRY_SCHEMA_VERSION,
    ENTRY_TYPES,
    Difference,
    canonical_entry,
    entry_body,
    entry_differences,
    format_time,
    parse_entry,
)
from verifier.errors import FormatError

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(microseconds=1)
DIGEST = "sha256:" + "5f" * 32
TOKEN = {"kind": "token", "name": "ci", "hint": "vtr_AbCd"}


def release(by=None, **changes):
    return entry_body("release", release_values(**changes), by=by)


def release_values(**changes):
    """A keyed release's values: its keyless members (a Sigstore bundle's) are None, left out."""
    keyless = ("sigstore_bundle_sha256", "certificate_issuer", "certificate_identity", "source_ref")
    values = {
        "project": "demo",
        "release_id": 7,
        "version": "1.0.0",
        "artifact_name": "app.tar.gz",
        "artifact_digest": DIGEST,
        "source_commit": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "repo_url": "https://git.example.org/demo.git",
        "ci_build_url": "https://ci.example.org/runs/1",
        "envelope_sha256": "0c" * 32,
        "signer_key_id": "9e" * 32,
        "registered_at": T0,
        **dict.fromkeys((*keyless, "sigstore_log_index")),
        "components": None,  # a one-artifact release: left out
    }
    return {**values, **changes}


def logged(kind, body):
    return parse_entry(canonical_entry(kind, body, T1))


def test_a_release_entry_is_the_documented_canonical_json():
    envelope, signer = "0c" * 32, "9e" * 32
    expected = (
        f'{{"artifact_digest":"{DIGEST}","artifact_name":"app.tar.gz","by":{{"hint":"vtr_AbCd",'
        f'"kind":"token","name":"ci"}},"ci_build_url":"https://ci.example.org/runs/1","envelope_sha256":'
        f'"{envelope}","logged_at":"2026-01-02T03:04:05.000007Z","project":"demo",'
        f'"registered_at":"2026-01-02T03:04:05.000006Z","release_id":7,'
        f'"repo_url":"https://git.example.org/demo.git","signer_key_id":"{signer}",'
        f'"source_commit":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","type":"release","v":1,'
        f'"version":"1.0.0"}}'
    )
    assert canonical_entry("release", release(by=TOKEN), T1) == expected.encode()


def bodies():
    """One body of each entry type, built as the portal builds them."""
    return {
        "release": release(by=TOKEN),
        "deployment": entry_body(
            "deployment",
            dict(
                project="demo",
                environment="production",
                deployment_id=3,
                release_id=7,
                version="1.0.0",
                artifact_digest=DIGEST,
                deployed_at=T0,
                pipeline_run_url="",
            ),
            by=TOKEN,
        ),
        "key_added": entry_body(
            "key_added",
            dict(
                project="demo",
                key_id="9e" * 32,
                algorithm="ed25519",
                public_key_pem="-----BEGIN PUBLIC KEY-----\n...",
                valid_from=T0,
                valid_until=None,
            ),
            by={"kind": "operator", "name": "ada"},
        ),
        "key_revoked": entry_body(
            "key_revoked", dict(project="demo", key_id="9e" * 32, revoked_at=T0), by=TOKEN
        ),
        "status": entry_body(
            "status",
            dict(
                project="demo",
                environment="production",
                result="verified",
                reason="",
                live_digest=DIGEST,
                expected_digest=DIGEST,
                observed_at=T0,
            ),
        ),
        "note": entry_body(
            "note",
            dict(
                project="demo",
                environment="production",
                note_id=4,
                kind="maintenance",
                text="Mantenimiento programado",
                starts_at=T0,
                ends_at=None,
            ),
            by={"kind": "operator", "name": "ada"},
        ),
        "witness_added": entry_body(
            "witness_added",
            dict(name="witness.example/w1", verifier_key=WITNESS_KEY, url=WITNESS_URL, added_at=T0),
            by={"kind": "operator", "name": "ada"},
        ),
        "witness_removed": entry_body(
            "witness_removed",
            dict(name="witness.example/w1", verifier_key=WITNESS_KEY, removed_at=T0),
            by={"kind": "system", "name": "vitrina"},
        ),
    }


def test_every_entry_type_carries_its_schema_version_type_and_time():
    for kind, body in bodies().items():
        entry = logged(kind, body)
        assert (entry["v"], entry["type"], entry["logged_at"]) == (1, kind, "2026-01-02T03:04:05.000007Z")
        assert entry_differences(kind, {k: v for k, v in body.items() if k != "by"}, entry) == []
    assert logged("key_added", bodies()["key_added"])["valid_until"] is None
    assert logged("status", bodies()["status"])["reason"] is None


KEY_ID = "9e" * 32
WITNESS_KEY = "witness.example/w1+6ea5b1c2+BFq0XsOzr8Hf0ds/8CZxdH4jHgQV5aKGzORUOGoXeT3L"
WITNESS_URL = "https://witness.example/w1/"
# The bytes each type was written as when the portal wrote the first entries: a change to any of them is a
# change of the format (a new ``v``), never a refactoring.
EXACT = {
    "deployment": (
        f'{{"artifact_digest":"{DIGEST}","by":{{"hint":"vtr_AbCd","kind":"token","name":"ci"}},'
        '"deployed_at":"2026-01-02T03:04:05.000006Z","deployment_id":3,"environment":"production",'
        '"logged_at":"2026-01-02T03:04:05.000007Z","pipeline_run_url":"","project":"demo","release_id":7,'
        '"type":"deployment","v":1,"version":"1.0.0"}'
    ),
    "key_added": (
        f'{{"algorithm":"ed25519","by":{{"kind":"operator","name":"ada"}},"key_id":"{KEY_ID}",'
        '"logged_at":"2026-01-02T03:04:05.000007Z","project":"demo",'
        '"public_key_pem":"-----BEGIN PUBLIC KEY-----\\n...","type":"key_added","v":1,'
        '"valid_from":"2026-01-02T03:04:05.000006Z","valid_until":null}'
    ),
    "key_revoked": (
        f'{{"by":{{"hint":"vtr_AbCd","kind":"token","name":"ci"}},"key_id":"{KEY_ID}",'
        '"logged_at":"2026-01-02T03:04:05.000007Z","project":"demo",'
        '"revoked_at":"2026-01-02T03:04:05.000006Z","type":"key_revoked","v":1}'
    ),
    "status": (
        f'{{"environment":"production","expected_digest":"{DIGEST}","live_digest":"{DIGEST}",'
        '"logged_at":"2026-01-02T03:04:05.000007Z","observed_at":"2026-01-02T03:04:05.000006Z",'
        '"project":"demo","reason":null,"result":"verified","type":"status","v":1}'
    ),
    "note": (
        '{"by":{"kind":"operator","name":"ada"},"ends_at":null,"environment":"production",'
        '"kind":"maintenance","logged_at":"2026-01-02T03:04:05.000007Z","note_id":4,"project":"demo",'
        '"starts_at":"2026-01-02T03:04:05.000006Z","text":"Mantenimiento programado","type":"note","v":1}'
    ),
    "witness_added": (
        '{"added_at":"2026-01-02T03:04:05.000006Z","by":{"kind":"operator","name":"ada"},'
        '"logged_at":"2026-01-02T03:04:05.000007Z","name":"witness.example/w1","type":"witness_added",'
        f'"url":"{WITNESS_URL}","v":1,"verifier_key":"{WITNESS_KEY}"}}'
    ),
    "witness_removed": (
        '{"by":{"kind":"system","name":"vitrina"},"logged_at":"2026-01-02T03:04:05.000007Z",'
        '"name":"witness.example/w1","removed_at":"2026-01-02T03:04:05.000006Z","type":"witness_removed",'
        f'"v":1,"verifier_key":"{WITNESS_KEY}"}}'
    ),
}


@pytest.mark.parametrize("kind", sorted(EXACT))
def test_each_entry_type_is_written_byte_for_byte_as_before(kind):
    assert canonical_entry(kind, bodies()[kind], T1) == EXACT[kind].encode()


def test_a_key_with_an_end_and_no_author_is_written_byte_for_byte_as_before():
    body = entry_body(
        "key_added",
        dict(
            project="demo",
            key_id=KEY_ID,
            algorithm="ed25519",
            public_key_pem="pem",
            valid_from=T0,
            valid_until=T1,
        ),
    )
    expected = (
        f'{{"algorithm":"ed25519","key_id":"{KEY_ID}","logged_at":"2026-01-02T03:04:05.000007Z",'
        '"project":"demo","public_key_pem":"pem","type":"key_added","v":1,'
        '"valid_from":"2026-01-02T03:04:05.000006Z","valid_until":"2026-01-02T03:04:05.000007Z"}'
    )
    assert canonical_entry("key_added", body, T1) == expected.encode()


def test_empty_reasons_and_digests_of_a_status_are_written_as_null():
    body = entry_body(
        "status",
        dict(
            project="demo",
            environment="production",
            result="unverifiable",
            reason="timeout",
            live_digest="",
            expected_digest=None,
            observed_at=T0,
        ),
    )
    expected = (
        b'{"environment":"production","expected_digest":null,"live_digest":null,'
        b'"logged_at":"2026-01-02T03:04:05.000007Z","observed_at":"2026-01-02T03:04:05.000006Z",'
        b'"project":"demo","reason":"timeout","result":"unverifiable","type":"status","v":1}'
    )
    assert canonical_entry("status", body, T1) == expected


def test_an_unrevoked_key_rebuilt_by_the_audit_has_a_null_revocation():
    body = entry_body("key_revoked", dict(project="demo", key_id=KEY_ID, revoked_at=None))
    assert body == {"project": "demo", "key_id": KEY_ID, "revoked_at": None}


def test_entry_types_are_the_rows_of_the_one_table():
    assert ENTRY_TYPES == (
        "release",
        "deployment",
        "key_added",
        "key_revoked",
        "identity_added",
        "identity_removed",
        "status",
        "note",
        "observer_added",
        "observer_removed",
        "observer_report",
        "rebuilder_added",
        "rebuilder_removed",
        "rebuild",
        "rebuild_answer",
        "witness_added",
        "witness_removed",
    )
    assert [kind for kind in ENTRY_TYPES if ENTRY_FIELDS[kind].by] == [
        *ENTRY_TYPES[:6],
        "note",
        "observer_added",
        "observer_removed",
        "rebuilder_added",
        "rebuilder_removed",
        "rebuild_answer",
        "witness_added",
        "witness_removed",
    ]


def test_a_note_for_the_whole_project_names_no_environment_and_keeps_its_end():
    body = entry_body(
        "note",
        dict(
            project="demo",
            environment=None,
            note_id=5,
            kind="resolved",
            text="Servicio normalizado — «ok»",
            starts_at=T0,
            ends_at=T1,
        ),
    )
    expected = (
        '{"ends_at":"2026-01-02T03:04:05.000007Z","environment":null,"kind":"resolved",'
        '"logged_at":"2026-01-02T03:04:05.000007Z","note_id":5,"project":"demo",'
        '"starts_at":"2026-01-02T03:04:05.000006Z","text":"Servicio normalizado — «ok»","type":"note","v":1}'
    )
    assert canonical_entry("note", body, T1) == expected.encode()


def test_a_release_of_several_components_logs_them_last_and_a_one_artifact_release_does_not():
    components = [
        {"name": "web", "digest": {"sha256": "1" * 64}},
        {"name": "static", "digest": {"sha512": "3" * 128}},
    ]

    several = entry_body("release", release_values(components=components))

    assert list(several)[-1] == "components" and several["components"] == components
    assert "components" not in entry_body("release", release_values())
    assert entry_differences("release", several, logged("release", several)) == []


def test_values_missing_a_member_or_with_one_too_many_are_a_programming_error():
    values = {**release_values(), "envelope": "x"}
    del values["version"]
    with pytest.raises(ValueError, match="a release entry's values: missing version; unexpected envelope"):
        entry_body("release", values)


def test_a_status_entry_never_carries_by():
    values = {name: "x" for name in ENTRY_FIELDS["status"].members}
    with pytest.raises(ValueError, match="a status entry has no 'by'"):
        entry_body("status", values, by=TOKEN)


def test_a_body_of_an_unknown_type_is_never_built():
    with pytest.raises(ValueError, match="'releases' is not an entry type"):
        entry_body("releases", {})


def test_times_are_utc_with_microseconds_whatever_the_zone_they_come_in():
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert format_time(T0.astimezone(paris)) == "2026-01-02T03:04:05.000006Z"


def test_an_unknown_entry_type_is_never_written():
    with pytest.raises(ValueError, match="'releases' is not an entry type"):
        canonical_entry("releases", release(), T1)


def test_without_by_the_body_is_the_record_as_compared():
    assert "by" not in release()
    assert release(by=TOKEN)["by"] == TOKEN


def test_a_changed_member_is_a_difference_with_both_values():
    entry = logged("release", release(by=TOKEN))
    forged = "sha256:" + "ab" * 32
    assert entry_differences("release", release(artifact_digest=forged), entry) == [
        Difference("artifact_digest", forged, DIGEST)
    ]


def test_every_differing_member_is_named_in_record_order():
    entry = logged("release", release())
    record = release(version="6.6.6", release_id=8)
    assert [d.field for d in entry_differences("release", record, entry)] == ["release_id", "version"]


def test_a_member_the_entry_lacks_is_a_difference():
    entry = logged("release", release())
    assert entry_differences("release", {"envelope": "x"}, entry) == [Difference("envelope", "x", ABSENT)]


def test_json_values_are_compared_not_python_values():
    entry = {"v": 1, "type": "deployment", "release_id": True}
    assert entry_differences("deployment", {"release_id": 1}, entry) == [Difference("release_id", 1, True)]


def test_an_entry_of_another_type_differs_as_a_whole():
    entry = logged("status", {"project": "demo"})
    assert entry_differences("release", {"project": "demo"}, entry) == [
        Difference("type", "release", "status")
    ]


@pytest.mark.parametrize("version", [2, True, "1", None])
def test_an_entry_of_another_schema_version_differs_as_a_whole(version):
    entry = {**logged("release", release()), "v": version}
    assert entry_differences("release", release(), entry) == [Difference("v", ENTRY_SCHEMA_VERSION, version)]


@pytest.mark.parametrize("data", [b"[1]", b'{"v": 1, "v": 1}', b"\xff", b"{"])
def test_an_entry_that_is_not_one_strict_json_object_is_a_format_error(data):
    with pytest.raises(FormatError, match="log entry 4"):
        parse_entry(data, what="log entry 4")


def test_a_member_left_out_when_none_keeps_earlier_entries_as_they_were(monkeypatch):
    """A member a type gains later is left out of the body while None, so an entry logged before it
    existed still reads exactly as its record."""
    from verifier import entries

    row = entries.ENTRY_FIELDS["key_revoked"]
    grown = entries.EntryFields({**row.members, "reason": entries.LEFT_OUT_WHEN_NONE}, by=row.by)
    monkeypatch.setitem(entries.ENTRY_FIELDS, "key_revoked", grown)
    values = {"project": "demo", "key_id": "9e", "revoked_at": None}
    old_entry = {"v": entries.ENTRY_SCHEMA_VERSION, "type": "key_revoked", **values}
    body = entries.entry_body("key_revoked", {**values, "reason": None})
    assert body == values
    assert entries.entry_differences("key_revoked", body, old_entry) == []
    with_reason = entries.entry_body("key_revoked", {**values, "reason": "leaked"})
    assert with_reason["reason"] == "leaked"
    assert [d.field for d in entries.entry_differences("key_revoked", with_reason, old_entry)] == ["reason"]

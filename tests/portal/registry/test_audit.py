"""The self-audit compares every release, deployment and signing key with its log entry (the registry's
record audit, which the log's audit runs).

The registry's tables have no triggers: a database administrator can UPDATE, INSERT and DELETE their
rows directly. The tests do exactly that with raw SQL, then expect the audit to name the record and
the field.
"""

import logging

import pytest
from django.db import connection

from portal.registry import services as registry
from portal.registry.models import Deployment, Release, SigningKey
from portal.transparency import services, witnesses
from portal.transparency.context_processors import log_integrity
from portal.transparency.models import Witness
from tests.portal import factories
from verifier.cosignature import generate_cosigner_key, parse_cosigner_signer_key
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def q(name):
    return connection.ops.quote_name(name)


def raw_sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def update(model, pk, **values):
    """UPDATE one row of a registry table as a database administrator would, behind the ORM."""
    assignments = ", ".join(f"{q(column)} = %s" for column in values)
    raw_sql(f"UPDATE {model._meta.db_table} SET {assignments} WHERE id = %s", [*values.values(), pk])


def entry_index(kind, object_id):
    return factories.sequenced_entries().get(kind=kind, object_id=object_id).index


@pytest.fixture
def log(log_key_file):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, signing_key = factories.make_key(project)
    _, retired = factories.make_key(project)
    retired = registry.revoke_signing_key(retired)
    releases = [factories.make_release(project, private_key, f"1.{n}.0") for n in range(3)]
    deployment = factories.make_deployment(environment, releases[1])
    services.integrate()
    return {
        "releases": releases,
        "deployment": deployment,
        "key": signing_key,
        "retired": retired,
    }


def audit_fails(*expected, caplog):
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        run = services.audit()
    assert not run.ok, run.message
    for text in expected:
        assert text in run.message, run.message
    assert any(record.levelno == logging.CRITICAL for record in caplog.records)
    assert log_integrity(None)["log_integrity"]["ok"] is False
    return run


def test_records_that_match_their_entries_pass(log):
    run = services.audit()
    assert run.ok, run.message
    expected = (
        "Every record matches its log entries (releases: 3, deployments: 1, signing keys: 2, "
        "CI identities: 0, notes: 0, observers: 0, observer reports: 0, rebuilders: 0, rebuilds: 0, "
        "answers to rebuilds: 0, witnesses: 0)"
    )
    assert expected in run.message


def test_a_clean_log_passes_when_read_in_chunks_smaller_than_the_tables(log):
    run = services.audit(chunk_size=1)
    assert run.ok, run.message


def test_an_edited_release_digest_is_caught(log, caplog):
    release = log["releases"][0]
    forged = "sha256:" + "ab" * 32
    update(Release, release.pk, artifact_digest=forged)
    audit_fails(
        f"release {release.pk} (1.0.0) of project 'demo': artifact_digest is '{forged}' in the database "
        f"but '{release.artifact_digest}' in log entry {entry_index('release', release.pk)}",
        caplog=caplog,
    )


def test_an_edited_release_commit_is_caught(log, caplog):
    release = log["releases"][2]
    update(Release, release.pk, source_commit="f" * 40)
    audit_fails(
        f"release {release.pk} (1.2.0) of project 'demo': source_commit is '{'f' * 40}'", caplog=caplog
    )


def test_an_edited_version_is_caught_on_the_release_and_on_its_deployment(log, caplog):
    release, deployment = log["releases"][1], log["deployment"]
    update(Release, release.pk, version="6.6.6")
    audit_fails(
        f"release {release.pk} (6.6.6) of project 'demo': version is '6.6.6' in the database but '1.1.0'",
        f"deployment {deployment.pk} of project 'demo' (production): version is '6.6.6'",
        caplog=caplog,
    )


def test_an_edited_envelope_is_caught_even_with_its_stored_hash_left_alone(log, caplog):
    release = log["releases"][0]
    update(Release, release.pk, envelope=release.envelope.replace('"payload"', ' "payload"'))
    run = audit_fails(
        f"release {release.pk} (1.0.0) of project 'demo': envelope (its sha256) is", caplog=caplog
    )
    assert "envelope_sha256" not in run.message


def test_an_edited_envelope_and_its_stored_hash_are_caught(log, caplog):
    release = log["releases"][0]
    update(Release, release.pk, envelope="{}", envelope_sha256="0" * 64)
    audit_fails("envelope_sha256 is '" + "0" * 64, "envelope (its sha256) is", caplog=caplog)


def test_a_deployment_pointed_at_another_release_is_caught(log, caplog):
    deployment, other = log["deployment"], log["releases"][2]
    update(Deployment, deployment.pk, release_id=other.pk)
    audit_fails(
        f"deployment {deployment.pk} of project 'demo' (production): release_id is {other.pk} in the "
        f"database but {log['releases'][1].pk} in log entry {entry_index('deployment', deployment.pk)}",
        caplog=caplog,
    )


def test_a_moved_deployment_time_is_caught(log, caplog):
    deployment = log["deployment"]
    update(Deployment, deployment.pk, deployed_at=deployment.deployed_at.replace(year=2020))
    audit_fails(
        f"deployment {deployment.pk} of project 'demo' (production): deployed_at is '2020-", caplog=caplog
    )


def test_a_swapped_key_pem_is_caught(log, caplog):
    key = log["key"]
    update(SigningKey, key.pk, public_key_pem=generate_private_key("ed25519").public_key.pem)
    audit_fails(f"signing key {key.pk} ({key.short_id}…) of project 'demo': public_key_pem is", caplog=caplog)


def test_a_cleared_revocation_is_caught(log, caplog):
    retired = log["retired"]
    update(SigningKey, retired.pk, revoked_at=None)
    audit_fails(
        f"signing key {retired.pk} ({retired.short_id}…) of project 'demo': revoked_at is empty in the "
        f"database but '{services.format_time(retired.revoked_at)}' in log entry "
        f"{entry_index('key_revoked', retired.pk)}",
        caplog=caplog,
    )


def test_a_moved_revocation_is_caught(log, caplog):
    retired = log["retired"]
    update(SigningKey, retired.pk, revoked_at=retired.revoked_at.replace(year=2099))
    audit_fails(
        f"signing key {retired.pk} ({retired.short_id}…) of project 'demo': revoked_at is '2099-",
        caplog=caplog,
    )


def test_a_revocation_written_behind_the_logs_back_is_caught(log, caplog):
    key = log["key"]
    update(SigningKey, key.pk, revoked_at=key.created_at)
    audit_fails(
        f"signing key {key.pk} ({key.short_id}…) of project 'demo' has no key_revoked log entry",
        caplog=caplog,
    )


def add_witness(name="witness.example/w1"):
    key = parse_cosigner_signer_key(generate_cosigner_key(name))
    witness = witnesses.add_witness(name, key.verifier_key, "https://witness.example/w1/")
    services.integrate()
    return witness


def test_a_witness_whose_submission_prefix_was_changed_is_caught(log, caplog):
    witness = add_witness()
    update(Witness, witness.pk, url="https://elsewhere.example/")
    audit_fails(
        f"witness {witness.pk} (witness.example/w1): url is 'https://elsewhere.example/' in the database but "
        f"'https://witness.example/w1/' in log entry {entry_index('witness_added', witness.pk)}",
        caplog=caplog,
    )


def test_a_witness_removed_behind_the_logs_back_is_caught(log, caplog):
    witness = add_witness()
    update(Witness, witness.pk, removed_at=witness.added_at)
    audit_fails(f"witness {witness.pk} (witness.example/w1) has no witness_removed log entry", caplog=caplog)


def test_a_release_inserted_without_an_entry_is_caught(log, caplog):
    columns = [field.column for field in Release._meta.concrete_fields if field.column != "id"]
    copied = ", ".join("%s" if column == "version" else q(column) for column in columns)
    listed = ", ".join(q(column) for column in columns)
    raw_sql(
        f"INSERT INTO registry_release ({listed}) SELECT {copied} FROM registry_release WHERE id = %s",
        ["9.9.9", log["releases"][0].pk],
    )
    inserted = Release.objects.get(version="9.9.9")
    audit_fails(
        f"release {inserted.pk} (9.9.9) of project 'demo' has no release log entry: "
        "it was written behind the application's back",
        caplog=caplog,
    )


def test_a_deleted_release_is_caught(log, caplog):
    release = log["releases"][2]
    assert not release.deployments.exists()
    raw_sql("DELETE FROM registry_release WHERE id = %s", [release.pk])
    audit_fails(
        f"log entry {entry_index('release', release.pk)} (release) is for release {release.pk}, "
        "but there is no such release in the database",
        caplog=caplog,
    )


def test_a_deleted_key_is_caught(log, caplog):
    retired = log["retired"]
    raw_sql("DELETE FROM registry_signingkey WHERE id = %s", [retired.pk])
    run = audit_fails(f"is for signing key {retired.pk}, but there is no such signing key", caplog=caplog)
    assert "2 difference(s)" in run.message  # its key_added and its key_revoked entries


def test_a_long_list_of_findings_is_cut_short_and_counted(log, caplog):
    for release in log["releases"]:
        update(Release, release.pk, source_commit="e" * 40, repo_url="https://evil.example.org/x.git")
    run = audit_fails("6 difference(s) between the records and the log", "and 1 more", caplog=caplog)
    assert run.message.count("in the database but") == 5

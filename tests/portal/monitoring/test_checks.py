"""One check of one environment, link by link: green only when every link holds, else the first broken
link's reason. Real parts throughout: HTTP servers on loopback, git repositories, signatures, the log."""

import hashlib
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.monitoring.models import Observation, Status, status_changes, status_of
from portal.monitoring.runner import check_environment
from portal.registry.models import Release
from portal.transparency.services import parse_entry
from tests.helpers.gitserver import GitDaemon, add_commit, make_side_commit
from tests.helpers.liveserver import (
    DribbleServer,
    ErrorServer,
    HugeServer,
    LiveServer,
    RedirectLoopServer,
    RedirectToServer,
    SilentServer,
)
from tests.portal import factories
from verifier.digest import sha256_bytes

pytestmark = pytest.mark.django_db


def assert_flagged(observation, result, reason):
    """Red for evidence of a mismatch, amber for a check that could not be made; never green."""
    light = {"mismatch": "red", "unverifiable": "amber"}[result]
    assert (observation.result, observation.reason, observation.light) == (result, reason, light)
    assert observation.message


def insert_release_behind_the_log(project, private_key, signing_key, version, commit, artifact):
    """A release row written with raw SQL, as an intruder with database access would: no log entry."""
    envelope = json.dumps(
        factories.make_envelope(private_key, artifact=artifact, commit=commit, repo_url=project.repo_url)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Release._meta.db_table} (project_id, version, source_commit, repo_url, "
            "ci_build_url, artifact_name, artifact_digest, envelope, envelope_sha256, signer_key_id, "
            "registered_at, sigstore_bundle, sigstore_bundle_sha256, certificate_issuer, "
            "certificate_identity, source_ref) "
            "VALUES (%s, %s, %s, %s, '', 'app.tar.gz', %s, %s, %s, %s, %s, '', '', '', '', '')",
            [
                project.pk,
                version,
                commit,
                project.repo_url,
                sha256_bytes(artifact),
                envelope,
                hashlib.sha256(envelope.encode()).hexdigest(),
                signing_key.pk,
                timezone.now(),
            ],
        )
    return Release.objects.get(project=project, version=version)


# --- green ------------------------------------------------------------------------------------------


def test_green_when_every_link_holds(watched):
    observation = check_environment(watched.environment)

    assert (observation.result, observation.reason, observation.light) == ("verified", "", "green")
    assert observation.live_digest == observation.expected_digest == watched.release.artifact_digest
    assert observation.live_release == observation.expected_release == watched.release
    assert observation.ahead_by == 0
    assert "1.0.0" in observation.message
    assert observation.http_status == 200
    status = Status.objects.get(environment=watched.environment)
    assert status.as_api()["light"] == "green"
    assert status.as_api()["live_digest"] == watched.release.artifact_digest


def test_ahead_by_counts_the_commits_on_the_branch_after_the_release(watched):
    add_commit(watched.repo_path, "main", "later work")
    add_commit(watched.repo_path, "main", "more later work")

    assert check_environment(watched.environment).ahead_by == 2


def test_repository_served_by_git_daemon_is_checked_too(watched, tmp_path):
    with GitDaemon(tmp_path / "repos") as daemon:
        watched.project.repo_url = daemon.url_for("app.git")
        watched.project.save()

        assert check_environment(watched.environment).result == "verified"


# --- red: mismatch ----------------------------------------------------------------------------------


def test_server_running_an_unregistered_artifact_is_an_unrecorded_deploy(watched):
    watched.server.set_body({"artifact_digest": sha256_bytes(b"hand-built on the server")})

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "unregistered_artifact")
    assert f"project '{watched.project.slug}'" in observation.message
    assert observation.expected_digest == watched.release.artifact_digest
    assert observation.live_release is None


def test_server_running_another_registered_release_is_the_wrong_release(watched):
    older = factories.make_release(watched.project, watched.private_key, "0.9.0", commit=watched.shas[0])
    watched.serve(older)

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "wrong_release")
    assert "0.9.0" in observation.message and "1.0.0" in observation.message
    assert observation.live_release == older


def test_release_commit_missing_from_the_repository(watched):
    ghost = factories.make_release(watched.project, watched.private_key, "1.1.0", commit="ab" * 20)
    factories.make_deployment(watched.environment, ghost)
    watched.serve(ghost)

    assert_flagged(check_environment(watched.environment), "mismatch", "commit_missing")


def test_release_commit_not_on_the_protected_branch(watched):
    side = make_side_commit(watched.repo_path)
    unreviewed = factories.make_release(watched.project, watched.private_key, "1.1.0", commit=side)
    factories.make_deployment(watched.environment, unreviewed)
    watched.serve(unreviewed)

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "commit_not_on_branch")
    assert "'main'" in observation.message


def test_envelope_tampered_in_the_database_is_a_bad_signature(watched):
    envelope = json.loads(watched.release.envelope)
    signature = bytearray(envelope["signatures"][0]["sig"].encode())
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    envelope["signatures"][0]["sig"] = signature.decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Release._meta.db_table} SET envelope = %s WHERE id = %s",
            [json.dumps(envelope), watched.release.pk],
        )

    assert_flagged(check_environment(watched.environment), "mismatch", "bad_signature")


def test_release_signed_by_a_key_not_yet_trusted_at_registration_is_a_bad_signature(watched):
    watched.signing_key.valid_from = watched.release.registered_at + timedelta(days=1)
    watched.signing_key.save()

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "bad_signature")
    assert "not trusted" in observation.message


def test_record_disagreeing_with_its_signed_statement_is_a_bad_signature(watched):
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Release._meta.db_table} SET source_commit = %s WHERE id = %s",
            [watched.shas[0], watched.release.pk],
        )

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "bad_signature")
    assert "signed statement" in observation.message


def test_release_written_behind_the_logs_back_is_not_in_log(watched):
    sneaked = insert_release_behind_the_log(
        watched.project, watched.private_key, watched.signing_key, "6.6.6", watched.shas[-1], b"sneaked in"
    )
    factories.make_deployment(watched.environment, sneaked)
    watched.serve(sneaked)

    observation = check_environment(watched.environment)

    assert_flagged(observation, "mismatch", "not_in_log")
    assert "6.6.6" in observation.message


def test_nothing_deployed_is_unverifiable(db, git_repository):
    path, shas = git_repository
    project = factories.make_project(repo_url=path.as_uri())
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, commit=shas[-1])
    with LiveServer({"artifact_digest": release.artifact_digest}) as server:
        environment = factories.make_environment(project, live_url=server.url)

        assert_flagged(check_environment(environment), "unverifiable", "no_deployment")


# --- red: unverifiable ------------------------------------------------------------------------------


def test_repository_that_cannot_be_fetched_is_repo_unreachable(watched, tmp_path):
    watched.project.repo_url = (tmp_path / "nowhere.git").as_uri()
    watched.project.save()

    assert_flagged(check_environment(watched.environment), "unverifiable", "repo_unreachable")


@pytest.mark.parametrize(
    ("make_server", "reason"),
    [
        (lambda: ErrorServer(500), "unreachable"),
        (lambda: SilentServer(), "timeout"),
        (lambda: DribbleServer(), "timeout"),
        (lambda: HugeServer(), "too_large"),
        (lambda: RedirectLoopServer(), "bad_response"),
        (lambda: RedirectToServer("http://169.254.169.254/latest/meta-data/"), "forbidden_address"),
        (lambda: LiveServer(b"{not json", content_type="application/json"), "bad_response"),
    ],
    ids=["http-500", "silent", "dribble", "100MB", "redirect-loop", "redirect-to-metadata", "invalid-json"],
)
def test_hostile_endpoint_is_red_with_its_reason_within_the_timeout(watched, make_server, reason):
    with make_server() as hostile:
        watched.environment.live_url = hostile.url
        watched.environment.save()
        started = time.monotonic()

        observation = check_environment(watched.environment)

        assert time.monotonic() - started < 2 + 1
    assert_flagged(observation, "unverifiable", reason)
    assert observation.expected_digest == watched.release.artifact_digest


def test_closed_port_is_unreachable(watched):
    port = watched.server.port
    watched.server.stop()
    watched.environment.live_url = f"http://127.0.0.1:{port}/.well-known/vitrina/deployment"
    watched.environment.save()

    assert_flagged(check_environment(watched.environment), "unverifiable", "unreachable")


def test_metadata_address_is_refused_before_connecting(watched):
    watched.environment.live_url = "http://169.254.169.254/latest/meta-data/"
    watched.environment.save()
    started = time.monotonic()

    observation = check_environment(watched.environment)

    assert time.monotonic() - started < 0.5
    assert_flagged(observation, "unverifiable", "forbidden_address")


def test_loopback_is_forbidden_unless_private_addresses_are_allowed(watched, settings):
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = False

    assert_flagged(check_environment(watched.environment), "unverifiable", "forbidden_address")


# --- status and history -----------------------------------------------------------------------------


def test_status_is_unchecked_before_the_first_check(db):
    environment = factories.make_environment(factories.make_project())

    assert status_of(environment).as_api() == {
        "light": "none",
        "result": "unchecked",
        "reason": None,
        "message": "Not yet checked.",
        "checked_at": None,
        "live_digest": None,
        "expected_digest": None,
        "layers": {},
    }


def test_status_change_is_logged_and_unchanged_status_is_not(watched):
    first = check_environment(watched.environment)
    second = check_environment(watched.environment)
    watched.server.set_body({"artifact_digest": sha256_bytes(b"other")})
    third = check_environment(watched.environment)

    assert [first.changed_status, second.changed_status, third.changed_status] == [True, False, True]
    logged = factories.sequenced_entries().filter(kind="status").order_by("index")
    entries = [parse_entry(e.entry) for e in logged]
    assert [(e["result"], e["reason"]) for e in entries] == [
        ("verified", None),
        ("mismatch", "unregistered_artifact"),
    ]
    assert entries[1]["project"] == watched.project.slug
    assert entries[1]["environment"] == watched.environment.name
    assert entries[1]["live_digest"] == sha256_bytes(b"other")
    assert entries[1]["expected_digest"] == watched.release.artifact_digest
    assert factories.sequenced_entries().get(kind="status", object_id=third.pk)
    status = Status.objects.get(environment=watched.environment)
    assert status.changed_at == third.checked_at
    assert status.checked_at == third.checked_at
    assert status_changes(watched.environment, 10) == [third, first]


def test_a_change_of_reason_alone_is_a_change(watched):
    check_environment(watched.environment)
    watched.environment.live_url = "http://169.254.169.254/"
    watched.environment.save()
    check_environment(watched.environment)
    with ErrorServer(500) as broken:
        watched.environment.live_url = broken.url
        watched.environment.save()
        last = check_environment(watched.environment)

    assert last.changed_status
    assert factories.sequenced_entries().filter(kind="status").count() == 3


def test_same_claim_delivered_twice_writes_one_observation(watched):
    due = timezone.now()

    first = check_environment(watched.environment, due_at=due)
    again = check_environment(watched.environment, due_at=due)

    assert again == first
    assert Observation.objects.filter(environment=watched.environment).count() == 1
    assert watched.server.request_count == 1


def test_check_finishing_after_a_newer_one_does_not_overwrite_the_status(watched):
    from portal.monitoring.recording import record
    from portal.monitoring.rules import Finding

    newer = check_environment(watched.environment)
    stale = record(
        watched.environment,
        Finding(result="unverifiable", reason="timeout", message="late"),
        checked_at=newer.checked_at - timedelta(seconds=5),
        duration_ms=5000,
    )

    assert stale.pk and not stale.changed_status
    assert Status.objects.get(environment=watched.environment).result == "verified"


# --- caches -----------------------------------------------------------------------------------------


def test_envelope_tampered_after_a_green_check_is_still_caught(watched):
    """The memo of verified signatures is keyed by the envelope's hash: a changed envelope misses it."""
    assert check_environment(watched.environment).result == "verified"
    envelope = json.loads(watched.release.envelope)
    envelope["payload"] = envelope["payload"][:-4] + (
        "AAAA" if envelope["payload"][-4:] != "AAAA" else "BBBB"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Release._meta.db_table} SET envelope = %s WHERE id = %s",
            [json.dumps(envelope), watched.release.pk],
        )

    assert_flagged(check_environment(watched.environment), "mismatch", "bad_signature")


def test_repository_answer_is_kept_for_the_interval_without_git_then_asked_again(
    watched, settings, monkeypatch
):
    import verifier.repo

    settings.VITRINA_REPO_MIN_FETCH_INTERVAL = 1
    assert check_environment(watched.environment).result == "verified"
    from tests.helpers.gitserver import git

    git(watched.repo_path, "update-ref", "refs/heads/main", watched.shas[0])  # force-pushed away
    runs = []
    real_run = verifier.repo._run
    monkeypatch.setattr(
        verifier.repo, "_run", lambda *args, **kwargs: runs.append(args) or real_run(*args, **kwargs)
    )

    assert check_environment(watched.environment).result == "verified"  # inside the interval: kept
    assert runs == [], "a check inside the interval starts no git process"
    time.sleep(1.1)
    assert_flagged(check_environment(watched.environment), "mismatch", "commit_not_on_branch")
    assert runs


def test_repository_failure_is_not_kept(watched, settings, tmp_path):
    settings.VITRINA_REPO_MIN_FETCH_INTERVAL = 3600
    watched.project.repo_url = (tmp_path / "nowhere.git").as_uri()
    watched.project.save()
    assert_flagged(check_environment(watched.environment), "unverifiable", "repo_unreachable")
    watched.project.repo_url = watched.repo_path.as_uri()
    watched.project.save()

    assert check_environment(watched.environment).result == "verified"


# --- groups of claims -------------------------------------------------------------------------------


def make_group(watched, count):
    return [watched.environment, *watched.neighbours(count - 1)]


def test_group_of_claims_checks_each_once_and_a_redelivery_checks_none(watched):
    from portal.monitoring.runner import check_claims

    due = timezone.now()
    environments = make_group(watched, 4)
    claims = [(environment.pk, due) for environment in environments] + [(999_999, due)]

    first = check_claims(claims)
    again = check_claims(claims)

    assert first == again and first[-1] is None and None not in first[:-1]
    assert Observation.objects.count() == 4 and watched.server.request_count == 4
    for environment in environments:
        observation = Observation.objects.get(environment=environment)
        assert (observation.result, observation.due_at, observation.changed_status) == ("verified", due, True)
        assert Status.objects.get(environment=environment).result == "verified"


def test_group_reads_are_shared(watched, django_assert_max_num_queries):
    from portal.monitoring.runner import check_claims

    environments = make_group(watched, 5)  # the test server's listen backlog is 5
    check_claims([(environment.pk, None) for environment in environments])  # first checks: changes, logged
    due = timezone.now()

    # 7 shared reads (one the deployed releases' components, one the observers' recent reports, one the
    # rebuilds of the deployed releases); per environment at most: transaction (2 statements),
    # conditional UPDATE, INSERT.
    with django_assert_max_num_queries(7 + 5 * 4):
        check_claims([(environment.pk, due) for environment in environments])
    assert set(Observation.objects.filter(due_at=due).values_list("result", flat=True)) == {"verified"}


def test_group_finds_each_broken_link_on_its_own(watched):
    from portal.monitoring.runner import check_claims

    healthy, tampered, other = make_group(watched, 3)
    fixed = factories.make_release(watched.project, watched.private_key, "1.0.1", commit=watched.shas[-1])
    factories.make_deployment(other, fixed)  # deployed, but the server still runs 1.0.0
    with SilentServer() as silent, LiveServer({"artifact_digest": sha256_bytes(b"hand-built")}) as rogue:
        tampered.live_url = rogue.url
        tampered.save()
        hostile = factories.make_environment(watched.project, name="silent", live_url=silent.url)
        check_claims([(e.pk, None) for e in (hostile, healthy, tampered, other)])

    results = {o.environment_id: (o.result, o.reason) for o in Observation.objects.all()}
    assert results == {
        hostile.pk: ("unverifiable", "timeout"),
        healthy.pk: ("verified", ""),
        tampered.pk: ("mismatch", "unregistered_artifact"),
        other.pk: ("mismatch", "wrong_release"),
    }


def test_hostile_server_in_a_group_holds_up_no_other_environment(watched):
    from portal.monitoring.runner import check_claims

    environments = make_group(watched, 3)
    with SilentServer() as silent:
        hostile = factories.make_environment(watched.project, name="silent", live_url=silent.url)
        check_claims([(hostile.pk, None)] + [(e.pk, None) for e in environments])

    slow = Observation.objects.get(environment=hostile)
    for environment in environments:
        observation = Observation.objects.get(environment=environment)
        assert observation.pk < slow.pk, "recorded before the silent server's timeout"
        assert observation.duration_ms < 1500

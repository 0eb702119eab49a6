"""``vitrina-verify monitor`` against a running portal, as its own process, over a log with planted problems.

The log is built through the registry's services where they allow it, and around them where a problem has
to be planted (a record and its entry written directly, an envelope changed with SQL after it was logged),
then served by a real portal on 127.0.0.1. Each planted problem must be reported exactly once, on its
entry, with the right kind; a second run reads only the new entries; a history served later that does not
extend the remembered one is reported as a fork (or a rollback) quoting both signed checkpoints.
"""

import hashlib
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from portal.registry import services
from portal.registry.models import Deployment, Release
from portal.transparency import services as log
from portal.transparency.actors import actor
from portal.transparency.signing import verifier_key
from tests.helpers.gitserver import make_side_commit
from tests.portal import factories
from verifier import dsse, statement

ROOT = Path(__file__).resolve().parents[2]
FINDING = re.compile(r"(problem|notice) (-|\d+) ([a-z_]+): (.+)")

pytestmark = pytest.mark.django_db(transaction=True)


def monitor(url, state_dir, *options):
    """``python -m verifier monitor`` as its own process; ``(exit code, [(severity, index, kind)], stdout,
    stderr)``, the findings as printed."""
    result = subprocess.run(
        [
            sys.executable, "-m", "verifier", "monitor", "--portal", url, "--log-key", verifier_key(),
            "--state", str(state_dir), "--allow-private", *options,
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    found = [FINDING.fullmatch(line) for line in result.stdout.splitlines()]
    findings = [(m[1], None if m[2] == "-" else int(m[2]), m[3]) for m in found if m]
    return result.returncode, findings, result.stdout, result.stderr


def index_of(kind, record):
    """The index of ``record``'s entry (``entry_for`` sequences it first if need be)."""
    return log.entry_for(kind, record.pk).index


def release_around_the_service(project, private_key, signing_key, version, commit, token):
    """A release row and its entry written directly, as the registration never would (it checks the key
    was trusted then): the lowest layer that lets a revoked key's release into the log."""
    signed_envelope = factories.make_envelope(
        private_key, artifact=version.encode(), commit=commit, repo_url=project.repo_url
    )
    envelope = json.dumps(signed_envelope, separators=(",", ":"))
    signed = statement.parse_statement(dsse.parse_envelope(envelope).payload)
    with transaction.atomic():
        release = Release.objects.create(
            project=project,
            version=version,
            source_commit=signed.source_commit,
            repo_url=signed.source_uri,
            ci_build_url=signed.ci_build_url or "",
            artifact_name=signed.artifact_name or "",
            artifact_digest=signed.artifact_digest,
            envelope=envelope,
            envelope_sha256=hashlib.sha256(envelope.encode()).hexdigest(),
            signer_key=signing_key,
            **Release.authored_by(token, None),
            registered_at=timezone.now(),
        )
        log.append_entry(
            "release", services.release_entry_body(release, by=actor(token)), object_id=release.pk
        )
    return release


def deployment_without_flag(environment, release):
    """A deployment entered by hand whose entry does not say so: no ``by`` at all."""
    with transaction.atomic():
        deployment = Deployment.objects.create(
            environment=environment, release=release, deployed_at=timezone.now(), registered_at=timezone.now()
        )
        log.append_entry("deployment", services.deployment_entry_body(deployment), object_id=deployment.pk)
    return deployment


def change_envelope(release, private_key):
    """Replace a logged release's envelope with another valid one, behind the ORM's back."""
    other = json.dumps(
        factories.make_envelope(private_key, artifact=b"other bytes", repo_url=release.repo_url),
        separators=(",", ":"),
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_release SET envelope = %s WHERE id = %s", [other, release.pk])


@pytest.fixture
def demo(git_repo):
    """A project built from a real repository (main, and a commit on a side branch), its CI token, a key."""
    path, shas = git_repo
    project = factories.make_project("demo", repo_url=path.as_uri())
    token, _ = factories.make_token(project)
    private_key, _ = factories.make_key(project)
    return {
        "project": project,
        "environment": factories.make_environment(project, "production"),
        "token": token,
        "key": private_key,
        "main": shas[-1],
        "side": make_side_commit(path),
    }


def clean_release(demo, version, commit=None):
    return factories.make_release(
        demo["project"], demo["key"], version, commit=commit or demo["main"], token=demo["token"]
    )


def planted_log(demo):
    """The log with one of each problem; returns the findings the monitor must print, in log order."""
    project, environment, token = demo["project"], demo["environment"], demo["token"]
    first_key = project.signing_keys.get()
    expected = [("notice", index_of("key_added", first_key), "key_added")]

    release = clean_release(demo, "1.0.0")
    factories.make_deployment(environment, release, token=token)

    revoked_key, revoked = factories.make_key(project)
    services.revoke_signing_key(revoked)
    expected += [
        ("notice", index_of("key_added", revoked), "key_added"),
        ("notice", index_of("key_revoked", revoked), "key_revoked"),
    ]
    late = release_around_the_service(project, revoked_key, revoked, "1.1.0", demo["main"], token)
    expected.append(("problem", index_of("release", late), "untrusted_key"))

    side = clean_release(demo, "1.2.0", commit=demo["side"])
    deployed = factories.make_deployment(environment, side, token=token)
    expected.append(("problem", index_of("deployment", deployed), "unprotected_branch"))

    unflagged = deployment_without_flag(environment, release)
    expected.append(("problem", index_of("deployment", unflagged), "unattributed"))

    operator = get_user_model().objects.create_user("ana")
    by_hand = factories.make_deployment(environment, release, user=operator)
    expected.append(("notice", index_of("deployment", by_hand), "entered_by_hand"))

    tampered = clean_release(demo, "1.3.0")
    expected.append(("problem", index_of("release", tampered), "release_not_verified"))
    log.integrate()
    change_envelope(tampered, demo["key"])
    return sorted(expected, key=lambda finding: finding[1])


class Webhook:
    """A loopback server that records the JSON documents POSTed to it."""

    def __init__(self):
        self.received = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                """Keep test output clean."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_each_planted_problem_is_reported_once_and_posted_and_a_second_run_reads_only_new_entries(
    live_server, log_key_file, demo, tmp_path
):
    expected = planted_log(demo)
    with Webhook() as webhook:
        code, findings, out, err = monitor(live_server.url, tmp_path / "state", "--webhook", webhook.url)

    assert (code, err) == (1, ""), out
    assert findings == expected, out
    size = log.latest_checkpoint().size
    assert f"in {size} new entries of " in out and f"(entries 0 to {size - 1}, tree size 0 -> {size})" in out
    lines = out.splitlines()
    revoked_release = next(line for line in lines if " untrusted_key: " in line)
    assert "release 1.1.0 of demo" in revoked_release and "was revoked at" in revoked_release
    side_deployment = next(line for line in lines if " unprotected_branch: " in line)
    assert demo["side"] in side_deployment and "not on the protected branch main" in side_deployment
    tampered = next(line for line in lines if " release_not_verified: " in line)
    assert "release 1.3.0 of demo" in tampered and "log entry:" in tampered
    assert "by operator 'ana'" in next(line for line in lines if " entered_by_hand: " in line)
    [posted] = webhook.received
    assert posted["portal"] == live_server.url
    assert posted["checkpoint"] == log.latest_checkpoint().note
    assert [(f["severity"], f["index"], f["kind"]) for f in posted["findings"]] == expected
    assert [f["message"] for f in posted["findings"]] == [line.split(": ", 1)[1] for line in lines[:-1]]

    release = clean_release(demo, "1.4.0")
    factories.make_deployment(demo["environment"], release, token=demo["token"])
    log.integrate()
    code, findings, out, err = monitor(live_server.url, tmp_path / "state")

    assert (code, findings, err) == (0, [], ""), out
    assert "RESULT: no findings in 2 new entries of " in out
    assert f"(entries {size} to {size + 1}, tree size {size} -> {size + 2})" in out
    assert "2 proof bundles" in out


def test_a_monitor_of_other_projects_reports_nothing_of_this_one(live_server, log_key_file, demo, tmp_path):
    planted_log(demo)

    code, findings, out, err = monitor(live_server.url, tmp_path / "state", "--project", "elsewhere")

    assert (code, findings, err) == (0, [], ""), out
    assert "0 proof bundles" in out


def test_a_history_that_does_not_extend_the_remembered_one_is_a_fork_and_nothing_advances(
    live_server, log_key_file, demo, tmp_path
):
    release = clean_release(demo, "1.0.0")
    factories.make_deployment(demo["environment"], release, token=demo["token"])
    log.integrate()
    remembered = log.latest_checkpoint().note
    code, findings, out, _ = monitor(live_server.url, tmp_path / "state")
    assert (code, [kind for _, _, kind in findings]) == (1, ["key_added"]), out

    # Another history under the same log key, longer than the remembered one.
    call_command("flush", interactive=False)
    again = {**demo, "project": factories.make_project("demo", repo_url=demo["project"].repo_url)}
    again["token"], _ = factories.make_token(again["project"])
    again["key"], _ = factories.make_key(again["project"])
    for version in ("2.0.0", "2.1.0", "2.2.0"):
        clean_release(again, version)
    log.integrate()
    served = log.latest_checkpoint().note

    code, findings, out, err = monitor(live_server.url, tmp_path / "state")

    assert (code, findings, err) == (1, [("problem", None, "fork")], ""), out
    [line] = [line for line in out.splitlines() if line.startswith("problem - fork: ")]
    assert json.dumps(remembered, ensure_ascii=False) in line
    assert json.dumps(served, ensure_ascii=False) in line
    [kept] = (tmp_path / "state").glob("fork-*.txt")
    assert remembered in kept.read_text() and served in kept.read_text()
    assert "the remembered checkpoint stays" in out

    code, findings, out, _ = monitor(live_server.url, tmp_path / "state")
    assert (code, findings) == (1, [("problem", None, "fork")]), out

    # And one shorter than the remembered one: the log went back.
    call_command("flush", interactive=False)
    factories.make_key(factories.make_project("demo", repo_url=demo["project"].repo_url))
    log.integrate()

    code, findings, out, _ = monitor(live_server.url, tmp_path / "state")

    assert (code, findings) == (1, [("problem", None, "rollback")]), out
    assert json.dumps(remembered, ensure_ascii=False) in out


def test_a_keyless_release_is_checked_through_its_certificate_and_its_ref_against_the_branch(
    live_server, log_key_file, tmp_path
):
    """A real Sigstore bundle (built by GitHub Actions from refs/heads/main), trusted by an identity that
    accepts any branch, deployed by a project whose protected branch is another."""
    project = factories.make_keyless_project("attest-demo", ref="refs/heads/*")
    project.protected_branch = "stable"
    project.save()
    token, _ = factories.make_token(project)
    bundle = factories.sigstore_testdata("reusable-workflow-attestation.sigstore.json").decode()
    release, _ = services.register_release(project, version="0.0.0", sigstore_bundle=bundle, token=token)
    environment = factories.make_environment(project, "production")
    deployment = factories.make_deployment(environment, release, token=token)
    log.integrate()

    code, findings, out, _ = monitor(live_server.url, tmp_path / "state")  # stderr: sigstore's warnings

    assert code == 1, out
    assert findings == [
        ("notice", index_of("identity_added", project.identities.get()), "identity_added"),
        ("problem", index_of("deployment", deployment), "unprotected_branch"),
    ], out
    assert "built in CI from refs/heads/main, not from the protected branch stable" in out

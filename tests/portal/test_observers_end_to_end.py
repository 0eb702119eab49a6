"""Independent observers against a running portal: ``python -m verifier observe --publish``, run as
separate processes with their own keys and tokens, check a real environment (a live endpoint and a web
site on 127.0.0.1) from outside the portal and post signed observations that the portal records and logs.

The targeted attack: a site that serves a modified script to everyone except Vitrina's monitor (told
apart by its User-Agent). The portal's own check sees the right file; the observers see the other one,
report it naming the file, and their reports turn the environment's light red.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.monitoring.models import Status
from portal.monitoring.runner import check_environment
from portal.registry import services
from portal.registry.models import ObserverReport
from portal.transparency.signing import verifier_key
from tests.helpers.liveserver import LiveServer
from tests.helpers.site import SiteServer, js, page, served_list
from tests.portal import factories
from verifier.keys import generate_private_key

ROOT = Path(__file__).resolve().parents[2]
INDEX = '<!doctype html><title>Vote</title><script src="/static/app.js"></script><script>boot()</script>'
SITE = {"/": page(INDEX), "/static/app.js": js(b"function boot() {}")}
BOOT = hashlib.sha256(b"boot()").hexdigest()
OBSERVERS = ("Universidad de la República", "la diaria")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(live_server, log_key_file, git_repo, tmp_path, settings):
    """A project whose environment runs a signed web release on a real live endpoint and a real site,
    and two registered observers, each with its own key file and token."""
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = True
    path, shas = git_repo
    project = factories.make_project("vote", repo_url=path.as_uri())
    private_key, _ = factories.make_key(project)
    with SiteServer(SITE) as site:
        release = factories.make_release(
            project,
            private_key,
            "2.0.0",
            commit=shas[-1],
            served_files=served_list(SITE),
            inline_scripts=[BOOT],
        )
        with LiveServer({"artifact_digest": release.artifact_digest}) as live:
            environment = factories.make_environment(
                project, "production", live_url=live.url, site_url=site.base_url, entry_pages="/"
            )
            factories.make_deployment(environment, release)
            observers = []
            for n, name in enumerate(OBSERVERS):
                key = generate_private_key("ed25519" if n == 0 else "ecdsa-p256")
                key_file = tmp_path / f"observer-{n}.pem"
                key_file.write_text(key.private_pem())
                observer, token = services.add_observer(name, key.public_key.pem)
                observers.append((observer, token, key_file, tmp_path / f"state-{n}"))
            yield {
                "url": live_server.url,
                "environment": environment,
                "release": release,
                "site": site,
                "observers": observers,
            }


def observer_process(url, project, key_file, token, *state):
    """``observe --publish`` of ``project``'s production as a separate process, the token in its
    environment; ``state`` is ``("--state-dir", DIR)`` or ``("--no-state",)``."""
    argv = [
        sys.executable, "-m", "verifier", "observe", "--portal", url, "--project", project,
        "--environment", "production", "--key", str(key_file), "--publish", "--allow-private",
        "--log-key", verifier_key(), *state,
    ]  # fmt: skip
    env = {**os.environ, "VITRINA_OBSERVER_TOKEN": token}
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process):
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def observe_all(stack):
    """Run ``observe --publish`` for every observer at once, each a separate process; their results."""
    processes = [
        observer_process(stack["url"], "vote", key_file, token, "--state-dir", str(state_dir))
        for _observer, token, key_file, state_dir in stack["observers"]
    ]
    return [finished(process) for process in processes]


def logged(report):
    return factories.sequenced_entries().filter(kind="observer_report", object_id=report.pk).exists()


def test_two_observers_see_the_deployed_release_and_their_reports_are_recorded_and_logged(stack):
    for code, out, err in observe_all(stack):
        assert code == 0, out + err
        assert "PASS  release signature" in out and "PASS  served files: " in out
        assert "RESULT: verified." in out
        assert "published: observer report" in out and "log index" in out
    reports = ObserverReport.objects.filter(environment=stack["environment"])
    assert sorted(report.observer.name for report in reports) == sorted(OBSERVERS)
    for report in reports:
        assert (report.result, report.reason) == ("verified", "")
        assert report.deployment.release == stack["release"]
        assert report.live_digest == report.expected_digest == stack["release"].artifact_digest
        assert (report.served_files_checked, report.served_files_matched) == (1, 1)
        assert logged(report)
    assert check_environment(stack["environment"]).result == "verified"


def test_a_script_changed_for_everyone_but_the_monitor_is_reported_by_the_observers_and_turns_red(stack):
    stack["site"].only_for_others["/static/app.js"] = js(b"function boot() { steal() }")
    assert check_environment(stack["environment"]).result == "verified"  # the monitor is fooled

    for code, out, err in observe_all(stack):
        assert code == 1, out + err
        assert "FAIL  served files:" in out and "/static/app.js" in out
        assert "RESULT: MISMATCH (served_file_mismatch)." in out
        assert "published: observer report" in out
    reports = ObserverReport.objects.filter(environment=stack["environment"])
    assert len(reports) == 2
    for report in reports:
        assert (report.result, report.reason) == ("mismatch", "served_file_mismatch")
        assert "/static/app.js" in report.message
        assert (report.served_files_checked, report.served_files_matched) == (1, 0)
        assert logged(report)

    observation = check_environment(stack["environment"])
    assert (observation.result, observation.reason) == ("mismatch", "observers_disagree")
    status = Status.objects.get(environment=stack["environment"])
    assert (status.result, status.reason) == ("mismatch", "observers_disagree")
    assert any(name in observation.message for name in OBSERVERS)


def test_an_observer_token_without_its_key_is_refused_and_nothing_is_recorded(stack, tmp_path):
    """A token is not enough: the observation must be signed with the key the portal registered."""
    _observer, token, _key_file, state_dir = stack["observers"][0]
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(generate_private_key("ed25519").private_pem())
    code, out, err = finished(observer_process(stack["url"], "vote", stranger, token, "--no-state"))
    assert code == 3, out + err
    assert "lists no active observer with key" in err
    assert not ObserverReport.objects.exists()


def test_a_keyless_release_is_observed_through_its_sigstore_bundle(live_server, log_key_file, tmp_path):
    """The release's statement comes from its Sigstore bundle, verified offline again by the observer."""
    project = factories.make_keyless_project("attest-demo")
    bundle = factories.sigstore_testdata("reusable-workflow-attestation.sigstore.json").decode()
    release, _ = services.register_release(project, None, version="0.0.0", sigstore_bundle=bundle)
    key = generate_private_key("ed25519")
    key_file = tmp_path / "observer.pem"
    key_file.write_text(key.private_pem())
    _observer, token = services.add_observer("Universidad de la República", key.public_key.pem)
    with (
        LiveServer({"artifact_digest": release.artifact_digest}) as live,
        SiteServer({"/": page("<!doctype html><title>Demo</title><p>No scripts.")}) as site,
    ):
        environment = factories.make_environment(
            project, "production", live_url=live.url, site_url=site.base_url
        )
        factories.make_deployment(environment, release)
        code, out, err = finished(
            observer_process(live_server.url, "attest-demo", key_file, token, "--no-state")
        )
    assert code == 0, out + err
    assert "PASS  release signature: Sigstore bundle verifies offline" in out
    assert "PASS  served files: " in out
    report = ObserverReport.objects.get(environment=environment)
    assert (report.result, report.served_files_checked) == ("verified", 0)
    assert logged(report)

"""Vitrina watching itself: ``manage.py watchself`` and a green check of its own endpoint."""

import json
import stat

import pytest
from django.core.management import call_command

from portal.monitoring import selfwatch
from portal.monitoring.runner import check_environment
from portal.registry.models import Deployment, Project, Release, SigningKey
from tests.helpers.gitserver import add_commit, make_repo


@pytest.fixture
def self_build(settings, tmp_path):
    """A build manifest naming a commit of a real repository, as a packaged Vitrina would have."""
    repo = tmp_path / "vitrina.git"
    commit = make_repo(repo, commits=2)[-1]
    manifest = tmp_path / "build.json"
    manifest.write_text(json.dumps({"artifact_digest": "sha256:" + "5a" * 32, "source_commit": commit}))
    settings.VITRINA_BUILD_MANIFEST = str(manifest)
    settings.VITRINA_SELF_REPO_URL = repo.as_uri()
    settings.VITRINA_SELF_KEY_FILE = str(tmp_path / "var" / "self-signing.key")
    selfwatch.running_deployment.cache_clear()
    yield manifest, repo
    selfwatch.running_deployment.cache_clear()


@pytest.mark.django_db
def test_watchself_registers_vitrina_once(self_build, settings):
    call_command("watchself", stdout=open("/dev/null", "w"))
    call_command("watchself", stdout=open("/dev/null", "w"))

    project = Project.objects.get(slug="vitrina")
    environment = project.environments.get(name="local")
    assert environment.live_url == settings.SITE_URL + "/.well-known/vitrina/deployment"
    assert Release.objects.filter(project=project).count() == 1
    assert Deployment.objects.filter(environment=environment).count() == 1
    assert SigningKey.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_signing_key_stays_in_a_private_file(self_build, settings):
    selfwatch.watch_self()

    key_path = selfwatch.key_file()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    private_pem = key_path.read_text()
    assert "PRIVATE KEY" in private_pem
    assert "PRIVATE" not in SigningKey.objects.get(project__slug="vitrina").public_key_pem


@pytest.mark.django_db
def test_new_code_is_registered_and_deployed_as_a_new_release(self_build):
    manifest, repo = self_build
    selfwatch.watch_self()
    commit = add_commit(repo, "main", "new feature")
    manifest.write_text(json.dumps({"artifact_digest": "sha256:" + "6b" * 32, "source_commit": commit}))
    selfwatch.running_deployment.cache_clear()

    environment, release, deployment = selfwatch.watch_self()

    assert release.source_commit == commit
    assert environment.latest_deployment() == deployment


@pytest.mark.django_db(transaction=True)
def test_vitrina_checking_itself_is_green(self_build, settings, live_server):
    settings.SITE_URL = live_server.url
    environment, _, _ = selfwatch.watch_self()

    observation = check_environment(environment)

    assert (observation.result, observation.reason) == ("verified", ""), observation.message


def test_computed_self_report_names_the_checked_out_commit(settings):
    settings.VITRINA_BUILD_MANIFEST = ""
    selfwatch.running_deployment.cache_clear()
    try:
        running = selfwatch.running_deployment()
    finally:
        selfwatch.running_deployment.cache_clear()

    assert running["artifact_digest"] == selfwatch.source_tree_digest(settings.BASE_DIR)
    assert running["source_commit"] == selfwatch.git_head(settings.BASE_DIR)
    assert running["version"].endswith("+" + running["artifact_digest"][7:19])

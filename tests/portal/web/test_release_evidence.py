"""A release's page shows its own evidence: signed, logged, on the protected branch, running where, built
by; an off-branch release says so in red at the top. The repository is asked once the release is
registered (a task queued by name, run here eagerly), over a real git transport, never on a page view."""

import html
import json
import re

import pytest
from django.db import connection

from portal.celery import app
from portal.monitoring import releases
from portal.monitoring.models import ReleaseRepositoryCheck, Status
from portal.registry.models import Release
from tests.helpers.gitserver import GitDaemon, free_port, make_repo, make_side_commit
from tests.portal import factories

pytestmark = pytest.mark.django_db

WARNING = {
    "en": "Warning: this version was not built from reviewed code",
    "es": "Atención: esta versión no se construyó a partir de código revisado",
}
VERIFIER_REJECTS = {"en": "The verifier rejects it (FAIL)", "es": "El verificador la rechaza (FAIL)"}


@pytest.fixture(autouse=True)
def repository_settings(settings, tmp_path):
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = True
    settings.VITRINA_REPO_CACHE_DIR = str(tmp_path / "repo-cache")
    settings.VITRINA_REPO_MIN_FETCH_INTERVAL = 0
    settings.VITRINA_REPO_TIMEOUT = 10
    return settings


@pytest.fixture
def served(tmp_path):
    """A repository with three commits on main and one on a side branch, served by ``git daemon``."""
    path = tmp_path / "served" / "city.git"
    shas = make_repo(path, commits=3)
    side = make_side_commit(path)
    with GitDaemon(tmp_path / "served") as daemon:
        yield daemon.url_for("city.git"), shas, side


@pytest.fixture
def eager():
    """Tasks queued by name run in this process, as a worker would run them."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def page(client, url, language="en"):
    return html.unescape(client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode())


def register_through_the_api(client, project, private_key, commit, version):
    """Register as CI does, and run what was queued once the registration committed."""
    raw = factories.make_token(project)[1]
    envelope = factories.make_envelope(private_key, commit=commit, repo_url=project.repo_url)
    response = client.post(
        "/api/v1/releases/",
        data=json.dumps({"envelope": envelope, "version": version}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    return Release.objects.get(project=project, version=version)


def test_registering_a_release_queues_its_repository_check_by_name(
    client, served, eager, django_capture_on_commit_callbacks
):
    url, shas, _ = served
    project = factories.make_project("city", repo_url=url)
    private_key, _ = factories.make_key(project)
    with django_capture_on_commit_callbacks(execute=True):
        release = register_through_the_api(client, project, private_key, shas[1], "2.0.0")

    check = ReleaseRepositoryCheck.objects.get(release=release)
    assert (check.on_branch, check.reason, check.ahead_by) == (True, "", 1)


def test_an_off_branch_release_is_red_at_the_top_of_its_page_in_both_languages(
    client, served, eager, django_capture_on_commit_callbacks
):
    url, _, side = served
    project = factories.make_project("city", repo_url=url)
    private_key, _ = factories.make_key(project)
    with django_capture_on_commit_callbacks(execute=True):
        release = register_through_the_api(client, project, private_key, side, "2.1.0-rc.1")

    check = ReleaseRepositoryCheck.objects.get(release=release)
    assert (check.on_branch, check.reason) == (False, "commit_not_on_branch")
    for language in ("en", "es"):
        text = page(client, release.get_absolute_url(), language)
        warning = text.index(WARNING[language])
        assert warning < text.index('id="evidence-heading"')
        assert VERIFIER_REJECTS[language] in text
        assert 'class="evidence-alert"' in text
    text = page(client, release.get_absolute_url())
    icon = '<img src="/static/icons/mismatch.svg" alt="" width="16" height="16">'
    assert f'<span class="light light-red result-mismatch">{icon} no</span>' in text
    assert "never accepted into the reviewed main line" in text


def test_an_on_branch_release_says_yes_and_has_no_warning(client, served):
    url, shas, _ = served
    project = factories.make_project("city", repo_url=url)
    private_key, signing_key = factories.make_key(project, label="CI key 2026")
    release = factories.make_release(project, private_key, "2.0.0", commit=shas[2])
    releases.check_release(release)
    factories.sequenced_entries()  # checked since: its entry has its index

    text = page(client, release.get_absolute_url())
    evidence = text[
        text.index('id="evidence-heading"') : text.index("</dl>", text.index('id="evidence-heading"'))
    ]
    assert evidence.count("light-green result-verified") == 3  # signed, logged, on the branch
    assert evidence.count("> yes</span>") == 3
    assert "Signed with the project's key CI key 2026 (Ed25519)" in evidence
    assert "on the protected branch “main”" in evidence
    assert WARNING["en"] not in text
    spanish = page(client, release.get_absolute_url(), "es")
    assert spanish.count("> sí</span>") == 3


def test_a_release_never_asked_about_says_not_checked_yet_without_a_warning(client):
    project = factories.make_project("city")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0")

    text = page(client, release.get_absolute_url())
    assert "light-none result-unchecked" in text
    assert re.search(r"not checked yet</span>\s+The repository has not been asked yet", text)
    assert WARNING["en"] not in text


def test_a_repository_out_of_reach_is_amber_and_asked_again_by_the_schedule(client, tmp_path, eager):
    path = tmp_path / "later" / "city.git"
    shas = make_repo(path, commits=2)
    port = free_port()
    project = factories.make_project("city", repo_url=f"git://127.0.0.1:{port}/city.git")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0", commit=shas[0])
    answered = factories.make_release(project, private_key, "1.9.0", commit=shas[0])
    ReleaseRepositoryCheck.objects.create(release=answered, on_branch=True)

    assert releases.check_unanswered() == 1  # the answered release is not asked again
    check = ReleaseRepositoryCheck.objects.get(release=release)
    assert (check.on_branch, check.reason) == (None, "repo_unreachable")
    text = page(client, release.get_absolute_url())
    assert "light-amber result-unverifiable" in text
    assert re.search(r"could not check</span>\s+We could not reach the public repository", text)
    assert "This is not evidence of tampering" in text
    assert WARNING["en"] not in text

    daemon = GitDaemon(tmp_path / "later")
    daemon.port = port
    with daemon:
        app.tasks["portal.monitoring.tasks.check_unanswered_releases"].delay()
    assert ReleaseRepositoryCheck.objects.filter(release=release).first().on_branch is True
    assert releases.unanswered() == []


def test_a_page_view_never_asks_the_repository(client, served):
    url, shas, _ = served
    project = factories.make_project("city", repo_url=url)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0", commit=shas[2])

    client.get(release.get_absolute_url())
    assert not ReleaseRepositoryCheck.objects.exists()


def test_the_page_says_where_the_release_runs_now_with_each_light(client):
    project = factories.make_project("city")
    private_key, _ = factories.make_key(project)
    old = factories.make_release(project, private_key, "1.0.0")
    new = factories.make_release(project, private_key, "2.0.0")
    production = factories.make_environment(project, "production")
    staging = factories.make_environment(project, "staging")
    factories.make_deployment(production, old)
    factories.make_deployment(staging, old)
    factories.make_deployment(staging, new)
    Status.objects.create(
        environment=staging, result="mismatch", reason="wrong_release", checked_at=new.registered_at
    )

    running = page(client, new.get_absolute_url())
    running = running[running.index("Running now") : running.index("Built by")]
    assert 'href="/p/city/staging/"' in running
    assert "/p/city/production/" not in running
    assert "light-red result-mismatch" in running
    old_page = page(client, old.get_absolute_url())
    assert (
        'href="/p/city/production/"' in old_page[old_page.index("Running now") : old_page.index("Built by")]
    )


def test_logged_says_the_log_index_and_links_the_entry(client):
    project = factories.make_project("city")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0")
    index = factories.sequenced_entries().get(kind="release", object_id=release.pk).index
    text = page(client, release.get_absolute_url())
    assert f"Entry #{index} of the public log" in text
    assert f'href="/log/?entry={index}#entry-{index}"' in text
    assert 'href="https://ci.example.org/runs/1"' in text[text.index("Built by") :]


def test_a_release_whose_entry_is_still_queued_is_not_called_missing_from_the_log(client):
    project = factories.make_project("city")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0")  # its entry not numbered yet
    text = page(client, release.get_absolute_url())
    assert "its entry gets its number within a second" in text
    assert "missing from the public record" not in text and "light-red" not in text


def test_a_release_whose_stored_signature_no_longer_verifies_says_no(client):
    project = factories.make_project("city")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0")
    envelope = json.loads(release.envelope)
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][::-1]
    with connection.cursor() as cursor:  # past the immutability trigger, as an intruder would
        cursor.execute(
            f"UPDATE {Release._meta.db_table} SET envelope = %s WHERE id = %s",
            [json.dumps(envelope), release.pk],
        )

    text = page(client, release.get_absolute_url())
    signed = text[text.index("Signed by the project") : text.index("In the public log")]
    assert "light-red result-mismatch" in signed
    assert "we cannot tell who built it" in signed


def test_the_deployment_page_shows_the_release_evidence_and_the_warning(client, served):
    url, _, side = served
    project = factories.make_project("city", repo_url=url)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.1.0", commit=side)
    releases.check_release(release)
    deployment = factories.make_deployment(factories.make_environment(project), release)

    text = page(client, deployment.get_absolute_url())
    assert WARNING["en"] in text
    assert re.search(r'id="evidence-heading"', text)


def test_the_schedule_and_the_registration_queue_registered_task_names():
    from django.conf import settings

    scheduled = settings.CELERY_BEAT_SCHEDULE["monitoring-check-unanswered-releases"]["task"]
    assert {scheduled, releases.CHECK_RELEASE_REPOSITORY} <= set(app.tasks)

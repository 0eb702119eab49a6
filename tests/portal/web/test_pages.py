"""The public pages say what runs where, in plain words, and never show green without a check."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from portal.transparency.models import AuditRun
from tests.portal import factories

pytestmark = pytest.mark.django_db

CHECKED = datetime.datetime(2026, 3, 14, 9, 26, 53, tzinfo=datetime.UTC)


@pytest.fixture
def deployed():
    """A project with a release declared deployed to production by a CI pipeline; nothing checked yet."""
    project = factories.make_project(
        "city-portal", name="City Portal", description="Permits and taxes online."
    )
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    private_key, signing_key = factories.make_key(project)
    token, _raw = factories.make_token(project, name="GitHub Actions")
    release = factories.make_release(project, private_key, "2.4.1", token=token)
    deployment = factories.make_deployment(
        production, release, token=token, pipeline_run_url="https://ci.example.org/runs/77"
    )
    return project, production, release, deployment, signing_key


def set_status(environment, result, reason="", **fields):
    fields.setdefault("checked_at", CHECKED)
    return Status.objects.create(environment=environment, result=result, reason=reason, **fields)


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_home_lists_projects_environments_versions_and_short_digests(client, deployed):
    project, production, release, _, _ = deployed
    html = page(client, "/")
    assert "City Portal" in html
    assert 'href="/p/city-portal/production/"' in html
    assert "2.4.1" in html
    assert release.artifact_digest[:19] in html
    assert "no deployment declared" in html  # staging


def test_unchecked_environment_is_not_yet_checked_and_never_green(client, deployed):
    html = page(client, "/")
    assert "not yet checked" in html
    assert "light-green" not in html
    assert "result-unchecked" in html


def test_a_verified_status_without_a_check_time_is_still_not_green(client, deployed):
    _, production, *_ = deployed
    set_status(production, "verified", checked_at=None)
    html = page(client, "/")
    assert "light-green" not in html
    assert "not yet checked" in html


def test_a_verified_environment_is_green_with_icon_word_and_check_time(client, deployed):
    _, production, *_ = deployed
    set_status(production, "verified")
    html = page(client, "/")
    assert (
        '<span class="light light-green result-verified"><img src="/static/icons/verified.svg" alt=""' in html
    )
    assert "verified</span>" in html
    assert '<time datetime="2026-03-14T09:26:53Z">14 Mar 2026, 06:26 (UTC−3) · ' in html


def test_a_mismatch_is_red_with_the_plain_sentence(client, deployed):
    project, production, *_ = deployed
    set_status(
        production, "mismatch", "unregistered_artifact", message="live digest sha256:ab… matches no release"
    )
    for url in (f"/p/{project.slug}/", f"/p/{project.slug}/production/"):
        html = page(client, url)
        assert "light-red result-mismatch" in html
        assert "mismatch" in html
        assert "The server says it runs a version that was never published." in html


def test_could_not_verify_is_amber_and_told_apart_from_a_mismatch(client, deployed):
    project, production, *_ = deployed
    set_status(production, "unverifiable", "unreachable", message="connection refused")
    html = page(client, f"/p/{project.slug}/production/")
    assert "light-amber result-unverifiable" in html
    assert "icons/unverifiable.svg" in html
    assert "could not verify" in html
    assert "We could not reach the server." in html
    # The engineers' message is a technical detail, behind the plain sentence.
    assert "<summary>Technical detail</summary>\n    <p>connection refused</p>" in html


def test_project_page_shows_description_repository_branch_and_recent_releases(client, deployed):
    project, _, release, _, _ = deployed
    html = page(client, "/p/city-portal/")
    assert "Permits and taxes online." in html
    assert 'href="https://git.example.org/city-portal"' in html
    assert "<code>main</code>" in html
    assert 'href="/p/city-portal/releases/2.4.1/"' in html
    assert "by the pipeline token “GitHub Actions”" in html


def test_environment_page_compares_what_the_server_said_with_what_was_expected(client, deployed):
    project, production, release, deployment, _ = deployed
    set_status(
        production,
        "mismatch",
        "wrong_release",
        live_digest="sha256:" + "f" * 64,
        live_commit="c" * 40,
        live_version="2.3.0",
        expected_digest=release.artifact_digest,
        ahead_by=3,
    )
    html = page(client, "/p/city-portal/production/")
    assert "sha256:" + "f" * 64 in html
    assert release.artifact_digest in html
    assert "c" * 40 in html
    assert "2.3.0" in html
    assert "The server runs a different published version than the one last declared deployed." in html
    assert "has 3 newer commits than the version running here" in html


def test_environment_page_shows_deploy_history_with_pipeline_links_and_log_indexes(client, deployed):
    project, production, release, deployment, _ = deployed
    index = factories.sequenced_entries().get(kind="deployment", object_id=deployment.pk).index
    html = page(client, "/p/city-portal/production/")
    assert f'href="/deployments/{deployment.pk}/"' in html
    assert 'href="https://ci.example.org/runs/77"' in html
    assert f">#{index}</a>" in html
    assert "by the pipeline token “GitHub Actions”" in html


def test_environment_page_lists_recent_observations_newest_first(client, deployed):
    _, production, *_ = deployed
    for minute, (result, reason) in enumerate([("verified", ""), ("unverifiable", "timeout")]):
        Observation.objects.create(
            environment=production,
            checked_at=CHECKED + datetime.timedelta(minutes=minute),
            result=result,
            reason=reason,
        )
    html = page(client, "/p/city-portal/production/")
    newest = html.index("The server took too long to answer.")
    oldest = html.index('datetime="2026-03-14T09:26:53Z"')
    assert newest < oldest


def test_a_deployment_entered_by_hand_says_so_and_who(client, deployed):
    project, production, release, *_ = deployed
    operator = get_user_model().objects.create_user("marta")
    deployment = factories.make_deployment(production, release, user=operator)
    for url in ("/p/city-portal/production/", f"/deployments/{deployment.pk}/"):
        assert "entered by hand by an operator (marta)" in page(client, url)


def test_release_page_shows_provenance_signature_log_index_and_bundle_link(client, deployed):
    project, _, release, _, signing_key = deployed
    index = factories.sequenced_entries().get(kind="release", object_id=release.pk).index
    html = page(client, "/p/city-portal/releases/2.4.1/")
    assert f'href="https://git.example.org/city-portal/commit/{release.source_commit}"' in html
    assert 'href="https://ci.example.org/runs/1"' in html
    assert "app.tar.gz" in html
    assert release.artifact_digest in html
    assert "Ed25519" in html
    assert signing_key.short_id in html
    assert "by the pipeline token “GitHub Actions”" in html
    assert f">#{index}</a>" in html
    assert f'href="/api/v1/releases/{release.pk}/bundle"' in html
    assert "Download proof bundle" in html


def test_a_release_entered_by_hand_says_so(client, deployed):
    project, *_ = deployed
    private_key, _ = factories.make_key(project)
    operator = get_user_model().objects.create_user("ana")
    factories.make_release(project, private_key, "2.5.0", user=operator)
    html = page(client, "/p/city-portal/releases/2.5.0/")
    assert "entered by hand by an operator (ana)" in html


def test_commit_is_not_linked_when_the_repository_is_not_https(client, db):
    project = factories.make_project("legacy", repo_url="git://git.example.org/legacy.git")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    html = page(client, "/p/legacy/releases/1.0.0/")
    assert f"<code>{release.source_commit}</code>" in html
    assert "/commit/" not in html


def test_a_url_that_is_not_http_is_never_a_link(client, deployed):
    _, production, release, *_ = deployed
    deployment = factories.make_deployment(production, release, pipeline_run_url="javascript:alert(1)")
    html = page(client, f"/deployments/{deployment.pk}/")
    assert 'href="javascript:' not in html
    assert "<code>javascript:alert(1)</code>" in html


def test_deployment_page_shows_the_release_and_when(client, deployed):
    _, _, release, deployment, _ = deployed
    html = page(client, f"/deployments/{deployment.pk}/")
    assert "Version 2.4.1 deployed to production" in html
    assert release.artifact_digest in html
    assert 'href="https://ci.example.org/runs/77"' in html


@pytest.mark.parametrize(
    "url",
    [
        "/p/nope/",
        "/p/city-portal/nope/",
        "/p/nope/production/",
        "/p/city-portal/releases/9.9.9/",
        "/p/nope/releases/2.4.1/",
        "/deployments/999999/",
    ],
)
def test_unknown_things_are_404(client, deployed, url):
    assert client.get(url).status_code == 404


def test_footer_says_what_a_self_report_cannot_prove(client, db):
    html = page(client, "/")
    assert "A server reports its own digest: a server that lies can fool this check." in html
    assert "What the log proves is what was published, signed and declared deployed." in html


def test_a_failed_log_integrity_check_shows_a_site_wide_alert_on_every_page(client, deployed):
    AuditRun.objects.create(ok=True, message="", tree_size=3, checked_at=CHECKED)
    assert 'role="alert"' not in page(client, "/")
    AuditRun.objects.create(
        ok=False,
        message="root mismatch at size 3",
        tree_size=3,
        checked_at=CHECKED + datetime.timedelta(hours=1),
    )
    for url in ("/", "/p/city-portal/", "/verify/"):
        html = page(client, url)
        assert 'role="alert"' in html
        assert "the public log failed its integrity check" in html
        assert "root mismatch at size 3" in html


def test_times_are_shown_on_the_public_clock_whatever_zone_they_came_in(client, deployed, settings):
    _, production, *_ = deployed
    settings.TIME_ZONE = "America/Bogota"
    set_status(
        production,
        "verified",
        checked_at=timezone.make_aware(
            datetime.datetime(2026, 3, 14, 10, 26), timezone.get_fixed_timezone(60)
        ),
    )
    html = page(client, "/")
    assert '<time datetime="2026-03-14T09:26:00Z">14 Mar 2026, 04:26 (UTC−5) · ' in html

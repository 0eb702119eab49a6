"""Search: a digest (with or without sha256:, or a prefix of at least 12 hex digits), a commit (at least 7),
or a version answers where and when it was published and deployed and whether a server runs it now; a
digest a server reported that no release has is shown as such; bad input gets a 400 with a reason."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

CHECKED = datetime.datetime(2026, 3, 14, 9, 0, tzinfo=datetime.UTC)
UNKNOWN = "sha256:" + "f00d" * 16


@pytest.fixture
def published():
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1", commit="ab" * 20)
    newer = factories.make_release(project, private_key, "2.5.0")
    factories.make_deployment(production, release)
    Status.objects.create(
        environment=production,
        result="verified",
        checked_at=CHECKED,
        live_digest=release.artifact_digest,
        live_release=release,
    )
    factories.sequenced_entries()  # checked since: every entry has its index
    return release, newer


def search(client, q, language="en"):
    return client.get("/search/", {"q": q}, HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.parametrize(
    "how",
    [
        lambda release: release.artifact_digest,
        lambda release: release.artifact_digest.removeprefix("sha256:"),
        lambda release: release.artifact_digest[:19],
        lambda release: release.artifact_digest[7:19].upper(),
        lambda release: release.source_commit,
        lambda release: release.source_commit[:7],
        lambda release: release.version,
    ],
    ids=[
        "digest",
        "bare hex",
        "digest prefix",
        "hex prefix in capitals",
        "commit",
        "commit prefix",
        "version",
    ],
)
def test_each_kind_of_input_finds_where_and_when_it_was_published_and_deployed(client, published, how):
    release, newer = published

    response = search(client, how(release))

    html = response.content.decode()
    assert response.status_code == 200
    assert release.get_absolute_url() in html and newer.get_absolute_url() not in html
    index = factories.sequenced_entries().get(kind="release", object_id=release.pk).index
    assert (
        "City Portal" in html and "Log index" in html and f'href="/log/?entry={index}#entry-{index}"' in html
    )
    assert "/deployments/" in html and "the latest deployment declared there" in html
    assert "The server of" in html and "result-verified" in html


def test_a_digest_a_server_reported_but_no_release_has_is_the_tamper_case(client, published):
    release, _ = published
    production = release.deployments.get().environment
    for minute in (1, 2, 3):
        Observation.objects.create(
            environment=production,
            checked_at=CHECKED + datetime.timedelta(minutes=minute),
            result="mismatch",
            reason="unregistered_artifact",
            live_digest=UNKNOWN,
        )

    html = search(client, UNKNOWN[:20]).content.decode()

    assert "Reported by a server, but no release has it" in html
    assert UNKNOWN in html and "at 3 checks" in html
    assert production.get_absolute_url() in html


def test_nothing_found_says_so(client, published):
    response = search(client, "9.9.9")

    assert response.status_code == 200
    assert "No release has this digest, commit or version" in response.content.decode()


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Paste an artifact digest, a commit or a version"),
        ("   ", "Paste an artifact digest, a commit or a version"),
        ("x" * 101, "at most 100 characters"),
        ("<script>", "only letters, digits"),
        ("foo:bar", "a digest begins with sha256:"),
        ("1.0 OR 1=1", "only letters, digits"),
        ("sha256:abc", "from 12 to 64 hexadecimal digits"),
        ("sha256:" + "g" * 64, "from 12 to 64 hexadecimal digits"),
    ],
)
def test_bad_input_is_a_400_with_a_reason(client, published, q, message):
    response = search(client, q)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()


def test_without_a_query_the_page_is_the_form(client):
    response = client.get("/search/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert 'name="q"' in response.content.decode()


def test_every_page_has_the_search_box_in_its_header(client, published):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    header = html[html.index('<header class="site-header">') : html.index("</header>")]
    assert 'action="/search/"' in header and 'method="get"' in header and 'name="q"' in header


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "es",
            [
                "Buscar",
                "Publicada el",
                "Desplegada",
                "la última implantación declarada allí",
                "La ejecuta ahora",
            ],
        ),
        ("en", ["Search", "Published on", "Deployed", "Runs it now"]),
    ],
)
def test_the_page_speaks_both_languages(client, published, language, words):
    release, _ = published

    html = search(client, release.version, language).content.decode()

    for word in words:
        assert word in html


def test_the_number_of_queries_does_not_grow_with_what_is_found(client, published):
    release, _ = published

    def count(q):
        with CaptureQueriesContext(connection) as queries:
            assert search(client, q).status_code == 200
        return len(queries)

    baseline = count(release.version)
    project = release.project
    private_key, _ = factories.make_key(project)
    for n in range(15):
        environment = factories.make_environment(project, f"env-{n}")
        factories.make_deployment(environment, release)
        Status.objects.create(
            environment=environment, result="verified", checked_at=CHECKED, live_release=release
        )
        factories.make_release(project, private_key, f"3.0.{n}", commit="ab" * 20)

    # A 40-hex commit may also be the start of a digest: the one more query looks for reported digests.
    assert count("ab" * 20) <= baseline + 1
    assert count(UNKNOWN) <= baseline + 1

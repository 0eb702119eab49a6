"""Public pages kept whole for a few seconds: answered again without a query, per language and address,
never for a signed-in operator, never with anything of a reader's own; and the language switch is a
plain link, so a page holds nothing of its reader's own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.monitoring.models import Status
from portal.web import page_cache
from tests.portal import factories


@pytest.fixture
def kept(settings):
    settings.VITRINA_PAGE_CACHE_SECONDS = 5
    page_cache.clear()
    yield
    page_cache.clear()


@pytest.fixture
def project(db):
    project = factories.make_project("city-portal", name="City Portal")
    environment = factories.make_environment(project, "production")
    Status.objects.create(environment=environment, result="mismatch", reason="commit_missing")
    return project


def queries_of(client, path, **extra):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **extra)
    assert response.status_code == 200
    return response, len(queries)


def test_a_public_page_is_answered_again_without_a_query(client, kept, project):
    first, first_queries = queries_of(client, "/", headers={"accept-language": "en"})
    again, again_queries = queries_of(client, "/", headers={"accept-language": "en"})
    assert first_queries > 0
    assert again_queries == 0
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Content-Language"] == "en"
    # The middleware outside the cache still puts its headers on a kept page.
    assert "Content-Security-Policy" in again


def test_each_language_and_address_is_kept_apart(client, kept, project):
    english = client.get("/", headers={"accept-language": "en"}).content.decode()
    spanish = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert '<html lang="en">' in english
    assert '<html lang="es">' in spanish
    assert '<html lang="es">' in client.get("/", headers={"accept-language": "es"}).content.decode()
    project_page = client.get("/p/city-portal/", headers={"accept-language": "en"}).content.decode()
    assert "City Portal" in project_page and project_page != english


def test_a_kept_page_changes_once_its_seconds_are_over(client, kept, project, settings, monkeypatch):
    def read():
        return client.get("/p/city-portal/", headers={"accept-language": "en"}).content.decode()

    before = read()
    project.description = "Now with permits."
    project.save()
    assert "Now with permits." not in read()
    real = page_cache.time.monotonic
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: real() + 6)
    after = read()
    assert "Now with permits." in after and after != before


def test_a_signed_in_operator_always_sees_the_live_page(client, kept, project, admin_user):
    client.get("/")
    client.force_login(admin_user)
    _, queries = queries_of(client, "/")
    assert queries > 0


def test_errors_and_other_methods_are_not_kept(client, kept, project):
    assert client.get("/p/no-such-project/").status_code == 404
    _, queries = queries_of(client, "/p/city-portal/")
    assert queries > 0
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/p/no-such-project/").status_code == 404
    assert len(queries) > 0


def test_the_store_is_bounded(client, kept, project, monkeypatch):
    monkeypatch.setattr(page_cache, "MAX_PAGES", 3)
    for n in range(10):
        client.get(f"/?n={n}")
    assert len(page_cache._pages) == 3


def test_tests_and_a_zero_setting_keep_nothing(client, settings, project):
    settings.VITRINA_PAGE_CACHE_SECONDS = 0
    client.get("/")
    _, queries = queries_of(client, "/")
    assert queries > 0


def test_the_language_link_sets_the_cookie_and_goes_back(client, project):
    response = client.get("/language/en/?next=/p/city-portal/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/p/city-portal/"
    assert response.cookies["django_language"].value == "en"
    assert '<html lang="en">' in client.get("/p/city-portal/").content.decode()
    client.get("/language/es/?next=/")
    assert '<html lang="es">' in client.get("/p/city-portal/").content.decode()


def test_the_language_link_stays_on_this_site_and_ignores_unknown_languages(client, project):
    response = client.get("/language/en/?next=https://evil.example/")
    assert response.headers["Location"] == "/"
    response = client.get("/language/xx/?next=/p/city-portal/")
    assert response.headers["Location"] == "/p/city-portal/"
    assert "django_language" not in response.cookies

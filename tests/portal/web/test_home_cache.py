"""The home and project pages' status tables are rendered once per language every few seconds."""

import time

import pytest
from django.core.cache import cache

from portal.web import views
from portal.web.views import FRAGMENT_SECONDS
from tests.portal import factories

pytestmark = pytest.mark.django_db


def test_home_status_is_reused_until_it_expires_and_costs_no_query_meanwhile(
    client, django_assert_num_queries
):
    factories.make_project("first-city", name="First City")
    assert "First City" in client.get("/").content.decode()

    factories.make_project("second-city", name="Second City")
    with django_assert_num_queries(1):  # the log-integrity banner only
        page = client.get("/").content.decode()
    assert "Second City" not in page, "within the cache window the table is the one rendered before"

    cache.delete("home-status:en")
    assert "Second City" in client.get("/").content.decode()
    assert 0 < FRAGMENT_SECONDS <= 10


def test_a_stale_table_is_rendered_again_by_one_request_while_others_serve_the_old_one(client, monkeypatch):
    factories.make_project("first-city", name="First City")
    client.get("/")
    factories.make_project("second-city", name="Second City")
    clock = time.time() + FRAGMENT_SECONDS + 1
    monkeypatch.setattr(views.time, "time", lambda: clock)

    cache.add("home-status:en:rendering", 1, 10)  # another request is rendering right now
    assert "Second City" not in client.get("/").content.decode()

    cache.delete("home-status:en:rendering")
    assert "Second City" in client.get("/").content.decode()


def test_home_status_is_cached_per_language(client):
    factories.make_project("city-hall", name="City Hall")
    client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    spanish = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "Entorno" in spanish or "entorno" in spanish


def test_project_page_body_is_shared_for_a_few_seconds_then_rendered_again(client):
    project = factories.make_project("city-hall", name="City Hall")
    factories.make_environment(project, "production")
    assert "staging" not in client.get("/p/city-hall/").content.decode()

    factories.make_environment(project, "staging")
    assert "staging" not in client.get("/p/city-hall/").content.decode()

    cache.delete(f"project-body:{project.pk}:en")
    assert "staging" in client.get("/p/city-hall/").content.decode()

"""While the shared cache (Redis) is down, the public pages and badges are served from the database.

The cache is a real private ``redis-server``, stopped in the middle of the test: Django's RedisCache then
raises ``redis.exceptions.ConnectionError`` from every call, which the pages must survive.
"""

import logging
import os
import shutil
import signal
import time

import pytest
from django.utils import timezone

from portal.monitoring.models import Status
from portal.web import shared_cache
from tests.helpers import needs
from tests.helpers.caches import production_caches
from tests.portal import factories
from tests.portal.monitoring.celerystack import RedisServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings, tmp_path):
    """The default cache on a private Redis, configured as the portal configures it in production."""
    if shutil.which("redis-server") is None:
        needs.missing("redis-server is not installed")
    server = RedisServer(tmp_path).start()
    settings.CACHES = production_caches(server.url)
    shared_cache.reset()
    yield server
    server.stop()
    shared_cache.reset()


@pytest.fixture
def city(db):
    project = factories.make_project("city-hall", name="City Hall")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    environment = factories.make_environment(project, "production")
    factories.make_deployment(environment, release)
    Status.objects.create(environment=environment, result="verified", checked_at=timezone.now())
    return project


PAGES = [
    "/",
    "/p/city-hall/",
    "/p/city-hall/production/",
    "/badge/city-hall.svg",
    "/badge/city-hall.json",
    "/badge/city-hall/production.svg",
    "/badge/city-hall/production.json",
    "/feeds/deployments.atom",
    "/feeds/status.atom",
    "/p/city-hall/feeds/deployments.atom",
]


def test_pages_and_badges_are_served_from_the_database_while_the_cache_is_down(client, redis_cache, city):
    for path in PAGES:  # cached while Redis runs
        assert client.get(path).status_code == 200, path
    assert client.get("/badge/city-hall/production.json").json()["result"] == "verified"

    redis_cache.stop()
    city.environments.get(name="production").status.delete()
    factories.make_environment(city, "staging")
    factories.make_project("new-town", name="New Town")

    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert "New Town" in client.get("/").content.decode(), "the home page reads the database"
    assert "staging" in client.get("/p/city-hall/").content.decode()
    states = client.get("/badge/city-hall.json").json()
    assert [state["result"] for state in states["environments"]] == ["unchecked", "unchecked"]
    assert client.get("/badge/city-hall/production.json").json()["result"] == "unchecked"
    assert client.get("/badge/new-town.json").status_code == 200


def test_an_outage_is_logged_once_per_retry_period_and_the_cache_is_used_again_after_it(
    client, redis_cache, city, caplog, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr(shared_cache.time, "monotonic", lambda: clock[0])
    redis_cache.stop()

    with caplog.at_level(logging.INFO, logger="portal.web.shared_cache"):
        for _ in range(5):
            for path in PAGES:
                assert client.get(path).status_code == 200, path
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert "cache" in warnings[0].getMessage() and "database" in warnings[0].getMessage()

        clock[0] += shared_cache.RETRY_SECONDS + 1
        assert client.get("/").status_code == 200
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2, "still down: once more"

        redis_cache.start()
        clock[0] += shared_cache.RETRY_SECONDS + 1
        assert client.get("/badge/city-hall.json").status_code == 200
        assert any("back" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)

    from django.core.cache import cache

    assert cache.get("badge:city-hall") is not None, "the badge's answer is cached again"


@pytest.mark.timeout(120)
def test_a_redis_that_hangs_costs_one_short_wait_not_a_hung_page(client, redis_cache, city):
    assert client.get("/").status_code == 200
    os.kill(redis_cache.process.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        answers = [(path, client.get(path).status_code) for path in PAGES]
        waited = time.monotonic() - started
    finally:
        os.kill(redis_cache.process.pid, signal.SIGCONT)
    assert answers == [(path, 200) for path in PAGES]
    # One timed-out cache call, then the cache is skipped for the retry period. Generous for a loaded
    # machine: without the timeouts the settings give, a call waits 5 s (redis-py 8) or forever.
    assert waited < 4, f"the pages waited {waited:.1f} s on a hung cache"

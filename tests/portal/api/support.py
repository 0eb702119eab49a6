"""Helpers shared by the API tests."""

from contextlib import contextmanager


def error_of(response):
    """The error object of an API error response, after checking the shape every 4xx shares."""
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error


@contextmanager
def writes_nothing():
    """Assert that the block adds no release, deployment or log entry (nothing is half-written)."""
    from portal.registry.models import Deployment, Release
    from tests.portal import factories

    def counts():
        return Release.objects.count(), Deployment.objects.count(), factories.sequenced_entries().count()

    before = counts()
    yield
    assert counts() == before

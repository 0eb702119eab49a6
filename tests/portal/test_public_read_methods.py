"""Public read-only endpoints answer any other method with 405 and ``Allow``, not a CSRF page."""

import pytest

pytestmark = pytest.mark.django_db

READ_ONLY = [
    "/api/v1/log/",
    "/api/v1/log/entries/0",
    "/api/v1/log/proof/inclusion?index=0&tree_size=1",
    "/api/v1/log/proof/consistency?first=1&second=1",
    "/api/v1/releases/1/bundle",
    "/api/v1/deployments/1/bundle",
    "/api/v1/projects/demo/environments/production/observations/",
    "/log/",
    "/log/checkpoint",
    "/log/tile/0/000",
    "/badge/demo.svg",
    "/badge/demo.json",
    "/badge/demo/production.svg",
    "/badge/demo/production.json",
    "/feeds/deployments.atom",
    "/feeds/status.atom",
    "/p/demo/feeds/status.atom",
    "/.well-known/vitrina/deployment",
    "/healthz",
    "/metrics",
]


@pytest.mark.parametrize("path", READ_ONLY)
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_read_only_endpoint_refuses_other_methods_with_405(path, method):
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"

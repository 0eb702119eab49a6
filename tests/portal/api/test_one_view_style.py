"""One view style under /api/v1/: every endpoint is a DRF view, so every refusal takes the one error
shape from ``portal.http.exception_handler`` and every operation is described by its own view."""

from django.urls import URLResolver, get_resolver
from rest_framework.views import APIView

from portal.api import schema


def routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_endpoint_under_api_v1_is_a_drf_view():
    api = [
        (route, view) for route, view in routes(get_resolver().url_patterns) if route.startswith("api/v1/")
    ]

    not_drf = [route for route, view in api if not issubclass(getattr(view, "cls", type(None)), APIView)]

    assert len(api) >= 15
    assert not_drf == []


def test_the_hand_written_schema_describes_no_endpoint_under_api_v1():
    assert [path for path in schema.PATHS if path.startswith("/api/")] == []

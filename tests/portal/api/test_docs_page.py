"""The API docs page: the schema it shows describes every public endpoint the URL map routes, and the page
is one of the site's pages (the visitor's language, the way back home, the feeds, local assets only). In a
real browser, with axe: tests/portal/web/test_api_docs_in_a_browser.py."""

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# What the URL map routes that is not public API: pages for people (the site, its language switch, the
# admin) and the schema and its docs page themselves. Everything else must be in the schema.
PAGE_NAMESPACES = {"web", "admin"}
THE_DOCS_THEMSELVES = {"api:schema", "api:docs"}
PARAMETER = re.compile(r"<(?:\w+:)?\w+>|\{\w+\}")


def routed(patterns=None, prefix="", namespace=""):
    """Every route of the URL map as (its path with parameters as ``{}``, its namespaced name)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from routed(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            yield "/" + PARAMETER.sub("{}", route), ":".join(filter(None, [namespace, pattern.name]))


def public_api_routes():
    return {
        path: name
        for path, name in routed()
        if name.split(":")[0] not in PAGE_NAMESPACES and name not in THE_DOCS_THEMSELVES
    }


def schema_paths(client):
    schema = json.loads(client.get("/api/v1/schema/?format=json").content)
    return {PARAMETER.sub("{}", path): operations for path, operations in schema["paths"].items()}


def test_the_url_map_has_the_public_endpoints_this_test_relies_on_finding():
    """Guards the walk over the URL map itself: if it found nothing, every endpoint would 'be documented'."""
    names = set(public_api_routes().values())

    assert {
        "api:release-create",
        "transparency:checkpoint",
        "transparency:tile",
        "transparency:entry",
        "monitoring:observations",
        "share:project-badge",
        "share:project-status-feed",
        "share:healthz",
    } <= names
    assert not names & {"web:home", "web:project", "api:docs"}


def test_every_public_endpoint_the_url_map_routes_is_in_the_schema(client):
    documented = schema_paths(client)

    undocumented = {name: path for path, name in public_api_routes().items() if path not in documented}

    assert undocumented == {}, "describe these in the OpenAPI schema (see docs/architecture.md)"


def test_every_operation_in_the_schema_has_a_summary_a_tag_and_its_answers(client):
    for path, operations in schema_paths(client).items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert operation.get("tags"), (method, path)
            assert "200" in operation["responses"] or "201" in operation["responses"], (method, path)


def test_the_project_feeds_and_the_operations_endpoints_are_described(client):
    schema = json.loads(client.get("/api/v1/schema/?format=json").content)
    paths = schema["paths"]

    for feed in ("/p/{slug}/feeds/deployments.atom", "/p/{slug}/feeds/status.atom"):
        operation = paths[feed]["get"]
        assert operation["tags"] == ["feeds"]
        assert "application/atom+xml" in operation["responses"]["200"]["content"]
        assert {parameter["name"] for parameter in operation["parameters"]} == {"slug", "lang"}
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(paths["/healthz"]["get"]["responses"]) == {"200", "503"}


@pytest.mark.parametrize(
    ("language", "heading"), [("es", "Documentación de la API"), ("en", "API documentation")]
)
def test_the_docs_page_is_a_page_of_the_site_in_the_visitor_s_language(client, language, heading):
    text = client.get("/api/v1/docs/", HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert f'<html lang="{language}">' in text
    assert '<a class="site-name" href="/">Vitrina</a>' in text, "the way back to the site"
    assert '<link rel="stylesheet" href="/static/css/vitrina.css">' in text
    assert f"<h1>{heading}</h1>" in text
    # Swagger UI speaks English only: its part of the page says so, whatever the page's language.
    assert '<div id="swagger-ui" class="api-reference" lang="en"' in text
    assert '<a href="/api/v1/schema/?format=json">' in text, "the schema, for a reader without JavaScript"


def test_the_docs_page_loads_swagger_ui_from_this_site_and_starts_it_from_a_file(client):
    text = client.get("/api/v1/docs/").content.decode()

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S)
    assert [body.strip() for _, body in scripts] == [""] * len(scripts)
    sources = [re.search(r'src="([^"]+)"', attributes).group(1) for attributes, _ in scripts]
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert sources[-1] == "/static/api/swagger_init.js"
    assert all(source.startswith("/static/") for source in sources)
    assert all("defer" in attributes for attributes, _ in scripts)
    assert "<style" not in text
    assert not re.search(r"\sstyle\s*=", text)

"""The OpenAPI schema describes the API, and the browsable docs run under the site's strict CSP (in a real
browser: tests/portal/api/test_docs_page.py)."""

import json
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

CHROMIUM = "/usr/bin/chromium"


def test_schema_is_openapi_3_and_describes_registration_and_reads(client):
    response = client.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Vitrina API"
    assert {
        "/api/v1/releases/",
        "/api/v1/releases/{id}/",
        "/api/v1/deployments/",
        "/api/v1/projects/",
        "/api/v1/projects/{slug}/",
        "/api/v1/projects/{slug}/releases/",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["projectToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token scoped to one project, from the admin or `manage.py createtoken`.",
    }
    register = schema["paths"]["/api/v1/releases/"]["post"]
    assert register["security"] == [{"projectToken": []}]
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "415"} <= set(register["responses"])
    assert set(schema["paths"]["/api/v1/releases/{id}/"]) == {"get"}
    assert schema["paths"]["/api/v1/projects/"]["get"]["security"] == [{}], "public reads need no credentials"


def test_the_release_answers_carry_no_description_taken_from_a_helper_of_the_code(client):
    """A serializer's docstring, or its base class's, becomes its component's description: the release
    answers have none, and a mixin's docstring about the code once leaked into all three."""
    schema = json.loads(client.get("/api/v1/schema/?format=json").content)
    for name in ("ReleaseCreated", "ReleaseSummary", "ReleaseDetail"):
        assert "description" not in schema["components"]["schemas"][name], name


@pytest.mark.parametrize(
    ("path", "refusals"),
    [
        ("/api/v1/projects/", {"400"}),
        ("/api/v1/projects/{slug}/", {"404"}),
        ("/api/v1/projects/{slug}/releases/", {"400", "404"}),
        ("/api/v1/releases/{id}/", {"404"}),
    ],
)
def test_each_public_read_is_tagged_public_with_its_refusals_in_the_error_shape(client, path, refusals):
    schema = json.loads(client.get("/api/v1/schema/?format=json").content)
    operation = schema["paths"][path]["get"]

    answers = {
        status: response["content"]["application/json"]["schema"]["$ref"]
        for status, response in operation["responses"].items()
    }
    assert operation["tags"] == ["public"]
    assert set(answers) == {"200", *refusals}
    assert answers["200"] != "#/components/schemas/Error"
    assert {answers[status] for status in refusals} == {"#/components/schemas/Error"}


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/v1/releases/" in (tmp_path / "schema.yaml").read_text()


def test_docs_page_has_no_inline_script_or_style_and_only_local_assets(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert "<style" not in html
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all('src="' in attributes for attributes in scripts)
    assets = re.findall(r'\ssrc="([^"]+)"', html) + re.findall(r'<link\b[^>]*\shref="([^"]+)"', html)
    assert all(url.startswith("/") and not url.startswith("//") for url in assets)
    for url in assets:
        asset = client.get(url.replace("&amp;", "&"))
        assert asset.status_code == 200, url
        # Read, not close(): closing fires request_finished, which would close the test's DB connection.
        if asset.streaming:
            b"".join(asset.streaming_content)


def test_docs_start_up_script_is_a_static_file_that_reads_the_schema_address_from_the_page(client):
    html = client.get("/api/v1/docs/").content.decode()
    script_url = re.search(r'<script src="(/static/api/swagger_init\.js)" defer>', html).group(1)

    response = client.get(script_url)

    assert response.status_code == 200
    script = b"".join(response.streaming_content).decode()
    assert "SwaggerUIBundle" in script
    assert 'data-schema-url="/api/v1/schema/?format=json"' in html

"""The site's own 404 and 500 pages: in the site's layout (phone viewport, header, language switch), in the
reader's language, saying what went wrong and where to go; under /api/ both stay the API's JSON errors."""

import json

import pytest
from django.test import RequestFactory
from django.utils import translation

from portal.http import server_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "home"),
    [("es", "Página no encontrada", "Ver todos los proyectos"), ("en", "Page not found", "See all projects")],
)
def test_a_missing_page_is_the_site_s_404_in_the_reader_s_language(client, language, heading, home):
    response = client.get("/p/no-such-project/", HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert response.status_code == 404
    assert f'<html lang="{language}">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert f"<h1>{heading}</h1>" in html
    assert "<code>/p/no-such-project/</code>" in html
    assert f'<a href="/">{home}</a>' in html
    assert "Not Found" not in html


@pytest.mark.django_db
def test_the_404_page_does_not_repeat_the_internal_reason():
    """Django's ``exception`` text ("No Project matches the given query.") is English and says nothing to a
    reader; the page names the address instead."""
    from django.test import Client

    html = Client().get("/p/no-such-project/releases/1.0/").content.decode()
    assert "matches the given query" not in html


@pytest.mark.django_db
def test_an_api_address_that_does_not_exist_keeps_the_json_404(client):
    response = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("language", "heading"), [("es", "Algo falló de nuestro lado"), ("en", "Something failed on our side")]
)
def test_a_server_error_is_the_site_s_500_without_touching_the_database(language, heading):
    """No database access is allowed here (no ``django_db`` mark): the failure may be the database itself,
    so the 500 page reads nothing the context processors would."""
    request = RequestFactory().get("/p/city-portal/")
    with translation.override(language):
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert f'<html lang="{language}">' in html
    assert '<meta name="viewport"' in html
    assert f"<h1>{heading}</h1>" in html
    assert 'href="/language/en/?next=/p/city-portal/"' in html, "the language switch must still work"
    assert 'href="/language/es/?next=/p/city-portal/"' in html
    assert "Server Error (500)" not in html


def test_an_api_server_error_keeps_the_json_500():
    response = server_error(RequestFactory().get("/api/v1/projects/"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"

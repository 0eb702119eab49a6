"""The pages speak Spanish when asked, by the browser or by the language switch, and remember it."""

import pytest
from django.utils import translation

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """A Spanish request leaves Spanish active in this thread; later tests expect the default."""
    yield
    translation.activate("en")


@pytest.fixture
def production():
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project)
    Status.objects.create(environment=environment, result="unverifiable", reason="unreachable")
    return environment


def test_accept_language_es_renders_spanish(client, production):
    html = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert '<html lang="es">' in html
    assert "Proyectos" in html
    assert "Verifícalo tú mismo" in html
    assert "aún no comprobado" in html


def test_reason_sentences_are_spanish_on_a_spanish_page(client, production):
    production.status.checked_at = production.created_at
    production.status.save()
    html = client.get(production.get_absolute_url(), headers={"accept-language": "es"}).content.decode()
    assert "No pudimos contactar con el servidor." in html
    assert "We could not reach the server." not in html


def test_the_language_switch_sets_a_cookie_that_later_pages_honour(client, production):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/p/city-portal/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/p/city-portal/"
    assert response.cookies["django_language"].value == "es"
    html = client.get("/p/city-portal/").content.decode()
    assert '<html lang="es">' in html
    assert "Rama protegida" in html


def test_the_language_switch_refuses_a_redirect_to_another_site(client, production):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_the_verify_page_is_translated(client, db):
    html = client.get("/verify/", headers={"accept-language": "es"}).content.decode()
    assert "Verifícalo tú mismo" in html
    assert "Comprueba el código fuente tú mismo" in html
    assert ".venv/bin/python -m verifier verify bundle.json \\\n    --artifact FILE" in html

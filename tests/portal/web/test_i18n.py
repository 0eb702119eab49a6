"""The pages speak Spanish by default (``VITRINA_LANGUAGE``), English when asked, by the browser or by the
language switch, and remember it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


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
    assert "Verifíquelo usted mismo" in html
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
    assert "Verifíquelo usted mismo" in html
    assert "Compruebe el código fuente usted mismo" in html
    assert "Elija la versión o el despliegue" in html


def test_spanish_is_the_default_for_a_visitor_who_asks_for_no_language(
    client, production, site_default_language
):
    assert site_default_language == "es"
    html = client.get("/").content.decode()
    assert '<html lang="es">' in html
    assert "Proyectos" in html


def test_a_browser_asking_for_english_still_gets_english(client, production, site_default_language):
    html = client.get("/", headers={"accept-language": "en"}).content.decode()
    assert '<html lang="en">' in html
    assert "Projects" in html


def test_the_language_switch_to_english_outlasts_the_spanish_default(
    client, production, site_default_language
):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get("/").content.decode()


def settings_with_language(value):
    env = {**os.environ, "VITRINA_LANGUAGE": value, "DEBUG": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.LANGUAGE_CODE)"],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_vitrina_language_sets_the_default_and_refuses_a_language_the_site_does_not_speak():
    assert settings_with_language("en").stdout.strip() == "en"
    refused = settings_with_language("fr")
    assert refused.returncode != 0
    assert "VITRINA_LANGUAGE is 'fr'; the site speaks 'es' (the default) or 'en'." in refused.stderr

"""The operators' admin: an environment's form says what the public sees of it now, the observations list
stays cheap however many checks there are, and the admin speaks Spanish by default."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring import admin as monitoring_admin
from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def environment():
    return factories.make_environment(factories.make_project("city-portal"))


def test_the_environment_form_shows_the_current_light_and_its_reason(admin_client, environment):
    Status.objects.create(
        environment=environment, result="mismatch", reason="unregistered_artifact", checked_at=timezone.now()
    )
    html = admin_client.get(
        f"/admin/registry/environment/{environment.pk}/change/", headers={"accept-language": "en"}
    ).content.decode()
    assert "Current light" in html
    assert 'class="light light-red result-mismatch"' in html
    assert "/static/icons/mismatch.svg" in html
    assert "The server says it runs a version that was never published." in html


def test_a_never_checked_environment_is_not_yet_checked_on_its_form_in_spanish(admin_client, environment):
    html = admin_client.get(
        f"/admin/registry/environment/{environment.pk}/change/", headers={"accept-language": "es"}
    ).content.decode()
    assert "Luz actual" in html
    assert "aún no comprobado" in html
    assert "Este entorno aún no se ha comprobado." in html


def test_the_add_form_has_no_light(admin_client, environment):
    html = admin_client.get("/admin/registry/environment/add/").content.decode()
    assert "light-" not in html


def observations(environment, count):
    start = timezone.now() - datetime.timedelta(days=1)
    Observation.objects.bulk_create(
        Observation(
            environment=environment, checked_at=start + datetime.timedelta(seconds=i), result="verified"
        )
        for i in range(count)
    )


def test_the_observations_list_runs_a_bounded_number_of_queries(
    admin_client, environment, django_assert_max_num_queries
):
    observations(environment, 150)
    other = factories.make_environment(environment.project, "staging")
    observations(other, 150)
    with django_assert_max_num_queries(5):
        response = admin_client.get("/admin/monitoring/observation/")
    assert response.status_code == 200
    with django_assert_max_num_queries(5):
        assert admin_client.get("/admin/monitoring/observation/?result__exact=verified").status_code == 200


def test_the_observations_list_never_counts_past_its_cap(admin_client, environment, monkeypatch):
    observations(environment, 30)
    monkeypatch.setattr(monitoring_admin, "COUNT_LIMIT", 20)
    html = admin_client.get("/admin/monitoring/observation/", headers={"accept-language": "en"})
    assert "21 observations" in html.content.decode()


def test_the_admin_speaks_spanish_to_a_browser_that_asks_for_nothing(client, site_default_language):
    assert site_default_language == "es"
    html = client.get("/admin/login/").content.decode()
    assert "Administración de Vitrina" in html

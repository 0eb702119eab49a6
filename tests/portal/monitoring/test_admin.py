"""The admin shows what the workers saw, read-only, field by field in the order a reader follows."""

import re

import pytest
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

FIELD_ROW = re.compile(r'class="form-row[^"]*\bfield-(\w+)')
STATUS_FIELDS = (
    "environment result reason message checked_at changed_at "
    "live_digest live_commit live_version expected_digest live_release ahead_by"
).split()
CHECK_FIELDS = (
    "environment checked_at result reason message live_digest live_commit live_version "
    "expected_digest expected_release live_release http_status ahead_by duration_ms"
).split()


def fields_shown(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    return FIELD_ROW.findall(response.content.decode())


@pytest.fixture
def environment():
    return factories.make_environment(factories.make_project("city-portal"))


def test_a_status_shows_its_environment_and_result_first_then_what_was_served(admin_client, environment):
    Status.objects.create(environment=environment, result="verified", checked_at=timezone.now())
    shown = fields_shown(admin_client, f"/admin/monitoring/status/{environment.pk}/change/")
    assert shown == STATUS_FIELDS


def test_a_check_shows_its_environment_and_time_first_then_what_was_served(admin_client, environment):
    observation = Observation.objects.create(
        environment=environment, checked_at=timezone.now(), result="verified"
    )
    shown = fields_shown(admin_client, f"/admin/monitoring/observation/{observation.pk}/change/")
    assert shown == CHECK_FIELDS

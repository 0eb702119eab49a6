"""The observers layer: an observer who saw something other than the deployed release (or other than what
the portal saw at about the same time) turns the light red, naming who saw what and when; a project that
requires observers is not green without them."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring.runner import check_environment
from portal.registry.models import Observer, ObserverReport

OTHER = "sha256:" + "ee" * 32


@pytest.fixture
def observer(db):
    return Observer.objects.create(
        name="Universidad de la República",
        public_key_pem="-",
        algorithm="ed25519",
        key_id="ab" * 32,
        token_hash="cd" * 32,
    )


def report(watched, observer, *, result, live_digest, ago=60, deployment=None, message="", reason=""):
    """A report row as ``record_observer_report`` stores it (its envelope is not what is tested here)."""
    return ObserverReport.objects.create(
        observer=observer,
        environment=watched.environment,
        deployment=deployment or watched.deployment,
        observed_at=timezone.now() - datetime.timedelta(seconds=ago),
        result=result,
        reason=reason,
        message=message,
        live_digest=live_digest,
        expected_digest=watched.release.artifact_digest,
        envelope="{}",
        envelope_sha256="00" * 32,
    )


def test_observer_who_saw_another_artifact_turns_the_light_red(watched, observer):
    report(
        watched,
        observer,
        result="mismatch",
        reason="unregistered_artifact",
        live_digest=OTHER,
        message=f"The server reports {OTHER}.",
    )
    observation = check_environment(watched.environment)
    assert (observation.result, observation.reason) == ("mismatch", "observers_disagree")
    assert "Universidad de la República" in observation.message and OTHER in observation.message
    assert observation.layers["observers"]["reports"][0]["observer"] == "Universidad de la República"


def test_observer_served_otherwise_than_the_portal_is_caught(watched, observer):
    report(watched, observer, result="verified", live_digest=OTHER)
    observation = check_environment(watched.environment)
    assert observation.reason == "observers_disagree"
    assert "depending on who asks" in observation.message


def test_agreeing_observer_keeps_green_and_is_counted(watched, observer):
    report(watched, observer, result="verified", live_digest=watched.release.artifact_digest)
    observation = check_environment(watched.environment)
    assert observation.result == "verified"
    assert observation.layers["observers"]["agreeing"] == 1


def test_old_reports_and_removed_observers_do_not_count(watched, observer):
    report(watched, observer, result="mismatch", live_digest=OTHER, ago=3600)
    assert check_environment(watched.environment).result == "verified"
    report(watched, observer, result="mismatch", live_digest=OTHER)
    Observer.objects.filter(pk=observer.pk).update(removed_at=timezone.now())
    watched.environment.refresh_from_db()
    assert check_environment(watched.environment).result == "verified"


def test_required_observers_missing_is_amber(watched, observer):
    watched.project.observers_required = 1
    watched.project.save()
    watched.environment.refresh_from_db()
    observation = check_environment(watched.environment)
    assert (observation.result, observation.reason) == ("unverifiable", "not_enough_observers")
    report(watched, observer, result="verified", live_digest=watched.release.artifact_digest)
    assert check_environment(watched.environment).result == "verified"


def test_environment_page_names_the_observer_and_links_its_signed_report(watched, observer, client):
    report(watched, observer, result="mismatch", live_digest=OTHER, reason="unregistered_artifact")
    check_environment(watched.environment)
    html = client.get(watched.environment.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="layer-observers"' in html
    assert "Universidad de la República" in html
    assert "/bundle" in html

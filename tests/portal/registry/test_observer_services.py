"""Observers through the registry's services: added and removed with their log entries, authenticated by
their own token, and their signed reports recorded only when every rule holds (nothing half-written)."""

import datetime
import json

import pytest
from django.utils import timezone

from portal.registry import services
from portal.registry.models import Observer, ObserverReport
from tests.portal import factories
from tests.portal.observers import make_observation, make_observer, signed
from verifier.entries import parse_entry
from verifier.keys import generate_private_key
from verifier.observation import ServedFilesSeen
from verifier.reasons import Reason, Result

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed():
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    release = factories.make_deployed_release(project, "1.0.0", environment)
    return environment, environment.deployments.get(release=release)


def entry(kind, object_id):
    return parse_entry(bytes(factories.sequenced_entries().get(kind=kind, object_id=object_id).entry))


def test_adding_an_observer_logs_its_key_and_stores_only_the_tokens_hash():
    private_key, observer, token = make_observer("Universidad de la República")
    assert token.startswith("vto_") and token not in observer.token_hash
    assert observer.key_id == private_key.public_key.key_id
    logged = entry("observer_added", observer.pk)
    assert logged["name"] == "Universidad de la República"
    assert logged["public_key_pem"] == private_key.public_key.pem
    assert logged["by"] == {"kind": "system", "name": "vitrina"}


@pytest.mark.parametrize(("name", "field"), [("", "name"), ("a\nb", "name"), ("x" * 101, "name")])
def test_a_bad_name_is_refused(name, field):
    with pytest.raises(services.Refused) as refused:
        services.add_observer(name, generate_private_key().public_key.pem)
    assert refused.value.field == field
    assert not Observer.objects.exists()


def test_a_taken_name_or_key_is_refused_so_one_party_never_counts_twice():
    private_key, observer, _ = make_observer("Lab")
    with pytest.raises(services.Refused, match="already an observer named 'Lab'"):
        services.add_observer("Lab", generate_private_key().public_key.pem)
    with pytest.raises(services.Refused, match="already the key of observer 'Lab'"):
        services.add_observer("Other lab", private_key.public_key.pem)
    with pytest.raises(services.Refused) as refused:
        services.add_observer("Third", "not a key")
    assert refused.value.field == "public_key_pem"
    assert Observer.objects.count() == 1
    assert factories.sequenced_entries().filter(kind="observer_added").count() == 1


def test_a_removed_observers_token_no_longer_authenticates_and_the_removal_is_logged():
    _, observer, token = make_observer()
    assert services.authenticate_observer(token) == observer
    services.remove_observer(observer)
    services.remove_observer(observer)  # twice is once
    assert services.authenticate_observer(token) is None
    assert factories.sequenced_entries().filter(kind="observer_removed", object_id=observer.pk).count() == 1


def test_a_project_token_is_not_an_observer_token():
    project = factories.make_project()
    _, raw = factories.make_token(project)
    assert services.authenticate_observer(raw) is None
    assert services.authenticate_observer("vto_made-up") is None


def test_a_report_is_recorded_with_its_entry(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer("Lab")
    served = ServedFilesSeen(Result.VERIFIED, Reason.SERVED_FILES_VERIFIED, "3 of 3 files match", 3, 3, 0, 0)
    observation = make_observation(observer, environment, deployment, served_files=served)
    report = services.record_observer_report(observer, signed(private_key, observation))
    assert report.created
    assert (report.deployment, report.result, report.served_files_checked) == (deployment, "verified", 3)
    logged = entry("observer_report", report.pk)
    assert logged["observer"] == "Lab" and logged["observer_key_id"] == observer.key_id
    assert logged["deployment_id"] == deployment.pk and logged["reason"] is None
    assert logged["envelope_sha256"] == report.envelope_sha256


def test_the_same_envelope_posted_again_is_the_same_report(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    first = services.record_observer_report(observer, envelope)
    again = services.record_observer_report(observer, json.dumps(envelope, separators=(",", ":")))
    assert again.pk == first.pk and not again.created
    assert ObserverReport.objects.count() == 1


def test_a_report_without_a_deployment_is_recorded(db):
    environment = factories.make_environment(factories.make_project())
    private_key, observer, _ = make_observer()
    report = services.record_observer_report(
        observer, signed(private_key, make_observation(observer, environment))
    )
    assert (report.deployment, report.reason, report.expected_digest) == (None, "no_deployment", "")


def refused(observer, envelope, match, status=400):
    before = ObserverReport.objects.count(), factories.sequenced_entries().count()
    with pytest.raises(services.Refused, match=match) as refusal:
        services.record_observer_report(observer, envelope)
    assert refusal.value.status == status
    assert (ObserverReport.objects.count(), factories.sequenced_entries().count()) == before


def test_a_report_signed_with_another_key_is_refused(deployed):
    environment, deployment = deployed
    _, observer, _ = make_observer("Lab")
    envelope = signed(generate_private_key(), make_observation(observer, environment, deployment))
    refused(observer, envelope, "does not verify under observer 'Lab'")


def test_a_report_signed_for_another_observers_name_is_refused(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer("Lab")
    observation = make_observation(observer, environment, deployment, observer="Someone else")
    refused(observer, signed(private_key, observation), "signed for observer 'Someone else'", 403)


@pytest.mark.parametrize(
    ("changes", "match"), [({"project": "nope"}, "no project"), ({"environment": "qa"}, "no environment")]
)
def test_an_unknown_project_or_environment_is_refused(deployed, changes, match):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    refused(
        observer,
        signed(private_key, make_observation(observer, environment, deployment, **changes)),
        match,
        404,
    )


@pytest.mark.parametrize(
    ("shift", "match"),
    [
        (datetime.timedelta(minutes=11), "ahead of the portal's clock"),
        (-datetime.timedelta(minutes=61), "more than an hour"),
    ],
)
def test_an_observation_from_the_future_or_too_old_is_refused(deployed, shift, match):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    observation = make_observation(observer, environment, deployment, observed_at=timezone.now() + shift)
    refused(observer, signed(private_key, observation), match)


def test_a_deployment_of_another_environment_is_refused(deployed):
    environment, deployment = deployed
    other = factories.make_environment(environment.project, "staging")
    private_key, observer, _ = make_observer()
    observation = make_observation(observer, other, deployment)
    refused(
        observer, signed(private_key, observation), f"{deployment.pk} is not a deployment of demo/staging"
    )


def test_a_deployment_said_to_be_of_another_release_is_refused(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    observation = make_observation(observer, environment, deployment, release_id=deployment.release_id + 100)
    refused(observer, signed(private_key, observation), "not release")


def test_an_envelope_over_256_kib_is_refused(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    envelope["padding"] = "x" * 256 * 1024
    refused(observer, envelope, "at most 262144 bytes", 413)


def test_a_removed_observers_report_is_refused(deployed):
    environment, deployment = deployed
    private_key, observer, _ = make_observer()
    envelope = signed(private_key, make_observation(observer, environment, deployment))
    services.remove_observer(observer)
    refused(observer, envelope, "is removed", 403)


def test_a_malformed_envelope_is_refused_in_a_sentence(deployed):
    _, observer, _ = make_observer()
    refused(observer, "{not json", "Envelope is not valid JSON")

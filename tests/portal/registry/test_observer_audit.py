"""The self-audit holds observers and their reports to their log entries: a row edited behind the
application's back (raw SQL, as a database administrator could) is named with the field."""

import logging

import pytest

from portal.registry.models import Observer, ObserverReport
from portal.transparency import services
from tests.portal import factories
from tests.portal.observers import make_observation, make_observer, signed
from tests.portal.registry.test_audit import update

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(log_key_file):
    from portal.registry import services as registry

    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    release = factories.make_deployed_release(project, "1.0.0", environment)
    private_key, observer, _ = make_observer("Lab")
    observation = make_observation(observer, environment, environment.deployments.get(release=release))
    report = registry.record_observer_report(observer, signed(private_key, observation))
    services.integrate()
    return report


def audit_message(caplog):
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        return services.audit()


def test_observers_and_reports_that_match_their_entries_pass(report):
    run = services.audit()
    assert run.ok, run.message
    assert "observers: 1, observer reports: 1" in run.message


def test_an_edited_report_result_is_caught(report, caplog):
    update(ObserverReport, report.pk, result="mismatch")
    run = audit_message(caplog)
    assert not run.ok
    assert (
        f"observer report {report.pk} of observer 'Lab' on project 'demo' (production): result is 'mismatch' "
        "in the database but 'verified'" in run.message
    )


def test_an_edited_report_envelope_is_caught_with_its_hash_left_alone(report, caplog):
    update(ObserverReport, report.pk, envelope=report.envelope.replace('"payload"', ' "payload"'))
    run = audit_message(caplog)
    assert not run.ok and "envelope (its sha256) is" in run.message


def test_a_swapped_observer_key_is_caught(report, caplog):
    observer = report.observer
    update(Observer, observer.pk, key_id="ab" * 32)
    run = audit_message(caplog)
    assert not run.ok and f"observer {observer.pk} (Lab): key_id is '{'ab' * 32}'" in run.message

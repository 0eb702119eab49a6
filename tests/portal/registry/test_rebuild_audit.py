"""The self-audit holds rebuilders, rebuilds and the answers to them to their log entries: a row edited
behind the application's back (raw SQL, as a database administrator could) is named with the field."""

import logging

import pytest

from portal.registry import services as registry
from portal.registry.models import Rebuild, RebuildAnswer, Rebuilder
from portal.transparency import services
from tests.portal import factories
from tests.portal.rebuilders import make_rebuilder, rebuild
from tests.portal.registry.test_audit import update

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(log_key_file):
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    rebuilder_key, rebuilder, _ = make_rebuilder("Lab")
    differing = rebuild(rebuilder_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    answer = registry.answer_rebuild(differing, "Another gzip; fixed in 1.0.1.")
    services.integrate()
    return answer


def audit_message(caplog):
    with caplog.at_level(logging.CRITICAL, logger="portal.transparency.services"):
        return services.audit()


def test_rebuilders_rebuilds_and_answers_that_match_their_entries_pass(answered):
    run = services.audit()
    assert run.ok, run.message
    assert "rebuilders: 1, rebuilds: 1, answers to rebuilds: 1" in run.message


def test_an_edited_rebuild_result_is_caught(answered, caplog):
    differing = answered.rebuild
    update(Rebuild, differing.pk, result="reproduced")
    run = audit_message(caplog)
    assert not run.ok
    assert (
        f"rebuild {differing.pk} by rebuilder 'Lab' of release {differing.release_id} (1.0.0) of project "
        "'demo': result is 'reproduced' in the database but 'differs'" in run.message
    )


def test_an_edited_rebuild_envelope_is_caught_with_its_hash_left_alone(answered, caplog):
    differing = answered.rebuild
    update(Rebuild, differing.pk, envelope=differing.envelope.replace('"payload"', ' "payload"'))
    run = audit_message(caplog)
    assert not run.ok and "envelope (its sha256) is" in run.message


def test_an_edited_answer_is_caught(answered, caplog):
    update(RebuildAnswer, answered.pk, text="We never said that.")
    run = audit_message(caplog)
    assert not run.ok
    assert f"answer {answered.pk} to rebuild {answered.rebuild_id} of project 'demo': text is" in run.message


def test_a_swapped_rebuilder_key_is_caught(answered, caplog):
    rebuilder = answered.rebuild.rebuilder
    update(Rebuilder, rebuilder.pk, key_id="ab" * 32)
    run = audit_message(caplog)
    assert not run.ok and f"rebuilder {rebuilder.pk} (Lab): key_id is '{'ab' * 32}'" in run.message

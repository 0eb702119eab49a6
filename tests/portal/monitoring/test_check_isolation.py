"""One environment's check never touches another's: whatever its server answers and whatever its
examination or its record raises, the others of its group are checked and recorded as usual, and it
still gets an observation that is never green. Real parts: HTTP servers on loopback, git, the log."""

import logging

import pytest
from django.db import connections
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from portal.monitoring.runner import check_claims, check_environment
from portal.registry.models import Environment
from portal.transparency.models import LogEntry
from portal.transparency.services import integrate
from tests.helpers.liveserver import LiveServer, LoopbackServer
from tests.portal import factories

# 60 KB of opening brackets around an unregistered digest: deeper than any parser's recursion.
NESTED = b"[" * 30_000 + b'{"artifact_digest": "sha256:' + b"ee" * 32 + b'"}' + b"]" * 30_000


def make_neighbours(watched, count):
    return watched.neighbours(count, prefix="healthy")


def results():
    return {o.environment_id: (o.result, o.reason) for o in Observation.objects.all()}


@pytest.mark.django_db
def test_nested_json_neighbour_turns_red_and_every_healthy_neighbour_is_recorded(watched):
    neighbours = make_neighbours(watched, 3)
    with LiveServer(watched.live_body(watched.release)) as hostile_server:
        hostile = factories.make_environment(watched.project, name="hostile", live_url=hostile_server.url)
        factories.make_deployment(hostile, watched.release)
        assert check_environment(hostile).result == "verified"
        hostile_server.set_body(NESTED, "application/json")
        due = timezone.now()

        observations = check_claims([(e.pk, due) for e in (neighbours[0], hostile, *neighbours[1:])])

    assert None not in observations
    recorded = {o.environment_id: (o.result, o.reason) for o in Observation.objects.filter(due_at=due)}
    assert recorded == {
        hostile.pk: ("unverifiable", "bad_response"),
        **{e.pk: ("verified", "") for e in neighbours},
    }
    status = Status.objects.get(environment=hostile)
    assert (status.result, status.reason, status.light) == ("unverifiable", "bad_response", "amber")
    assert "nested" in status.message


@pytest.mark.django_db
def test_nested_json_answer_of_a_lone_environment_is_a_bad_response(watched):
    watched.server.set_body(NESTED, "application/json")

    observation = check_environment(watched.environment, due_at=timezone.now())

    assert (observation.result, observation.reason, observation.light) == (
        "unverifiable",
        "bad_response",
        "amber",
    )


def forge_log_entry(deployment):
    """A row that is not a log entry, written where the deployment's entry is looked up, as an
    intruder with database access could: reading it breaks the examination of that one environment."""
    integrate()
    last = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    LogEntry.objects.create(
        index=last + 1, kind="deployment", object_id=deployment.pk, entry=b"\xff\xfe", leaf_hash=b"\0" * 32
    )


@pytest.mark.django_db
def test_an_examination_that_breaks_stops_no_other_check_and_is_never_green(watched, caplog):
    neighbours = make_neighbours(watched, 3)
    assert check_environment(watched.environment).result == "verified"
    forge_log_entry(watched.deployment)
    due = timezone.now()

    with caplog.at_level(logging.ERROR, logger="portal.monitoring.runner"):
        observations = check_claims(
            [(e.pk, due) for e in (neighbours[0], watched.environment, *neighbours[1:])]
        )

    assert None not in observations
    recorded = {o.environment_id: (o.result, o.reason) for o in Observation.objects.filter(due_at=due)}
    assert recorded == {
        watched.environment.pk: ("unverifiable", "checker_error"),
        **{e.pk: ("verified", "") for e in neighbours},
    }
    assert Status.objects.get(environment=watched.environment).light == "amber"
    assert f"environment {watched.environment.pk}" in caplog.text and "Traceback" in caplog.text


@pytest.mark.django_db
def test_a_lone_examination_that_breaks_is_recorded_as_a_checker_error(watched):
    forge_log_entry(watched.deployment)

    observation = check_environment(watched.environment, due_at=timezone.now())

    assert (observation.result, observation.reason, observation.light) == (
        "unverifiable",
        "checker_error",
        "amber",
    )
    assert "Traceback" not in observation.message and "\\xff" not in observation.message


class DeletingServer(LoopbackServer):
    """Deletes the environment it serves while its check is in flight (an operator removing it in
    the admin), then answers; the check's record can then no longer be written."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.environment_id = None

    def respond(self, handler):
        try:
            Environment.objects.filter(pk=self.environment_id).delete()
        finally:
            connections.close_all()
        self.send(handler, 200, self.body, "application/json")


@pytest.mark.django_db(transaction=True)
def test_a_record_that_cannot_be_written_stops_no_other_check(watched):
    neighbours = make_neighbours(watched, 3)
    with DeletingServer(watched.server.body) as deleting:
        doomed = factories.make_environment(watched.project, name="doomed", live_url=deleting.url)
        deleting.environment_id = doomed.pk
        due = timezone.now()

        observations = check_claims([(e.pk, due) for e in (neighbours[0], doomed, *neighbours[1:])])

    assert observations[1] is None and None not in observations[:1] + observations[2:]
    assert not Environment.objects.filter(pk=doomed.pk).exists()
    assert results() == {e.pk: ("verified", "") for e in neighbours}

"""The operations endpoints: /metrics for Prometheus and /healthz."""

import datetime
import os
import socket

import pytest
import redis
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from portal.monitoring.models import Observation, Status
from portal.transparency.models import Checkpoint
from tests.portal.factories import make_deployment, make_environment, make_key, make_project, make_release

pytestmark = pytest.mark.django_db


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    """The filesystem transport, with a queue folder holding three waiting messages."""
    queue = tmp_path / "queue"
    queue.mkdir()
    for n in range(3):
        (queue / f"msg-{n}.msg").write_text("{}")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(queue), "data_folder_out": str(queue)}
    return queue


@pytest.fixture
def broker_down(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def observe(environment, result, duration_ms, minutes_ago=0):
    return Observation.objects.create(
        environment=environment,
        checked_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        result=result,
        duration_ms=duration_ms,
    )


class TestMetrics:
    def test_checks_by_result_and_latency_histogram(self, client, filesystem_broker):
        environment = make_environment(make_project("demo"))
        observe(environment, "verified", 40)
        observe(environment, "verified", 300)
        observe(environment, "mismatch", 800)
        observe(environment, "unverifiable", 12000)

        metrics = scrape(client)

        assert metrics[("vitrina_checks_total", (("result", "verified"),))] == 2
        assert metrics[("vitrina_checks_total", (("result", "mismatch"),))] == 1
        assert metrics[("vitrina_checks_total", (("result", "unverifiable"),))] == 1
        assert metrics[("vitrina_check_duration_seconds_bucket", (("le", "0.05"),))] == 1
        assert metrics[("vitrina_check_duration_seconds_bucket", (("le", "0.5"),))] == 2
        assert metrics[("vitrina_check_duration_seconds_bucket", (("le", "1.0"),))] == 3
        assert metrics[("vitrina_check_duration_seconds_bucket", (("le", "10.0"),))] == 3
        assert metrics[("vitrina_check_duration_seconds_bucket", (("le", "+Inf"),))] == 4
        assert metrics[("vitrina_check_duration_seconds_count", ())] == 4
        assert metrics[("vitrina_check_duration_seconds_sum", ())] == pytest.approx(13.14)

    def test_environments_by_current_light(self, client, filesystem_broker):
        project = make_project("demo")
        now = timezone.now()
        for name, result, checked_at in [
            ("a", "verified", now),
            ("b", "mismatch", now),
            ("c", "unverifiable", now),
            ("d", "verified", None),
        ]:
            environment = make_environment(project, name)
            Status.objects.create(environment=environment, result=result, checked_at=checked_at)
        make_environment(project, "e")

        metrics = scrape(client)

        def environments(light, result):
            return metrics[("vitrina_environments", (("light", light), ("result", result)))]

        assert environments("green", "verified") == 1
        assert environments("red", "mismatch") == 1
        assert environments("amber", "unverifiable") == 1
        assert environments("none", "unchecked") == 2

    def test_queue_depth_counts_files_in_the_filesystem_queue(self, client, filesystem_broker):
        metrics = scrape(client)

        assert metrics[("vitrina_broker_up", ())] == 1
        assert metrics[("vitrina_queue_depth", ())] == 3

    @pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
    def test_queue_depth_is_the_length_of_the_redis_list(self, client, settings):
        queue = f"vitrina-test-metrics-{os.getpid()}"
        settings.CELERY_BROKER_URL = os.environ["REDIS_URL"]
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        connection = redis.Redis.from_url(os.environ["REDIS_URL"])
        connection.delete(queue)
        connection.rpush(queue, "a", "b")
        try:
            assert scrape(client)[("vitrina_queue_depth", ())] == 2
        finally:
            connection.delete(queue)
            connection.close()

    def test_broker_down_is_reported_not_a_server_error(self, client, broker_down):
        metrics = scrape(client)

        assert metrics[("vitrina_broker_up", ())] == 0
        assert ("vitrina_queue_depth", ()) not in metrics

    def test_log_size_and_checkpoint_age(self, client, filesystem_broker):
        project = make_project("demo")
        key, _ = make_key(project)
        make_deployment(make_environment(project), make_release(project, key, "1.0.0"))
        Checkpoint.objects.create(
            size=2, root=b"\0" * 32, note="test", created_at=timezone.now() - datetime.timedelta(seconds=90)
        )

        metrics = scrape(client)

        assert metrics[("vitrina_log_entries", ())] == 3  # key added, release, deployment
        assert metrics[("vitrina_log_pending_entries", ())] == 3  # none has its index yet
        assert metrics[("vitrina_log_tree_size", ())] == 2
        assert 90 <= metrics[("vitrina_log_checkpoint_age_seconds", ())] < 120

    def test_no_checkpoint_yet_means_no_age(self, client, filesystem_broker):
        metrics = scrape(client)

        assert metrics[("vitrina_log_entries", ())] == 0
        assert metrics[("vitrina_log_pending_entries", ())] == 0
        assert ("vitrina_log_checkpoint_age_seconds", ()) not in metrics


class TestHealthz:
    def test_healthy_with_database_and_broker(self, client, filesystem_broker):
        response = client.get("/healthz")

        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        document = response.json()
        assert (document["database"], document["broker"], document["worker"]) == ("ok", "ok", "unknown")

    def test_broker_on_a_closed_port_is_503(self, client, broker_down):
        response = client.get("/healthz")

        assert response.status_code == 503
        assert (response.json()["database"], response.json()["broker"]) == ("ok", "error")
        assert "127.0.0.1" not in response.content.decode()

    def test_missing_filesystem_queue_folder_is_503(self, client, settings, tmp_path):
        settings.CELERY_BROKER_URL = "filesystem://"
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}

        assert client.get("/healthz").status_code == 503

    def test_worker_is_ok_after_a_recent_check(self, client, filesystem_broker):
        observe(make_environment(make_project("demo"), check_interval=60), "verified", 10, minutes_ago=1)

        document = client.get("/healthz").json()

        assert document["worker"] == "ok"
        assert 55 <= document["last_check_age_seconds"] <= 65

    def test_worker_is_stale_when_checks_stopped(self, client, filesystem_broker):
        observe(make_environment(make_project("demo"), check_interval=60), "verified", 10, minutes_ago=10)

        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json()["worker"] == "stale"

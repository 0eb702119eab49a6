"""Fault drills: the processes of a real deployment die or lose their Redis in the middle of work, and
nothing that was accepted is lost or written twice.

- the Celery worker is killed (SIGKILL) during a burst of checks and log integration, then restarted;
- gunicorn is killed (SIGKILL, master and workers) while several clients POST releases and deployments;
- the Redis that is both the broker and the cache is stopped, then started again, while pages are read.

Every drill uses real processes (``celerystack``, ``tests.helpers.gunicorn``) and a private
``redis-server`` on a free port, so the machine's shared Redis is never stopped. Marked ``e2e``; each
drill takes 5 to 25 seconds (figures in the README).
"""

import datetime
import http.client
import itertools
import json
import os
import shutil
import signal
import threading
import time

import pytest
from celery import Celery
from django.test import Client
from django.utils import timezone

from portal.monitoring.models import Observation
from portal.registry.models import Deployment, Environment, Release
from portal.transparency import services
from portal.transparency.models import LogEntry, PendingEntry
from portal.web import shared_cache
from tests.helpers import needs
from tests.helpers.caches import production_caches
from tests.helpers.gunicorn import Gunicorn
from tests.portal import factories

from .celerystack import CeleryStack, RedisServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

INTERVAL = 2  # seconds between checks of one environment


@pytest.fixture
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        needs.missing("redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.work_dir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(redis_server, tmp_path, log_key_file):
    celery = CeleryStack(
        redis_server.url, tmp_path / "celery", extra_env={"VITRINA_LOG_KEY_FILE": str(log_key_file)}
    )
    yield celery
    celery.stop()


def healthy_environments(watched, count):
    environments = [watched.environment, *watched.neighbours(count - 1)]
    Environment.objects.filter(pk__in=[e.pk for e in environments]).update(
        check_interval=INTERVAL, next_check_at=timezone.now()
    )
    return environments


def wait_for_checks(stack, environments, since, count, timeout=60):
    for environment in environments:
        try:
            wait_for(
                lambda env=environment: (
                    Observation.objects.filter(environment=env, checked_at__gt=since).count() >= count
                ),
                timeout,
                message=f"{count} checks of {environment}",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.logs(200)}") from None


def wait_for_integration(stack, integrate_soon, timeout=60):
    def integrated():
        if not PendingEntry.objects.exists():
            return True
        integrate_soon()
        return False

    try:
        wait_for(integrated, timeout, interval=0.5, message="the log integrated")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}: {PendingEntry.objects.count()} entries still pending\n{stack.logs(200)}"
        ) from None


def assert_log_whole():
    """Every record has exactly one entry, every entry its record, indexes dense, and the audit passes."""
    services.integrate()
    entries = list(LogEntry.objects.values_list("index", "kind", "object_id"))
    assert sorted(index for index, _, _ in entries) == list(range(len(entries))), "indexes are not dense"
    for kind, model in (("release", Release), ("deployment", Deployment)):
        logged = sorted(object_id for _, k, object_id in entries if k == kind)
        assert logged == sorted(model.objects.values_list("pk", flat=True)), f"{kind}s and their entries"
    statuses = [object_id for _, k, object_id in entries if k == "status"]
    assert len(statuses) == len(set(statuses)), "a status change was logged twice"
    changes = set(Observation.objects.filter(changed_status=True).values_list("pk", flat=True))
    assert set(statuses) == changes, "status changes and their entries"
    run = services.audit()
    assert run.ok, run.message


def assert_each_claim_checked_once(environments):
    for environment in environments:
        claims = list(Observation.objects.filter(environment=environment).values_list("due_at", flat=True))
        assert None not in claims
        assert len(claims) == len(set(claims)), f"a claim of {environment} was checked twice"


def test_worker_killed_during_checks_and_log_integration_loses_and_doubles_nothing(
    watched, stack, redis_server
):
    started = time.monotonic()
    environments = healthy_environments(watched, 4)
    stack.start_worker()
    stack.start_beat()
    wait_for_checks(stack, environments, timezone.now() - datetime.timedelta(seconds=60), 1)
    # The test beat schedules checks only: integration is queued here, by name, after each record.
    queue = Celery("drill", broker=redis_server.url)

    def integrate_soon():
        queue.send_task("portal.transparency.tasks.integrate")

    try:
        # A burst of records while the worker checks and integrates; the kill lands in the middle of it.
        for n in range(20):
            release = factories.make_release(
                watched.project, watched.private_key, f"2.0.{n}", commit=watched.shas[-1]
            )
            factories.make_deployment(environments[n % len(environments)], release)
            integrate_soon()
            if n == 10:
                stack.kill("worker")
        assert not stack.alive("worker")
        time.sleep(1)
        stack.start_worker()
        restarted = timezone.now()

        wait_for_checks(stack, environments, restarted, 2)
        wait_for_integration(stack, integrate_soon)
    finally:
        queue.close()
    assert stack.alive("worker") and stack.alive("beat"), stack.logs()
    stack.stop()
    assert_each_claim_checked_once(environments)
    assert_log_whole()
    print(f"\nworker kill drill: {time.monotonic() - started:.1f} s")


class Burst:
    """Client threads POSTing releases (and a deployment of each) until stopped; records what got 201."""

    def __init__(self, port, token, ci_key, project, threads=4):
        self.port = port
        self.token = token
        self.ci_key = ci_key
        self.project = project
        self.accepted = {"release": [], "deployment": []}  # (id, log_index) of every 201
        self.refused = []  # any answer other than 201 or a dropped connection
        self.dropped = 0
        self.stopping = threading.Event()
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def post(self, path, body):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                "POST",
                path,
                body=json.dumps(body),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            return response.status, response.read()
        # Refused while gunicorn is down, or cut by the kill (before or inside the answer): no acceptance
        # the client saw, though a cut answer's record may exist; the drill counts only what got 201.
        except (OSError, http.client.HTTPException):
            with self.lock:
                self.dropped += 1
            time.sleep(0.05)
            return None, b""
        finally:
            connection.close()

    def run(self):
        while not self.stopping.is_set():
            version = f"3.0.{next(self.numbers)}"
            envelope = factories.make_envelope(
                self.ci_key, artifact=version.encode(), repo_url=self.project.repo_url
            )
            status, body = self.post("/api/v1/releases/", {"envelope": envelope, "version": version})
            if status != 201:
                self.note_refused(status, body)
                continue
            self.note_accepted("release", body)
            status, body = self.post(
                "/api/v1/deployments/", {"environment": "production", "release": version}
            )
            if status == 201:
                self.note_accepted("deployment", body)
            else:
                self.note_refused(status, body)

    def note_accepted(self, kind, body):
        answer = json.loads(body)
        with self.lock:
            self.accepted[kind].append((answer["id"], answer["log_index"]))

    def note_refused(self, status, body):
        if status is not None:
            with self.lock:
                self.refused.append((status, body[:300]))

    def wait_for_releases(self, count, timeout=60):
        wait_for(
            lambda: len(self.accepted["release"]) >= count, timeout, message=f"{count} accepted releases"
        )

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_gunicorn_killed_during_a_burst_of_registrations_loses_and_doubles_nothing(
    db, tmp_path, log_key_file
):
    started = time.monotonic()
    project = factories.make_project("city-portal")
    factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    _, token = factories.make_token(project)
    # The portal's key: each registration's answer sequences its entry to name its index.
    server = Gunicorn(
        tmp_path / "web", workers=2, threads=2, extra_env={"VITRINA_LOG_KEY_FILE": str(log_key_file)}
    )
    with server, Burst(server.port, token, private_key, project) as burst:
        burst.wait_for_releases(10)
        os.killpg(server.process.pid, signal.SIGKILL)  # master and workers, mid-request
        server.process.wait(timeout=15)
        killed_at = len(burst.accepted["release"])
        server.__enter__()  # the same port, as a supervisor would restart it
        burst.wait_for_releases(killed_at + 10)
    assert not burst.refused, burst.refused
    assert burst.dropped > 0, "the kill landed between requests: the drill proved nothing"

    for kind, model in (("release", Release), ("deployment", Deployment)):
        for pk, log_index in burst.accepted[kind]:
            assert model.objects.filter(pk=pk).exists(), f"accepted {kind} {pk} has no row"
            assert list(LogEntry.objects.filter(kind=kind, object_id=pk).values_list("index", flat=True)) == [
                log_index
            ], f"accepted {kind} {pk} and its log entry"
    assert_log_whole()
    print(
        f"\ngunicorn kill drill: {time.monotonic() - started:.1f} s, "
        f"{len(burst.accepted['release'])} releases and {len(burst.accepted['deployment'])} deployments "
        f"accepted, {burst.dropped} requests cut or refused"
    )


def test_pages_keep_serving_and_checks_resume_while_the_redis_broker_and_cache_restarts(
    watched, stack, redis_server, settings
):
    started = time.monotonic()
    settings.CACHES = production_caches(redis_server.url)
    shared_cache.reset()
    client = Client()
    slug, env = watched.project.slug, watched.environment.name
    pages = ["/", f"/p/{slug}/", f"/p/{slug}/{env}/", f"/badge/{slug}/{env}.svg", f"/badge/{slug}.json"]
    answers = []

    def read_pages(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            answers.extend((path, client.get(path).status_code) for path in pages)
            time.sleep(0.1)

    try:
        environments = healthy_environments(watched, 3)
        stack.start_worker()
        stack.start_beat()
        wait_for_checks(stack, environments, timezone.now() - datetime.timedelta(seconds=60), 1)
        read_pages(1)

        redis_server.stop()
        read_pages(3)
        redis_server.start()
        restarted = timezone.now()
        read_pages(1)
        wait_for_checks(stack, environments, restarted, 2)
        read_pages(1)
        assert stack.alive("worker") and stack.alive("beat"), stack.logs()
    finally:
        shared_cache.reset()
    stack.stop()

    assert answers and all(status == 200 for _, status in answers), [a for a in answers if a[1] != 200]
    assert client.get(f"/badge/{slug}/{env}.json").json()["result"] == "verified"
    assert_each_claim_checked_once(environments)
    print(f"\nbroker and cache restart drill: {time.monotonic() - started:.1f} s, {len(answers)} page reads")

"""End to end: a real Celery worker and beat on a real Redis, real HTTP servers on loopback, real git
repositories, and the test database shared with the worker. Slow (about a minute); marked ``e2e``.

Skipped when no Redis answers on 127.0.0.1:6379, except under CI, where that is a failure. The
broker-restart test runs its own ``redis-server``: the machine's shared Redis is never stopped.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.monitoring.models import Observation, Status
from portal.registry.models import Environment
from tests.helpers import needs
from tests.helpers.liveserver import (
    DribbleServer,
    ErrorServer,
    HugeServer,
    LiveServer,
    RedirectLoopServer,
    RedirectToServer,
    SilentServer,
)
from tests.portal import factories

from .celerystack import CeleryStack, RedisServer, redis_answers, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

SHARED_REDIS_DB = "redis://127.0.0.1:6379/7"
INTERVAL = 2  # seconds between checks of one environment, in these tests
NESTED_ANSWER = b"[" * 30_000 + b'{"artifact_digest": "sha256:' + b"ee" * 32 + b'"}' + b"]" * 30_000


@pytest.fixture
def shared_redis():
    if not redis_answers():
        needs.missing("no Redis on 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(SHARED_REDIS_DB).flushdb()
    return SHARED_REDIS_DB


@pytest.fixture
def stack(shared_redis, tmp_path):
    celery = CeleryStack(shared_redis, tmp_path / "celery")
    yield celery
    celery.stop()


def status(environment):
    return Status.objects.filter(environment=environment).values_list("result", "reason").first()


def wait_for_status(stack, environment, expected, timeout=30):
    try:
        return wait_for(lambda: status(environment) == expected, timeout, message=f"{environment} {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; status is {status(environment)}\n{stack.logs()}") from None


def due_now(*environments):
    Environment.objects.filter(pk__in=[e.pk for e in environments]).update(
        check_interval=INTERVAL, next_check_at=timezone.now()
    )


def test_walk_from_green_to_red_and_back_through_the_worker(watched, stack):
    due_now(watched.environment)
    stack.start_worker()
    stack.start_beat()

    wait_for_status(stack, watched.environment, ("verified", ""))

    watched.server.set_body({"artifact_digest": factories.sha256_bytes(b"built by hand on the server")})
    wait_for_status(stack, watched.environment, ("mismatch", "unregistered_artifact"))

    fixed = factories.make_release(watched.project, watched.private_key, "1.0.1", commit=watched.shas[-1])
    factories.make_deployment(watched.environment, fixed)
    watched.serve(fixed)
    wait_for_status(stack, watched.environment, ("verified", ""))

    changes = Observation.objects.filter(environment=watched.environment, changed_status=True)
    assert [(o.result, o.reason) for o in changes.order_by("checked_at")] == [
        ("verified", ""),
        ("mismatch", "unregistered_artifact"),
        ("verified", ""),
    ]
    logged = factories.sequenced_entries().filter(kind="status", object_id__in=changes.values("pk"))
    assert logged.count() == 3
    assert Status.objects.get(environment=watched.environment).live_digest == fixed.artifact_digest
    assert not Observation.objects.filter(environment=watched.environment, due_at=None).exists()


def test_hostile_endpoints_do_not_delay_healthy_environments(watched, stack):
    hostile = {
        "silent": (SilentServer(), "timeout"),
        "dribble": (DribbleServer(), "timeout"),
        "huge": (HugeServer(), "too_large"),
        "loop": (RedirectLoopServer(), "bad_response"),
        "metadata": (RedirectToServer("http://169.254.169.254/latest/meta-data/"), "forbidden_address"),
        "garbage": (LiveServer(b"<html>not json</html>", content_type="application/json"), "bad_response"),
        "error": (ErrorServer(500), "unreachable"),
        # 60 KB of brackets around an unregistered digest: once a RecursionError that aborted its group.
        "nested": (LiveServer(NESTED_ANSWER, content_type="application/json"), "bad_response"),
    }
    servers = [server.start() for server, _ in hostile.values()]
    try:
        environments = {
            name: factories.make_environment(watched.project, name=name, live_url=server.url)
            for name, (server, _) in hostile.items()
        }
        healthy = [watched.environment] + [
            factories.make_environment(watched.project, name=f"healthy-{n}", live_url=watched.server.url)
            for n in range(3)
        ]
        for environment in healthy[1:]:
            factories.make_deployment(environment, watched.release)
        due_now(*environments.values(), *healthy)
        stack.start_worker()
        stack.start_beat()

        for name, environment in environments.items():
            wait_for_status(stack, environment, ("unverifiable", hostile[name][1]))
        started = timezone.now()
        time.sleep(4 * INTERVAL)
        ended = timezone.now()
    finally:
        for server in servers:
            server.stop()

    assert stack.alive("worker"), stack.logs()
    for environment in healthy:
        times = list(
            Observation.objects.filter(
                environment=environment, checked_at__gte=started - timedelta(seconds=5)
            )
            .order_by("checked_at")
            .values_list("checked_at", flat=True)
        )
        # Checked every interval, never held up by the hostile ones: waiting on them one after another
        # would take 7 x 2 s. The margin allows one late round on a loaded 2-core machine.
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) < 2 * INTERVAL * 1.1 + 1.5, (environment, gaps)
        assert (ended - times[-1]).total_seconds() < 2 * INTERVAL * 1.1 + 1.5
        assert status(environment) == ("verified", "")


def test_broker_restart_loses_and_doubles_nothing(watched, tmp_path):
    redis_server = RedisServer(tmp_path).start()
    stack = CeleryStack(redis_server.url, tmp_path / "celery")
    try:
        others = [
            factories.make_environment(watched.project, name=f"env-{n}", live_url=watched.server.url)
            for n in range(3)
        ]
        for environment in others:
            factories.make_deployment(environment, watched.release)
        environments = [watched.environment, *others]
        due_now(*environments)
        stack.start_worker()
        stack.start_beat()
        for environment in environments:
            wait_for_status(stack, environment, ("verified", ""))
        before = set(Observation.objects.values_list("pk", flat=True))

        redis_server.stop()
        time.sleep(3)
        redis_server.start()
        restarted = timezone.now()

        for environment in environments:
            try:
                wait_for(
                    lambda env=environment: (
                        Observation.objects.filter(environment=env, checked_at__gt=restarted).count() >= 2
                    ),
                    60,
                    message=f"checks of {environment} after the broker restart",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{stack.logs(200)}") from None
        assert stack.alive("worker") and stack.alive("beat"), stack.logs()
    finally:
        stack.stop()
        redis_server.stop()

    assert before <= set(Observation.objects.values_list("pk", flat=True))
    for environment in environments:
        claims = list(Observation.objects.filter(environment=environment).values_list("due_at", flat=True))
        assert None not in claims
        assert len(claims) == len(set(claims)), f"a claim of {environment} was checked twice"
        times = sorted(
            Observation.objects.filter(environment=environment).values_list("checked_at", flat=True)
        )
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) > INTERVAL * 0.9 - 0.6, (environment, gaps)


def test_check_lost_with_a_killed_worker_is_done_on_the_next_round(watched, stack):
    with SilentServer() as silent:
        Environment.objects.filter(pk=watched.environment.pk).update(live_url=silent.url)
        due_now(watched.environment)
        stack.start_worker()
        stack.start_beat()
        wait_for(lambda: silent.request_count >= 1, 30, message="the check to reach the live server")
        stack.kill("worker")
        killed_at = timezone.now()
    assert not Observation.objects.filter(environment=watched.environment).exists()
    lost_claim = Environment.objects.get(pk=watched.environment.pk).next_check_at

    Environment.objects.filter(pk=watched.environment.pk).update(live_url=watched.server.url)
    stack.start_worker()
    wait_for_status(stack, watched.environment, ("verified", ""))

    observation = Observation.objects.get(environment=watched.environment)
    assert observation.due_at >= lost_claim
    assert (observation.checked_at - killed_at).total_seconds() < INTERVAL * 1.1 + 15


def test_swapped_script_turns_red_through_the_worker_and_a_hostile_site_holds_up_no_one(watched, stack):
    """The served-files layer through the real worker and beat: a site swaps one JavaScript file and its
    light turns red within an interval, naming the file; a site that never answers makes its own check
    amber while its neighbour stays green."""
    from tests.helpers.site import SiteServer, js, page, served_list

    files = {"/": page('<script src="/static/app.js"></script>'), "/static/app.js": js(b"vote()")}
    with SiteServer(files) as site, SilentServer() as silent:
        release = factories.make_release(
            watched.project,
            watched.private_key,
            "3.0.0",
            commit=watched.shas[-1],
            served_files=served_list(files),
        )
        factories.make_deployment(watched.environment, release)
        watched.serve(release)
        hostile = factories.make_environment(
            watched.project, name="hostile-site", live_url=watched.server.url
        )
        factories.make_deployment(hostile, release)
        Environment.objects.filter(pk=watched.environment.pk).update(site_url=site.base_url)
        Environment.objects.filter(pk=hostile.pk).update(site_url=silent.base_url)
        due_now(watched.environment, hostile)
        stack.start_worker()
        stack.start_beat()

        wait_for_status(stack, watched.environment, ("verified", ""))
        wait_for_status(stack, hostile, ("unverifiable", "timeout"), timeout=60)
        site.files["/static/app.js"] = js(b"vote(); steal()")
        wait_for_status(stack, watched.environment, ("mismatch", "served_file_mismatch"))
        assert "/static/app.js" in Status.objects.get(environment=watched.environment).message

"""Benchmark: environment checks per second on one Celery worker, against live servers on loopback.

Sets up a throw-away database (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``) with one project, a real git repository, a signed and logged release, and
``--environments`` environments deployed with it, whose live endpoints are real HTTP servers on
127.0.0.1. Then, round after round, makes every environment due, runs the dispatcher, and times until
the worker (one process, ``--pool`` / ``--concurrency``) has written an observation for each. Every
check is a full one: live fetch, registry comparison, signature, log entries, repository (answers kept
for the mirror's minimum fetch interval), observation and status written.

    .venv/bin/python benchmarks/checks.py [--environments 1000] [--rounds 5] [--concurrency 24]

Prints the figures (median of the rounds) and writes them to benchmarks/results/checks.txt.
"""

import os
import statistics
import time
from collections import Counter
from pathlib import Path

from _portal import benchmark_arguments, report, setup_portal


def session_cpu_seconds(session_id):
    """User + system CPU time of every live process in session ``session_id`` (the worker and its pool)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state ppid pgrp session ... utime (12th) stime (13th).
        if int(fields[3]) == session_id:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def main():
    parser = benchmark_arguments(__doc__, redis_db=8)
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--pool", default="threads")
    parser.add_argument("--live-servers", type=int, default=4)
    args = parser.parse_args()

    work = setup_portal(
        "vitrina-bench-checks-",
        args.database_url,
        redis_url=args.redis_url,
        settings_module="tests.portal.monitoring.worker_settings",
    )
    import redis
    from django.db import connection
    from django.utils import timezone

    from portal.monitoring import dispatch
    from portal.monitoring.models import Observation
    from portal.registry.models import Environment
    from tests.helpers import liveserver
    from tests.helpers.gitserver import make_repo
    from tests.helpers.liveserver import LiveServer
    from tests.portal import factories
    from tests.portal.monitoring.celerystack import CeleryStack, wait_for

    redis.Redis.from_url(args.redis_url).flushdb()

    repo = work / "app.git"
    commit = make_repo(repo, commits=3)[-1]
    project = factories.make_project(slug="bench", repo_url=repo.as_uri())
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0", commit=commit)
    # The standard library's listen backlog of 5 would drop connections under this load; a real
    # service's accept queue is far longer.
    liveserver._Server.request_queue_size = 1024
    servers = [
        LiveServer({"artifact_digest": release.artifact_digest}).start() for _ in range(args.live_servers)
    ]
    stack = CeleryStack(args.redis_url, work / "celery", concurrency=args.concurrency, live_timeout=10)
    try:
        far = timezone.now() + timezone.timedelta(days=1)
        Environment.objects.bulk_create(
            Environment(
                project=project, name=f"env-{n}", live_url=servers[n % len(servers)].url, next_check_at=far
            )
            for n in range(args.environments)
        )
        for environment in Environment.objects.filter(project=project):
            factories.make_deployment(environment, release)
        Environment.objects.update(next_check_at=far)
        worker = stack.start_worker(pool=args.pool)

        cpu_per_check = []

        def run_round():
            before = Observation.objects.count()
            Environment.objects.update(next_check_at=timezone.now())
            cpu_before = session_cpu_seconds(worker.pid)
            started = time.monotonic()
            dispatch.dispatch_due()
            wait_for(
                lambda: Observation.objects.count() >= before + args.environments,
                600,
                interval=0.02,
                message="every environment checked",
            )
            elapsed = time.monotonic() - started
            cpu_per_check.append((session_cpu_seconds(worker.pid) - cpu_before) * 1000 / args.environments)
            return args.environments / elapsed

        run_round()  # warm-up: worker start, repository mirror, connections
        del cpu_per_check[:]
        load_before = os.getloadavg()
        rates = [run_round() for _ in range(args.rounds)]
        load_after = os.getloadavg()
        outcomes = Counter(Observation.objects.values_list("result", "reason"))
    finally:
        stack.stop()
        for server in servers:
            server.stop()

    assert set(outcomes) == {("verified", "")}, f"not every check was green: {outcomes}"
    lines = [
        f"environment checks per second, one worker ({args.pool}, concurrency {args.concurrency}), "
        f"{os.cpu_count()} CPUs, {connection.vendor}",
        f"environments: {args.environments}, live servers on loopback: {args.live_servers}, "
        f"rounds: {args.rounds}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1-min load average before / after the "
        f"rounds: {load_before[0]:.2f} / {load_after[0]:.2f}",
        f"median: {statistics.median(rates):.0f} checks/s",
        f"rounds: {', '.join(f'{rate:.0f}' for rate in rates)}",
        f"worker CPU per check (worker process and its pool, all cores; noise-robust): "
        f"median {statistics.median(cpu_per_check):.2f} ms",
        f"rounds: {', '.join(f'{ms:.2f} ms' for ms in cpu_per_check)}",
    ]
    report(lines, "checks")


if __name__ == "__main__":
    main()

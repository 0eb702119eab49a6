"""Benchmark: can the dispatcher keep up with 10,000 environments on a 60 s interval?

Creates ``--environments`` environments in a throw-away database (SQLite in a temporary directory, or
the PostgreSQL database named by ``--database-url``), makes them all due at once, the worst case, and
times one full dispatch round: claiming every environment (row lock and conditional UPDATE, batch by
batch) and queueing its check on a real Redis (a dedicated database number, flushed first). No worker
consumes the checks: only the dispatcher is measured.

    .venv/bin/python benchmarks/dispatcher.py [--environments 10000] [--rounds 5]

Prints the figures (median of the rounds) and writes them to benchmarks/results/dispatcher.txt.
"""

import os
import statistics
import time

from _portal import benchmark_arguments, report, setup_portal


def main():
    parser = benchmark_arguments(__doc__, redis_db=9)
    parser.add_argument("--environments", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    setup_portal("vitrina-bench-dispatch-", args.database_url, redis_url=args.redis_url)
    import redis
    from django.db import connection
    from django.utils import timezone

    from portal.monitoring import dispatch
    from portal.registry.models import Environment, Project

    broker = redis.Redis.from_url(args.redis_url)
    broker.flushdb()

    project = Project.objects.create(slug="bench", name="Bench", repo_url="https://git.example.org/bench.git")
    Environment.objects.bulk_create(
        (
            Environment(
                project=project,
                name=f"env-{n}",
                live_url=f"https://env-{n}.example.org/.well-known/vitrina/deployment",
                check_interval=args.interval,
            )
            for n in range(args.environments)
        ),
        batch_size=1000,
    )

    durations = []
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        broker.flushdb()
        now = timezone.now()
        Environment.objects.update(next_check_at=now - timezone.timedelta(seconds=1))
        started = time.monotonic()
        claimed = dispatch.dispatch_due(now)
        durations.append(time.monotonic() - started)
        assert claimed == args.environments, claimed
        queued = broker.llen("celery")
        # Claims are queued in groups of dispatch.CHUNK_SIZE, batch by batch.
        batches = [
            min(dispatch.BATCH_SIZE, args.environments - start)
            for start in range(0, args.environments, dispatch.BATCH_SIZE)
        ]
        assert queued == sum(-(-batch // dispatch.CHUNK_SIZE) for batch in batches), queued
    broker.flushdb()

    median = statistics.median(durations)
    lines = [
        f"dispatcher: one round claiming and queueing every environment, all due at once; "
        f"{os.cpu_count()} CPUs, {connection.vendor}, Redis broker",
        f"environments: {args.environments}, interval: {args.interval} s, rounds: {args.rounds}, "
        f"claims per queued message: up to {dispatch.CHUNK_SIZE} ({queued} messages per round)",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1-min load average before the rounds: "
        f"{load_before:.2f}",
        f"median round: {median:.2f} s ({args.environments / median:.0f} environments claimed and queued/s)",
        f"share of the interval spent dispatching: {median / args.interval:.1%}",
        f"rounds: {', '.join(f'{d:.2f} s' for d in durations)}",
    ]
    report(lines, "dispatcher")


if __name__ == "__main__":
    main()

"""Benchmark: appends to the transparency log by concurrent writer processes, and how soon each is indexed.

In a throw-away database (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``), for each number of writers in ``--writers``, ``--rounds`` rounds: that many processes
append for ``--seconds`` seconds, each append in its own transaction together with the record it
describes (an ``Observation`` and its status entry, as the monitoring records a status change), and, in
alternate rounds, write the same transactions without their entry (the baseline: what the machine
allows these writers at all, so that the log's own cost shows). The commits integrate as the portal's
do (``services.integrate_soon``, at most once per ``VITRINA_LOG_INTEGRATE_INTERVAL`` per process); the
parent integrates every second as Celery beat does.

    .venv/bin/python benchmarks/log_append.py [--writers 1,8,32] [--seconds 10] [--rounds 3]

Prints, per writer count, appends/s and the baseline (medians of the rounds), the time from an entry's
append to the signed checkpoint that first covers it (p50, p99, max over every entry of every round) and
the longest gap between checkpoints while the writers ran, then writes them to
benchmarks/results/log_append.txt, one section per database engine (a run replaces its engine's
section). Proofs and integration at a million entries are ``log_proofs.py``'s.
"""

import multiprocessing
import os
import platform
import statistics
import threading
import time

from _portal import ROOT, benchmark_arguments, setup_portal

BACKSTOP_SECONDS = 1.0


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--writers", default="1,8,32", help="comma-separated numbers of writer processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each round appends")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    writer_counts = [int(n) for n in args.writers.split(",")]

    setup_portal("vitrina-bench-log-", args.database_url)

    from django.conf import settings
    from django.db import connection

    from tests.portal import factories

    environment = factories.make_environment(factories.make_project("bench"))
    load_before = os.getloadavg()
    lines = [
        f"log_append benchmark, {time.strftime('%Y-%m-%d')}, {connection.vendor}, "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs",
        f"each append: one transaction with its Observation row; {args.rounds} rounds of {args.seconds:g} s "
        f"per writer count; integration after commit at most every "
        f"{settings.VITRINA_LOG_INTEGRATE_INTERVAL:g} s per process, and every {BACKSTOP_SECONDS:g} s by the "
        "parent (as Celery beat)",
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}",
    ]
    for writers in writer_counts:
        rates, baseline, lags, gaps = [], [], [], []
        for _ in range(args.rounds):  # interleaved, so that the machine's drift touches both alike
            baseline.append(run_round(environment.pk, writers, args.seconds, with_entry=False))
            rate, round_lags, gap = run_round(environment.pk, writers, args.seconds, with_entry=True)
            rates.append(rate)
            lags += round_lags
            gaps.append(gap)
        lags.sort()
        cost = 1 - statistics.median(rates) / statistics.median(baseline)
        lines.append(
            f"{writers:>2} writers: {statistics.median(rates):,.0f} appends/s (median; rounds "
            f"{', '.join(f'{r:,.0f}' for r in rates)}); the same transactions without their entry "
            f"{statistics.median(baseline):,.0f}/s (the entry costs {cost:.0%} of the rate); append to "
            f"checkpoint: p50 {percentile(lags, 50):.2f} s, p99 {percentile(lags, 99):.2f} s, max "
            f"{lags[-1]:.2f} s; longest gap between checkpoints {max(gaps):.2f} s"
        )
        print(lines[-1], flush=True)
    lines.append(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    save(report, connection.vendor)


def run_round(environment_id, writers, seconds, *, with_entry):
    """``writers`` processes write for ``seconds``. With their entries: returns (appends/s, each entry's
    seconds from append to its first checkpoint, the longest gap between checkpoints meanwhile); without
    (the baseline: the records alone), returns transactions/s."""
    from django.db import connections

    from portal.transparency import services
    from portal.transparency.models import LogEntry

    first_index = services.tree_size()
    connections.close_all()  # each writer opens its own connection
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(writers + 1)
    counts = context.Queue()
    processes = [
        context.Process(target=write_for, args=(environment_id, seconds, with_entry, ready, counts))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    ready.wait()
    started, started_at = time.monotonic(), time_now()
    stop = threading.Event()
    backstop = threading.Thread(target=integrate_every_second, args=(stop,))
    if with_entry:
        backstop.start()
    written = sum(counts.get(timeout=seconds + 120) for _ in processes)
    elapsed = time.monotonic() - started
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a writer failed with exit code {process.exitcode}")
    if not with_entry:
        return written / elapsed
    deadline = time.monotonic() + 10 * BACKSTOP_SECONDS
    while pending_count():  # what the last commits left, for the backstop to take as beat would
        if time.monotonic() > deadline:
            raise SystemExit("entries still pending 10 s after the writers stopped")
        time.sleep(0.05)
    stop.set()
    backstop.join()

    entries = LogEntry.objects.filter(index__gte=first_index).order_by("index")
    entries = entries.values_list("index", "logged_at")
    checkpoints = checkpoints_since(started_at)
    if len(entries) != written:
        raise SystemExit(f"{written} appends committed but {len(entries)} entries sequenced")
    return written / elapsed, time_to_checkpoint(entries, checkpoints), longest_gap(started_at, checkpoints)


def write_for(environment_id, seconds, with_entry, ready, counts):
    """One writer: for ``seconds``, a transaction at a time with its record and (``with_entry``) the record's
    entry; report the count."""
    from django.db import connection, transaction
    from django.utils import timezone

    from portal.monitoring.models import Observation
    from portal.transparency.services import append_entry

    ready.wait()
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            observation = Observation.objects.create(
                environment_id=environment_id, result="verified", checked_at=timezone.now()
            )
            if with_entry:
                body = {"project": "bench", "environment": "production", "result": "verified", "n": count}
                append_entry("status", body, object_id=observation.pk)
        count += 1
    connection.close()
    counts.put(count)


def integrate_every_second(stop):
    from django.db import connection

    from portal.transparency import services

    while not stop.wait(BACKSTOP_SECONDS):
        services.integrate()
    connection.close()


def pending_count():
    from portal.transparency.models import PendingEntry

    return PendingEntry.objects.count()


def time_now():
    from django.utils import timezone

    return timezone.now()


def checkpoints_since(moment):
    from portal.transparency.models import Checkpoint

    return list(
        Checkpoint.objects.filter(created_at__gte=moment).order_by("size").values_list("size", "created_at")
    )


def time_to_checkpoint(entries, checkpoints):
    """Seconds from each entry's append to the creation of the first checkpoint that covers it."""
    lags, covering = [], iter(checkpoints)
    size, created_at = next(covering)
    for index, logged_at in entries:
        while size <= index:
            size, created_at = next(covering)
        lags.append((created_at - logged_at).total_seconds())
    return lags


def longest_gap(started_at, checkpoints):
    times = [started_at] + [created_at for _, created_at in checkpoints]
    return max((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))


def percentile(values, p):
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def save(report, vendor):
    """Replace this database's section of the results file, keeping the other databases' figures."""
    path = ROOT / "benchmarks" / "results" / "log_append.txt"
    path.parent.mkdir(exist_ok=True)
    sections = path.read_text().split("\n\n") if path.exists() else []
    kept = [
        s.strip("\n") + "\n" for s in sections if s.strip() and f", {vendor}, " not in s.split("\n", 1)[0]
    ]
    path.write_text("\n".join([*kept, report]))


if __name__ == "__main__":
    main()

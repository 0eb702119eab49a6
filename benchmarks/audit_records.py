"""Benchmark: the self-audit's comparison of every release, deployment and key with its log entry.

In a throw-away database (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``, which is flushed), registers ``--releases`` signed releases and ``--deployments``
deployments through the registry services, integrates the log, then times the full self-audit and the
record comparison alone, and the peak memory Python allocated during the comparison.

    .venv/bin/python benchmarks/audit_records.py [--releases 10000] [--deployments 1000] [--rounds 3]

Prints the figures (medians) and writes them to benchmarks/results/audit_records.txt (one section per
database engine; a run replaces its engine's section).
"""

import os
import platform
import statistics
import time
import tracemalloc

from _portal import ROOT, benchmark_arguments, setup_portal


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--deployments", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    setup_portal("vitrina-bench-audit-", args.database_url)

    from django.db import connection

    from portal.registry.audit import check_records
    from portal.transparency import services
    from tests.portal import factories

    started = time.perf_counter()
    project = factories.make_project("bench")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    releases = [factories.make_release(project, private_key, f"1.0.{n}") for n in range(args.releases)]
    for release in releases[: args.deployments]:
        factories.make_deployment(environment, release)
    services.integrate()
    filled = time.perf_counter() - started

    audits, comparisons, peaks = [], [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        run = services.audit()
        audits.append(time.perf_counter() - t0)
        assert run.ok, run.message
        t0 = time.perf_counter()
        check_records(chunk_size=services.AUDIT_CHUNK)
        comparisons.append(time.perf_counter() - t0)
        tracemalloc.start()
        check_records(chunk_size=services.AUDIT_CHUNK)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    report = "\n".join(
        [
            f"## {connection.vendor}",
            f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs",
            f"{args.releases} releases, {args.deployments} deployments, 1 key, "
            f"{services.tree_size()} log entries (filled in {filled:.0f} s)",
            f"full self-audit (tree + records), median of {args.rounds}: {statistics.median(audits):.2f} s",
            f"record comparison alone, median of {args.rounds}: {statistics.median(comparisons):.2f} s",
            f"record comparison peak Python memory (tracemalloc): {max(peaks) / 1e6:.1f} MB "
            f"(chunks of {services.AUDIT_CHUNK} rows)",
            "",
        ]
    )
    print(report)
    save(report, connection.vendor)


def save(report, vendor):
    """Replace this database's section of the results file, keeping the other databases' figures."""
    path = ROOT / "benchmarks" / "results" / "audit_records.txt"
    sections = path.read_text().split("## ")[1:] if path.exists() else []
    kept = ["## " + section for section in sections if not section.startswith(vendor)]
    path.write_text("\n".join([*kept, report]))


if __name__ == "__main__":
    main()

"""Benchmark: how fast the transparency log appends, integrates, proves and audits.

In a throw-away database (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``), each round appends ``--entries`` entries, one transaction each as the registry
does, then integrates them (stored hashes + one signed checkpoint per batch of 1000). Then it times
proofs over the whole log, through the service and through the HTTP endpoint, and one full self-audit.

    .venv/bin/python benchmarks/log_append.py [--entries 10000] [--rounds 3] [--proofs 200]

Prints the figures (medians) and writes them to benchmarks/results/log_append.txt, one section per
database engine (a run replaces its engine's section).
"""

import platform
import random
import statistics
import time

from _portal import ROOT, benchmark_arguments, setup_portal


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--entries", type=int, default=10_000, help="entries appended per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proofs", type=int, default=200, help="proofs timed per kind")
    args = parser.parse_args()

    setup_portal("vitrina-bench-log-", args.database_url)

    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import setup_test_environment

    from portal.transparency import services

    setup_test_environment()
    client = Client()
    rng = random.Random(1)

    append_rates, integrate_rates = [], []
    for round_number in range(args.rounds):
        started = time.perf_counter()
        for n in range(args.entries):
            with transaction.atomic():
                services.append_entry(
                    "status",
                    {"project": "bench", "environment": "production", "result": "verified", "n": n},
                    object_id=round_number * args.entries + n,
                )
        append_rates.append(args.entries / (time.perf_counter() - started))
        started = time.perf_counter()
        services.integrate()
        integrate_rates.append(args.entries / (time.perf_counter() - started))

    size = services.tree_size()
    inclusion = timed(args.proofs, lambda: services.get_inclusion_proof(rng.randrange(size), size))
    consistency = timed(args.proofs, lambda: services.get_consistency_proof(rng.randrange(1, size), size))
    http_inclusion = timed(
        args.proofs,
        lambda: client.get(f"/api/v1/log/proof/inclusion?index={rng.randrange(size)}&tree_size={size}"),
    )
    started = time.perf_counter()
    audit = services.audit()
    audit_seconds = time.perf_counter() - started
    if not audit.ok:
        raise SystemExit(f"audit failed: {audit.message}")

    lines = [
        f"log_append benchmark, {time.strftime('%Y-%m-%d')}, {connection.vendor}, "
        f"Python {platform.python_version()}, {platform.machine()}",
        f"rounds: {args.rounds} x {args.entries} entries; final tree size {size}",
        f"append (one transaction per entry): {statistics.median(append_rates):,.0f} entries/s (median)",
        f"integrate (batches of {services.INTEGRATE_BATCH}, one signed checkpoint each): "
        f"{statistics.median(integrate_rates):,.0f} entries/s (median)",
        f"inclusion proof, service: {inclusion * 1000:.2f} ms (median of {args.proofs})",
        f"consistency proof, service: {consistency * 1000:.2f} ms (median of {args.proofs})",
        f"inclusion proof, HTTP endpoint: {http_inclusion * 1000:.2f} ms (median of {args.proofs})",
        f"full self-audit of {size} entries: {audit_seconds:.2f} s ({size / audit_seconds:,.0f} entries/s)",
    ]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    save(report, connection.vendor)


def save(report, vendor):
    """Replace this database's section of the results file, keeping the other databases' figures."""
    path = ROOT / "benchmarks" / "results" / "log_append.txt"
    path.parent.mkdir(exist_ok=True)
    sections = path.read_text().split("\n\n") if path.exists() else []
    kept = [
        s.strip("\n") + "\n" for s in sections if s.strip() and f", {vendor}, " not in s.split("\n", 1)[0]
    ]
    path.write_text("\n".join([*kept, report]))


def timed(count, action):
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


if __name__ == "__main__":
    main()

"""Benchmark: the log's proofs at 10^4, 10^5 and 10^6 entries beside pymerkle on the same leaves, and the
rate of integrating a million entries.

In a throw-away database (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``) the sequencer's queue is filled with ``--sizes[-1]`` status entries (canonical JSON, as
``append_entry`` queues them, written in bulk: ``log_append.py`` measures appends), then integrated up to
each size in turn (``services.integrate``: indexes, tree hashes, a signed checkpoint per 10,000), timing
the integration. At each size it times ``--proofs`` inclusion and consistency proofs at random indexes
through the service and inclusion proofs through the HTTP endpoint, checks a sample with the verifier,
and, when pymerkle is installed (``pip install 'pymerkle>=7,<8'``, in the test extra), builds pymerkle's
in-memory and SQLite trees over the same entries (the same RFC 9162 tree: the roots must match) and
times its inclusion proofs for the same indexes. The last step runs the full self-audit.

    .venv/bin/python benchmarks/log_proofs.py [--sizes 10000,100000,1000000] [--proofs 1000]

Prints p50 and p99 of each, pymerkle's p50 over ours (the ratio), the integration rate, and writes them to
benchmarks/results/log_proofs-<database>.txt.
"""

import os
import platform
import random
import statistics
import tempfile
import time

from _portal import ROOT, benchmark_arguments, setup_portal

CHUNK = 10_000


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated tree sizes")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs timed per kind and size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))

    setup_portal("vitrina-bench-proofs-", args.database_url)

    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from portal.transparency import services

    setup_test_environment()
    client = Client()
    rng = random.Random(args.seed)
    pymerkle = import_pymerkle()
    lines = [
        f"log_proofs benchmark, {time.strftime('%Y-%m-%d')}, {connection.vendor}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs",
        f"load average before: {load()}",
    ]
    started = time.perf_counter()
    entries = queue_entries(sizes[-1])
    lines.append(f"queued {sizes[-1]:,} entries in bulk in {time.perf_counter() - started:.1f} s")
    print(lines[-1], flush=True)
    trees = PymerkleTrees(pymerkle) if pymerkle else None

    integrated, integrate_seconds = 0, 0.0
    for size in sizes:
        started = time.perf_counter()
        checkpoint = services.integrate(limit=size - integrated)
        seconds = time.perf_counter() - started
        if checkpoint.size != size:
            raise SystemExit(f"integrated up to {checkpoint.size}, not {size}")
        integrate_seconds += seconds
        lines.append(
            f"size {size:,}: integrated {size - integrated:,} entries in {seconds:.1f} s "
            f"({(size - integrated) / seconds:,.0f} entries/s)"
        )
        integrated = size
        indexes = [rng.randrange(size) for _ in range(args.proofs)]
        firsts = [rng.randrange(1, size + 1) for _ in range(args.proofs)]
        check_sample(services, checkpoint, indexes[:50], entries)
        ours = timed(indexes, lambda i, size=size: services.get_inclusion_proof(i, size))
        consistency = timed(firsts, lambda first, size=size: services.get_consistency_proof(first, size))
        http = timed(
            indexes[: args.proofs // 4],
            lambda i, size=size: client.get(f"/api/v1/log/proof/inclusion?index={i}&tree_size={size}"),
        )
        lines.append(f"  inclusion proof, service: {spread(ours)}")
        lines.append(f"  consistency proof, service: {spread(consistency)}")
        lines.append(f"  inclusion proof, HTTP endpoint (Django test client): {spread(http)}")
        if trees is None:
            lines.append("  pymerkle: not installed (pip install 'pymerkle>=7,<8'); no comparison")
        else:
            lines += trees.compare(entries[:size], bytes(checkpoint.root), indexes, ours)
        print("\n".join(lines[-6:]), flush=True)

    lines.append(
        f"integrating {integrated:,} entries: {integrated / integrate_seconds:,.0f} entries/s overall "
        f"({integrate_seconds:.1f} s)"
    )
    started = time.perf_counter()
    run = services.audit()
    seconds = time.perf_counter() - started
    if not run.ok:
        raise SystemExit(f"audit failed: {run.message}")
    lines.append(
        f"full self-audit of {integrated:,} entries: {seconds:.1f} s ({integrated / seconds:,.0f} entries/s)"
    )
    lines.append(f"load average after: {load()}")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    path = ROOT / "benchmarks" / "results" / f"log_proofs-{connection.vendor}.txt"
    path.write_text(report)


def import_pymerkle():
    try:
        import pymerkle
    except ImportError:
        print("pymerkle is not installed (pip install 'pymerkle>=7,<8'): measuring the log alone", flush=True)
        return None
    return pymerkle


def queue_entries(count):
    """Queue ``count`` status entries, as ``append_entry`` does but in bulk; return their bytes."""
    from django.db import connection, transaction
    from django.utils import timezone

    from verifier.entries import canonical_entry
    from verifier.merkle import leaf_hash

    logged_at = timezone.now()
    stored_at = connection.ops.adapt_datetimefield_value(logged_at)
    entries = []
    for start in range(0, count, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, count)):
            body = {"project": "bench", "environment": "production", "result": "verified", "n": n}
            entry = canonical_entry("status", body, logged_at)
            entries.append(entry)
            rows.append(("status", n, entry, leaf_hash(entry), stored_at))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO transparency_pendingentry (kind, object_id, entry, leaf_hash, logged_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
    return entries


def check_sample(services, checkpoint, indexes, entries):
    """The service's proofs verify with the volunteer's verifier against the signed root."""
    from verifier.merkle import leaf_hash, verify_inclusion

    for index in indexes:
        proof = services.get_inclusion_proof(index, checkpoint.size)
        verify_inclusion(leaf_hash(entries[index]), index, checkpoint.size, proof, bytes(checkpoint.root))


class PymerkleTrees:
    """pymerkle's in-memory and SQLite trees, grown to each size over the same entries."""

    def __init__(self, pymerkle):
        self.pymerkle = pymerkle
        self.folder = tempfile.TemporaryDirectory(prefix="vitrina-bench-pymerkle-")
        self.trees = {
            "InmemoryTree": pymerkle.InmemoryTree(),
            "SqliteTree": pymerkle.SqliteTree(os.path.join(self.folder.name, "tree.sqlite3")),
        }

    def compare(self, entries, root, indexes, ours):
        lines = []
        for name, tree in self.trees.items():
            started = time.perf_counter()
            tree.append_entries(entries[tree.get_size() :])
            built = time.perf_counter() - started
            if tree.get_root(len(entries)) != root:
                raise SystemExit(f"pymerkle {name}'s root differs from the log's checkpoint root")
            theirs = timed(indexes, lambda i, tree=tree: tree.prove_inclusion(i + 1, len(entries)))
            lines.append(
                f"  pymerkle {self.pymerkle.__version__} {name} inclusion proof: {spread(theirs)}; ratio "
                f"pymerkle/log p50 {statistics.median(theirs) / statistics.median(ours):.1f}, "
                f"p99 {percentile(theirs, 99) / percentile(ours, 99):.1f} (appended in {built:.1f} s)"
            )
        return lines


def timed(arguments, action):
    durations = []
    for argument in arguments:
        started = time.perf_counter()
        action(argument)
        durations.append(time.perf_counter() - started)
    return durations


def spread(durations):
    return (
        f"p50 {statistics.median(durations) * 1000:.3f} ms, p99 {percentile(durations, 99) * 1000:.3f} ms "
        f"({len(durations)} proofs)"
    )


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()

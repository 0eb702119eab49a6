"""Run every benchmark in turn with modest sizes and print their figures (``make bench``).

Each benchmark runs as its own process with the sizes below (smaller than its defaults, so the whole
set takes a few minutes), its output streamed as it goes; then the figures each one wrote are printed
together. The committed full-size figures in benchmarks/results/ are put back afterwards unless
``--keep-results`` is given. A benchmark that fails (for instance ``checks``, ``served`` and
``dispatcher`` when no Redis answers on 127.0.0.1:6379) is reported and the others still run; the exit
status is then 1.

    .venv/bin/python benchmarks/run_all.py [--only pages log_append] [--keep-results]
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

# name: (arguments with modest sizes, results file it writes)
BENCHMARKS = {
    "log_append": (["--writers", "1,8", "--seconds", "3", "--rounds", "1"], "log_append.txt"),
    "log_proofs": (["--sizes", "1000,10000", "--proofs", "200"], "log_proofs-sqlite.txt"),
    "dispatcher": (["--environments", "2000", "--rounds", "2"], "dispatcher.txt"),
    "checks": (["--environments", "200", "--rounds", "2"], "checks.txt"),
    "served": (["--sites", "20", "--files", "20", "--rounds", "2"], "served.txt"),
    "pages": (["--duration", "5", "--runs", "2", "--warmup", "2"], "pages.txt"),
    "rebuild": (["--megabytes", "20", "--files", "20", "--runs", "3"], "rebuild.txt"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument(
        "--keep-results", action="store_true", help="keep the new figures in benchmarks/results/"
    )
    args = parser.parse_args()
    names = [name for name in BENCHMARKS if not args.only or name in args.only]

    saved = {path: path.read_bytes() for path in RESULTS.glob("*.txt")} if RESULTS.is_dir() else {}
    outcomes = {}
    figures = {}
    try:
        for name in names:
            extra, result_file = BENCHMARKS[name]
            command = [sys.executable, str(HERE / f"{name}.py"), *extra]
            print(f"\n=== {name}: benchmarks/{name}.py {' '.join(extra)}")
            sys.stdout.flush()
            result_path = RESULTS / result_file
            before = result_path.stat().st_mtime if result_path.exists() else None
            started = time.monotonic()
            try:
                code = subprocess.run(command, cwd=ROOT).returncode
            except KeyboardInterrupt:
                outcomes[name] = "interrupted"
                raise
            elapsed = time.monotonic() - started
            fresh = result_path.exists() and result_path.stat().st_mtime != before
            outcomes[name] = (
                f"ok in {elapsed:.0f} s" if code == 0 else f"FAILED (exit {code}) after {elapsed:.0f} s"
            )
            if code == 0 and fresh:
                figures[name] = result_path.read_text()
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
    finally:
        if not args.keep_results:
            for path in RESULTS.glob("*.txt"):
                if path not in saved:
                    path.unlink()
            for path, content in saved.items():
                path.write_bytes(content)

    print("\n" + "=" * 78)
    print("Figures (modest sizes; the committed full-size runs are in benchmarks/results/)")
    for name in names:
        print(f"\n--- {name}: {outcomes.get(name, 'not run')}")
        if name in figures:
            print(figures[name].rstrip())
    failed = [name for name in names if not outcomes.get(name, "").startswith("ok")]
    if failed:
        print(f"\nNot completed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()

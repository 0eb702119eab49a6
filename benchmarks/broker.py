"""The embedded broker under publishers hammering a running ``make run``: messages per second and losses.

Start the portal first (``make run``, or ``VITRINA_VAR_DIR=/tmp/v PORT=8123 make run``), then point this
at the same var folder:

    .venv/bin/python benchmarks/broker.py --var-dir var [--publishers 8] [--duration 600] [--rate 200]

Each publisher is a process sending Celery's built-in no-op task ``celery.accumulate`` through the
portal's Celery app (the filesystem transport of ``portal/broker.py``), as gunicorn and beat do, beside
the portal's own traffic. The running worker executes them; its ``stats`` (``total`` per task name, over
the broker's control queue) before and after tell how many it executed. Losses are messages published
but never executed once the queue has drained; a count above the published one means duplicates. The
worker's pid must not change: a restarted worker would mean the broker made it crash.
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = "celery.accumulate"
RESULT = ROOT / "benchmarks" / "results" / "broker.txt"


def celery_app(var_dir):
    os.environ["VITRINA_VAR_DIR"] = str(var_dir)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    from portal.celery import app

    return app


def publisher(var_dir, deadline, rate, sent):
    """Publish until ``deadline`` (time.time()), at ``rate`` messages per second (0: as fast as it can)."""
    app = celery_app(var_dir)
    count = 0
    started = time.time()
    while time.time() < deadline:
        app.send_task(TASK, args=[count])
        count += 1
        if rate:
            ahead = started + count / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    with sent.get_lock():
        sent.value += count


def worker_stats(app):
    replies = app.control.inspect(timeout=10).stats() or {}
    if len(replies) != 1:
        raise SystemExit(f"expected one running worker on this broker, found {len(replies)}: {list(replies)}")
    ((name, stats),) = replies.items()
    return name, stats["pid"], stats.get("total", {}).get(TASK, 0)


def queued(var_dir):
    return sum(1 for name in os.listdir(Path(var_dir) / "broker" / "queue") if name.endswith(".celery.msg"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var", help="the running portal's var folder")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60, help="seconds of publishing")
    parser.add_argument("--rate", type=float, default=25, help="messages/s per publisher; 0 = flat out")
    parser.add_argument("--drain-timeout", type=float, default=600)
    parser.add_argument("--keep-results", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args()

    app = celery_app(args.var_dir)
    name, pid_before, executed_before = worker_stats(app)
    load = os.getloadavg()[0]
    sent = multiprocessing.get_context("spawn").Value("q", 0)
    deadline = time.time() + args.duration
    started = time.monotonic()
    processes = [
        multiprocessing.get_context("spawn").Process(
            target=publisher, args=(args.var_dir, deadline, args.rate, sent)
        )
        for _ in range(args.publishers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    publishing = time.monotonic() - started
    drain_deadline = time.monotonic() + args.drain_timeout
    while queued(args.var_dir) and time.monotonic() < drain_deadline:
        time.sleep(1)
    drained = time.monotonic() - started
    time.sleep(5)  # the worker's last prefetched batch
    name_after, pid_after, executed_after = worker_stats(app)
    executed = executed_after - executed_before
    rejected = len(list((Path(args.var_dir) / "broker" / "queue").glob("*.rejected")))

    lines = [
        f"embedded broker: {args.publishers} publishers x {args.duration:.0f} s "
        f"(rate {args.rate or 'flat out'} msg/s each) into a running make run; load average {load:.2f}",
        f"published        {sent.value} messages, {sent.value / publishing:.0f} msg/s",
        f"executed         {executed} by {name_after}, {executed / drained:.0f} msg/s until drained",
        f"lost             {max(sent.value - executed, 0)}",
        f"duplicated       {max(executed - sent.value, 0)}",
        f"rejected files   {rejected}",
        f"still queued     {queued(args.var_dir)}",
        f"worker restarted {'no' if (name, pid_before) == (name_after, pid_after) else 'YES'}",
    ]
    print("\n".join(lines))
    if not args.keep_results:
        RESULT.write_text("\n".join(lines) + "\n")
    return 0 if executed == sent.value and pid_before == pid_after and not rejected else 1


if __name__ == "__main__":
    sys.exit(main())

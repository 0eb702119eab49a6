"""The embedded (filesystem) broker under many concurrent publishers and two consuming workers.

Real processes throughout: publishers send through the portal's Celery app, two real Celery workers
consume from the same broker folder. Every message must be delivered exactly once and both workers
must stay alive (kombu's own transport loses this race: a worker reads a message file its publisher is
still writing, raises JSONDecodeError and stops).
"""

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from kombu import Connection

from tests.portal.broker_probe import RECORD_ENV
from tests.portal.monitoring.celerystack import ROOT, wait_for

PUBLISHERS = int(os.environ.get("VITRINA_TEST_BROKER_PUBLISHERS", "8"))
MESSAGES = int(os.environ.get("VITRINA_TEST_BROKER_MESSAGES", "2000"))


def connection(folder):
    """A kombu connection through the portal's transport, as the settings configure it."""
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(folder)}
    return Connection("filesystem://", transport="portal.broker:Transport", transport_options=options)


def test_a_message_file_is_complete_whenever_it_is_visible(tmp_path):
    # A reader that lists the folder flat out: with kombu's own transport it soon opens a file that
    # exists under its message name but is still empty.
    stop = threading.Event()
    seen = []

    def read_every_visible_message():
        while not stop.is_set():
            for name in os.listdir(tmp_path):
                if name.endswith(".msg"):
                    try:
                        seen.append((tmp_path / name).read_bytes())
                    except FileNotFoundError:
                        pass

    reader = threading.Thread(target=read_every_visible_message)
    reader.start()
    try:
        with connection(tmp_path) as conn:
            queue = conn.SimpleQueue("visible")
            for n in range(300):
                queue.put({"n": n, "padding": "x" * 4000})
    finally:
        stop.set()
        reader.join(timeout=30)
    assert seen
    assert [data[:40] for data in seen if not data.endswith(b"}")] == []


def test_an_unreadable_message_file_is_set_aside_and_the_next_one_delivered(tmp_path):
    with connection(tmp_path) as conn:
        # Bindings are remembered per process (kombu's global broker state): one queue name per test.
        queue = conn.SimpleQueue("unreadable")
        # Sorts first: a file cut short by a machine crash, or written by something else.
        (tmp_path / "00000000000000000000_cut.unreadable.msg").write_bytes(b'{"body": "eyJ')
        queue.put({"n": 1})

        message = queue.get(timeout=5)

        assert message.payload == {"n": 1}
        assert [p.name for p in tmp_path.glob("*.rejected")] == [
            "00000000000000000000_cut.unreadable.msg.rejected"
        ]
        message.ack()


@pytest.mark.e2e
def embedded_env(tmp_path):
    """The portal's embedded defaults in a private var folder, whatever this test run uses."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        VITRINA_TESTING="1",
        VITRINA_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(ROOT),
        **{RECORD_ENV: str(tmp_path / "record.txt")},
    )
    return env


def start(args, env, log_path):
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(name, env, tmp_path):
    args = ["-m", "celery", "-A", "portal", "worker", "-I", "tests.portal.broker_probe", "--pool=threads"]
    args += ["--concurrency=4", f"--hostname={name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    return start([*args, "--loglevel=INFO"], env, tmp_path / f"{name}.log")


def recorded(tmp_path):
    path = tmp_path / "record.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_concurrent_publishers_each_message_is_delivered_exactly_once(tmp_path):
    env = embedded_env(tmp_path)
    queue_dir = tmp_path / "var" / "broker" / "queue"
    for folder in ("queue", "processed", "control"):
        (queue_dir.parent / folder).mkdir(parents=True, exist_ok=True)
    workers = {name: start_worker(name, env, tmp_path) for name in ("worker-a", "worker-b")}
    publishers = []
    try:
        for name in workers:
            wait_for(lambda n=name: "ready." in (tmp_path / f"{n}.log").read_text(), 60, message=f"{name}")
        publishers = [
            start(["-m", "tests.portal.broker_probe", str(p), str(MESSAGES)], env, tmp_path / f"pub-{p}.log")
            for p in range(PUBLISHERS)
        ]
        for publisher in publishers:
            assert publisher.wait(timeout=240) == 0, tmp_path / f"pub-{publishers.index(publisher)}.log"
        total = PUBLISHERS * MESSAGES
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and all(w.poll() is None for w in workers.values()):
            if len(recorded(tmp_path)) >= total and not list(queue_dir.glob("*.msg")):
                break
            time.sleep(0.5)
        # Give a duplicate still in a worker's hands (its prefetched batch) the time to show up.
        time.sleep(2)

        counts = Counter(recorded(tmp_path))
        expected = {f"{p}:{s}" for p in range(PUBLISHERS) for s in range(MESSAGES)}
        logs = "\n".join((tmp_path / f"{name}.log").read_text()[-3000:] for name in workers)
        assert all(worker.poll() is None for worker in workers.values()), f"a worker stopped\n{logs}"
        assert set(counts) == expected, f"{len(expected - set(counts))} of {total} messages lost\n{logs}"
        assert {t: c for t, c in counts.items() if c > 1} == {}, "messages delivered twice"
        assert "Unrecoverable error" not in logs
        assert not list(queue_dir.parent.rglob("*.rejected"))
    finally:
        for process in [*publishers, *workers.values()]:
            if process.poll() is None:
                os.killpg(process.pid, 9)
            process.wait(timeout=15)

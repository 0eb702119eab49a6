"""Real Celery processes for end-to-end tests and benchmarks: a worker and beat on a real Redis,
sharing the test database with the test process.

    stack = CeleryStack(broker_url, tmp_path)
    stack.start_worker(); stack.start_beat()
    ...
    stack.stop()          # always, in a finally or a fixture: kills every process it started

Each process runs in its own session, so killing it kills whatever it forked (beat's scheduler, pool
children) too.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


def database_url():
    """The URL of the database this process uses (the test database inside a test)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"])
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{settings['NAME']}"


def redis_answers(url_host="127.0.0.1", port=6379):
    try:
        with socket.create_connection((url_host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for(predicate, timeout, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


class CeleryStack:
    def __init__(
        self,
        broker_url,
        work_dir,
        *,
        concurrency=16,
        dispatch_every=0.5,
        live_timeout=2.0,
        served_timeout=3.0,
        extra_env=None,
    ):
        self.broker_url = broker_url
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.concurrency = concurrency
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))},
            "DJANGO_SETTINGS_MODULE": "tests.portal.monitoring.worker_settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": broker_url,
            "VITRINA_TESTING": "1",
            "VITRINA_VAR_DIR": str(self.work_dir / "var"),
            "VITRINA_REPO_CACHE_DIR": str(self.work_dir / "repo-cache"),
            "VITRINA_TEST_DISPATCH_EVERY": str(dispatch_every),
            "VITRINA_TEST_LIVE_TIMEOUT": str(live_timeout),
            "VITRINA_TEST_SERVED_TIMEOUT": str(served_timeout),
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.processes = {}
        self.started = 0

    def _start(self, name, *args):
        self.started += 1
        log = open(self.work_dir / f"{name}-{self.started}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def start_worker(self, pool="threads"):
        return self._start(
            "worker",
            "worker",
            f"--pool={pool}",
            f"--concurrency={self.concurrency}",
            f"--hostname=e2e-{os.getpid()}-{self.started}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        )

    def start_beat(self):
        return self._start("beat", "beat", f"--schedule={self.work_dir / 'beat-schedule'}", "--loglevel=INFO")

    def kill(self, name, sig=signal.SIGKILL):
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def alive(self, name):
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def stop(self):
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def logs(self, tail=60):
        lines = []
        for path in sorted(self.work_dir.glob("*.log")):
            lines.append(f"--- {path.name}")
            lines.extend(path.read_text(errors="replace").splitlines()[-tail:])
        return "\n".join(lines)


class RedisServer:
    """A private ``redis-server`` on a free port, without persistence: stop it and its data is gone."""

    def __init__(self, work_dir):
        self.work_dir = Path(work_dir)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.work_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: redis_answers(port=self.port), 10, message=f"redis-server on port {self.port}")
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

"""``make run`` and ``scripts/run.sh``: a crashed process comes back, and every way of stopping stops all.

The real script starts the real gunicorn, Celery worker and beat on embedded defaults (SQLite and the
filesystem broker in a temporary var folder, a free loopback port), whatever database this test run
uses. One var folder serves the module, so only the first start migrates.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.portal.monitoring.celerystack import ROOT, wait_for

pytestmark = pytest.mark.e2e

RUN_SCRIPT = ROOT / "scripts" / "run.sh"
VENV = Path(sys.executable).parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid):
    """The pids whose parent is ``pid`` (from /proc: these tests run on Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may hold spaces: the fields after it are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def descendants(pid):
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def command_line(pid):
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid):
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


class Run:
    """``scripts/run.sh`` (or ``make run``) started in a session of its own, as from a terminal."""

    def __init__(self, command, var_dir, log_path):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
        for name in ("DATABASE_URL", "REDIS_URL", "SITE_URL", "MAKEFLAGS", "MAKELEVEL"):
            env.pop(name, None)
        env.update(
            VENV=str(VENV),
            VITRINA_VAR_DIR=str(var_dir),
            PORT=str(self.port),
            WEB_CONCURRENCY="2",
            WORKER_CONCURRENCY="2",
        )
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def script_pid(self):
        """The pid of run.sh itself: the started process, or its descendant under ``make``."""
        tree = [self.process.pid, *descendants(self.process.pid)]
        found = [pid for pid in tree if "run.sh" in command_line(pid)]
        # The deepest match: a shell running ``sh -c '... ./scripts/run.sh'`` names the script too.
        return found[-1] if found else None

    def process_of(self, role):
        script = self.script_pid()
        for pid in children(script) if script else []:
            line = command_line(pid)
            if {"web": "gunicorn" in line, "worker": " worker " in line, "beat": " beat " in line}[role]:
                return pid
        return None

    def wait_until_serving(self):
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"run.sh ended early:\n{self.log()[-3000:]}")
            if not all(self.process_of(role) for role in ("web", "worker", "beat")):
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, 180, interval=0.5, message="make run to serve")

    def stop_and_check_nothing_is_left(self, sig, *, to_group=False):
        everything = [self.process.pid, *descendants(self.process.pid)]
        assert len(everything) >= 4, everything
        if to_group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(alive(pid) for pid in everything):
            time.sleep(0.2)
        left = {pid: command_line(pid) for pid in everything if alive(pid)}
        assert left == {}, f"still running after {sig.name}: {left}\n{self.log()[-3000:]}"

    def cleanup(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=15)
        for pid in descendants(self.process.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("run") / "var"


@pytest.fixture
def start(var_dir, tmp_path):
    runs = []

    def start(command):
        runs.append(Run(command, var_dir, tmp_path / f"run-{len(runs)}.log"))
        runs[-1].wait_until_serving()
        return runs[-1]

    yield start
    for run in runs:
        run.cleanup()


def make_run():
    # -o: the venv counts as installed, so a newer pyproject.toml does not make this test reinstall it.
    return ["make", "-o", f"{VENV}/.installed", "run", f"VENV={VENV}"]


def test_a_killed_worker_is_restarted_and_term_stops_all_three(start):
    run = start(["bash", str(RUN_SCRIPT)])
    worker = run.process_of("worker")

    os.kill(worker, signal.SIGKILL)

    wait_for(lambda: run.process_of("worker") not in (None, worker), 60, message="a new worker")
    assert "the Celery worker exited (status 137)" in run.log()
    assert "restarted the Celery worker" in run.log()
    run.stop_and_check_nothing_is_left(signal.SIGTERM)


def test_term_to_make_run_stops_all_three(start):
    run = start(make_run())

    run.stop_and_check_nothing_is_left(signal.SIGTERM)


def test_ctrl_c_to_make_run_stops_all_three(start):
    run = start(make_run())

    # A terminal's Ctrl-C sends SIGINT to the whole foreground process group.
    run.stop_and_check_nothing_is_left(signal.SIGINT, to_group=True)

"""The portal under a real gunicorn on 127.0.0.1, for tests of what only a real HTTP server does.

Django's test client hands the view a finished WSGI environ; it cannot send a chunked body, drop a
connection or stream. This starts ``gunicorn`` with the project's own ``gunicorn.conf.py`` on a free
port, serving the test database of the running test (so the test must use ``transactional_db``: the
server only sees committed rows)::

    with Gunicorn(tmp_path) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

Leaving the ``with`` block stops gunicorn and everything it forked.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.portal.monitoring.celerystack import database_url

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60


class Gunicorn:
    def __init__(self, work_dir, *, workers=1, threads=2, extra_env=None):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log_path = self.work_dir / "gunicorn.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))},
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url(),
            "VITRINA_TESTING": "1",
            "VITRINA_VAR_DIR": str(self.work_dir / "var"),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_ACCESSLOG": str(self.work_dir / "access.log"),
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.process = None

    def __enter__(self):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopping its session stops the workers it forked too
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def _wait_until_answering(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{self.log()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/api/v1/projects/")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log(self):
        return self.log_path.read_text(errors="replace")[-3000:]

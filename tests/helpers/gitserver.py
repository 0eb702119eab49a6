"""Real git repositories built with the git command, and a real ``git daemon`` serving them on 127.0.0.1.

Repositories are bare and built with plumbing commands (no working tree, no checkout), with a fixed
identity and dates one minute apart from 2024-01-01, so the same calls give the same history shape in
every test run, independent of the machine's git configuration.

    shas = make_repo(tmp_path / "app.git", commits=3)          # shas[-1] is the head of main
    side = make_side_commit(tmp_path / "app.git")              # on branch "side", not on main
    with GitDaemon(tmp_path) as daemon:
        url = daemon.url_for("app.git")                        # git://127.0.0.1:<port>/app.git

Fixtures at the end (``git_repo``, ``git_daemon``) can be imported into any test module.
"""

import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

AUTHOR = ("Ada Tester", "ada@example.org")
FIRST_DATE = 1704067200  # 2024-01-01T00:00:00Z


def git(path, *args, input=None, check=True, date=FIRST_DATE):
    """Run git in ``path`` with an isolated configuration; return its stripped standard output."""
    result = subprocess.run(
        ["git", *args],
        cwd=path,
        env=_git_env(date),
        input=input,
        capture_output=True,
        text=True,
        check=check,
        timeout=30,
    )
    return result.stdout.strip()


def make_repo(path, commits=3, branch="main"):
    """Create a bare repository at ``path`` with ``commits`` commits on ``branch``; return their shas."""
    Path(path).mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--bare", f"--initial-branch={branch}")
    return [add_commit(path, branch, f"change {number}") for number in range(1, commits + 1)]


def add_commit(path, branch, message):
    """Append a commit to ``branch`` (creating the branch if needed) and return its sha."""
    parent = _branch_head(path, branch)
    return _commit(path, branch, message, parent)


def make_side_commit(path, branch="side", base_branch="main", message="unreviewed change"):
    """Commit on ``branch``, forked from the head of ``base_branch``: a commit that is not on it."""
    return _commit(path, branch, message, _branch_head(path, base_branch))


def _commit(path, branch, message, parent):
    blob = git(path, "hash-object", "-w", "--stdin", input=message + "\n")
    tree = git(path, "mktree", input=f"100644 blob {blob}\tCHANGES\n")
    parents = ["-p", parent] if parent else []
    commits_so_far = int(git(path, "rev-list", "--all", "--count"))
    sha = git(path, "commit-tree", tree, *parents, "-m", message, date=FIRST_DATE + 60 * commits_so_far)
    git(path, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def _branch_head(path, branch):
    return git(path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False) or None


def _git_env(date):
    """No system or user configuration, a fixed identity and a fixed date."""
    return {
        **_base_env(),
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_AUTHOR_DATE": f"{date} +0000",
        "GIT_COMMITTER_DATE": f"{date} +0000",
    }


def _base_env():
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }


def free_port():
    """A port on 127.0.0.1 that nothing listens on (at the moment of the call)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GitDaemon:
    """``git daemon`` exporting every repository under ``base_path`` on 127.0.0.1:<free port>.

    Entering waits until the port accepts connections; leaving kills the daemon and the children it
    forked for connections (they share its process group).
    """

    def __init__(self, base_path):
        self.base_path = Path(base_path).resolve()
        self.port = free_port()
        self.process = None

    def url_for(self, repo_name):
        return f"git://127.0.0.1:{self.port}/{repo_name}"

    def __enter__(self):
        self.process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                f"--base-path={self.base_path}",
                "--export-all",
                f"--port={self.port}",
                "--listen=127.0.0.1",
                str(self.base_path),
            ],
            env=_base_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_listening()
        return self

    def __exit__(self, *exc_info):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def _wait_until_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"git daemon exited with status {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        self.__exit__()
        raise RuntimeError(f"git daemon did not listen on port {self.port} within {timeout:g} s")


class GitHttpServer:
    """git's smart HTTP protocol on 127.0.0.1:<free port>, served by ``git http-backend`` as a CGI.

    ``requests`` lists every request received as ``(method, path, Host header)``, so a test can assert
    that git never connected. With ``redirect_to`` set (a URL prefix), every request is answered with a
    301 to that prefix plus the request's path instead.
    """

    def __init__(self, base_path, redirect_to=None):
        self.base_path = Path(base_path).resolve()
        self.redirect_to = redirect_to
        self.requests = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def url_for(self, repo_name, host="127.0.0.1"):
        return f"http://{host}:{self.port}/{repo_name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.answer(self)

            def do_POST(self):  # noqa: N802
                owner.answer(self)

            def log_message(self, *args):
                """Quiet."""

        return Handler

    def answer(self, request):
        self.requests.append((request.command, request.path, request.headers.get("Host")))
        if self.redirect_to is not None:
            request.send_response(301)
            request.send_header("Location", self.redirect_to + request.path)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        path, _, query = request.path.partition("?")
        cgi_env = {
            **_base_env(),
            "GIT_PROJECT_ROOT": str(self.base_path),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi_env, capture_output=True, timeout=30
        )
        # CGI headers end at the first empty line; the payload after it is binary and left untouched.
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        headers = [line.decode().split(":", 1) for line in head.splitlines() if b":" in line]
        status = next((int(value.split()[0]) for name, value in headers if name.lower() == "status"), 200)
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("status", "content-length"):
                request.send_header(name, value.strip())
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


@pytest.fixture
def git_repo(tmp_path):
    """``(path, shas)`` of a bare repository ``repos/app.git`` with three commits on main."""
    path = tmp_path / "repos" / "app.git"
    return path, make_repo(path, commits=3)


@pytest.fixture
def git_daemon(tmp_path):
    """A ``GitDaemon`` serving ``tmp_path / "repos"`` (where ``git_repo`` puts its repository)."""
    (tmp_path / "repos").mkdir(exist_ok=True)
    with GitDaemon(tmp_path / "repos") as daemon:
        yield daemon

"""Fixtures for monitoring tests: a watched project whose every link is real.

``watched`` is a project whose repository is a real bare git repository (file://), whose environment's
live endpoint is a real HTTP server on 127.0.0.1 answering the deployed release's digest, with a
signed, logged release and deployment: a check of it is green until a test breaks one link.
"""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers.gitserver import make_repo
from tests.helpers.liveserver import LiveServer
from tests.portal import factories


@pytest.fixture(autouse=True)
def monitoring_settings(settings, tmp_path):
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = True
    settings.VITRINA_REPO_CACHE_DIR = str(tmp_path / "repo-cache")
    settings.VITRINA_REPO_MIN_FETCH_INTERVAL = 0
    settings.VITRINA_LIVE_CONNECT_TIMEOUT = 1
    settings.VITRINA_LIVE_TOTAL_TIMEOUT = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@dataclass
class Watched:
    project: object
    environment: object
    private_key: object
    signing_key: object
    release: object
    deployment: object
    server: LiveServer
    repo_path: object
    shas: list

    def live_body(self, release):
        return {"artifact_digest": release.artifact_digest, "source_commit": release.source_commit}

    def neighbours(self, count, prefix="env"):
        """``count`` more environments of the project, on the same live server, running the same release."""
        environments = []
        for n in range(count):
            environment = factories.make_environment(
                self.project, name=f"{prefix}-{n}", live_url=self.server.url
            )
            factories.make_deployment(environment, self.release)
            environments.append(environment)
        return environments

    def serve(self, release):
        self.server.set_body(self.live_body(release))


@pytest.fixture
def git_repository(tmp_path):
    path = tmp_path / "repos" / "app.git"
    return path, make_repo(path, commits=3)


@pytest.fixture
def watched(db, git_repository):
    path, shas = git_repository
    project = factories.make_project(repo_url=path.as_uri())
    private_key, signing_key = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0", commit=shas[-1])
    with LiveServer({"artifact_digest": release.artifact_digest}) as server:
        environment = factories.make_environment(project, live_url=server.url)
        deployment = factories.make_deployment(environment, release)
        yield Watched(project, environment, private_key, signing_key, release, deployment, server, path, shas)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST and answers ``status`` (or never)."""

    def __init__(self, status=200, silent=False):
        self.status = status
        self.silent = silent
        self.requests = []
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append((dict(self.headers), body))
                if owner.silent:
                    owner.stopping.wait()
                    return
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def json_bodies(self):
        return [json.loads(body) for _, body in self.requests]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

"""The WSGI middleware a watched service adds, served by a real wsgiref server and read by fetch_live."""

import http.client
import json
import threading
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from verifier.endpoint import DEFAULT_PATH, LiveEndpointMiddleware, deployment_json
from verifier.errors import CouldNotCheck
from verifier.live import fetch_live, parse_live_body
from verifier.reasons import Reason

DIGEST = "sha256:" + "7d" * 32
NEW_DIGEST = "sha256:" + "e1" * 32
COMMIT = "4b" * 20
FAST = {"allow_private": True, "connect_timeout": 1.0, "total_timeout": 2.0}


def application(environ, start_response):
    """The watched service itself."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the service's own page"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        """Keep test output clean."""


@contextmanager
def serving(app):
    """Serve ``app`` with wsgiref on 127.0.0.1; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def raw_request(base_url, method, path=DEFAULT_PATH):
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_fixed_values_are_read_back_by_the_checker():
    app = LiveEndpointMiddleware(application, artifact_digest=DIGEST, source_commit=COMMIT, version="2.1.0")
    with serving(app) as base_url:
        report = fetch_live(base_url + DEFAULT_PATH, **FAST)

    assert (report.artifact_digest, report.source_commit, report.version) == (DIGEST, COMMIT, "2.1.0")


def test_answer_is_never_cached():
    with serving(LiveEndpointMiddleware(application, artifact_digest=DIGEST)) as base_url:
        status, headers, body = raw_request(base_url, "GET")

    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"artifact_digest": DIGEST}


def test_other_paths_reach_the_application():
    with serving(LiveEndpointMiddleware(application, artifact_digest=DIGEST)) as base_url:
        status, _, body = raw_request(base_url, "GET", "/")

    assert (status, body) == (200, b"the service's own page")


def test_a_custom_path_is_served_instead_of_the_default():
    app = LiveEndpointMiddleware(application, path="/deployment.json", artifact_digest=DIGEST)
    with serving(app) as base_url:
        assert fetch_live(base_url + "/deployment.json", **FAST).artifact_digest == DIGEST
        assert raw_request(base_url, "GET")[2] == b"the service's own page"


def test_rewritten_manifest_is_served_without_a_restart(tmp_path):
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps({"artifact_digest": DIGEST, "version": "1"}))
    app = LiveEndpointMiddleware(application, manifest_path=manifest)
    with serving(app) as base_url:
        before = fetch_live(base_url + DEFAULT_PATH, **FAST)
        manifest.write_text(json.dumps({"artifact_digest": NEW_DIGEST, "version": "2"}))
        after = fetch_live(base_url + DEFAULT_PATH, **FAST)

    assert (before.artifact_digest, before.version) == (DIGEST, "1")
    assert (after.artifact_digest, after.version) == (NEW_DIGEST, "2")


def test_a_manifest_of_several_components_is_served_as_the_checker_reads_it(tmp_path):
    image = "sha256:" + "0c" * 32
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps({"components": {"web": image, "worker": DIGEST}, "version": "3"}))

    with serving(LiveEndpointMiddleware(application, manifest_path=manifest)) as base_url:
        report = fetch_live(base_url + DEFAULT_PATH, **FAST)

    assert (report.artifact_digest, report.components, report.version) == (
        None,
        {"web": image, "worker": DIGEST},
        "3",
    )


@pytest.mark.parametrize(
    "content",
    [
        None,
        "{broken",
        '["sha256:x"]',
        '{"artifact_digest": "sha256:ABC"}',
        '{"components": {"web": "sha256:x"}}',
    ],
    ids=str,
)
def test_missing_or_broken_manifest_makes_the_check_fail_not_guess(tmp_path, content):
    manifest = tmp_path / "deployment.json"
    if content is not None:
        manifest.write_text(content)
    with serving(LiveEndpointMiddleware(application, manifest_path=manifest)) as base_url:
        with pytest.raises(CouldNotCheck) as caught:
            fetch_live(base_url + DEFAULT_PATH, **FAST)

    assert caught.value.reason is Reason.UNREACHABLE
    assert "HTTP 503" in str(caught.value)


def test_only_get_and_head_are_answered():
    with serving(LiveEndpointMiddleware(application, artifact_digest=DIGEST)) as base_url:
        post_status, post_headers, _ = raw_request(base_url, "POST")
        head_status, head_headers, head_body = raw_request(base_url, "HEAD")

    assert (post_status, post_headers["Allow"]) == (405, "GET, HEAD")
    assert (head_status, head_body) == (200, b"")
    assert int(head_headers["Content-Length"]) > 0


@pytest.mark.parametrize(
    "values",
    [
        {"artifact_digest": "sha256:" + "7D" * 32},
        {"artifact_digest": "7d" * 32},
        {"artifact_digest": DIGEST, "source_commit": "main"},
        {"artifact_digest": DIGEST, "version": 2},
        {"artifact_digest": DIGEST, "version": "v" * 257},
    ],
)
def test_bad_values_stop_the_service_at_start_up(values):
    with pytest.raises(ValueError):
        LiveEndpointMiddleware(application, **values)


def test_needs_exactly_one_source_of_values(tmp_path):
    with pytest.raises(ValueError):
        LiveEndpointMiddleware(application)
    with pytest.raises(ValueError):
        LiveEndpointMiddleware(application, artifact_digest=DIGEST, manifest_path=tmp_path / "d.json")


def test_everything_the_endpoint_serves_the_checker_accepts():
    body = deployment_json(DIGEST, "ab" * 32, "v" * 256)

    assert parse_live_body(body, "application/json") == (DIGEST, "ab" * 32, "v" * 256)

"""The verifier's two portal clients never follow a redirect: ``publish`` would hand the token to another
server, ``verify --portal`` would take another server's proofs. A real redirecting server on 127.0.0.1."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from verifier.errors import CouldNotCheck
from verifier.publish import PublishError, post_json
from verifier.state import fetch_consistency_proof


@pytest.fixture
def redirecting():
    """A portal that answers every request with 302 to another server, which counts what it is asked."""
    asked = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, format, *args):
            """Keep test output clean."""

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}/stolen"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, format, *args):
            """Keep test output clean."""

    portal = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = [portal, elsewhere]
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}) for s in servers]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{portal.server_address[1]}", target, asked
    for server in servers:
        server.shutdown()
        server.server_close()


def test_publish_refuses_a_redirect_and_never_sends_the_token_elsewhere(redirecting):
    portal, target, asked = redirecting

    with pytest.raises(PublishError, match=f"redirect \\(302\\) to {target}"):
        post_json(f"{portal}/api/v1/releases/", {"version": "1"}, "vtr_secret")

    assert asked == []


def test_verify_refuses_a_redirected_consistency_proof(redirecting):
    portal, target, asked = redirecting

    with pytest.raises(CouldNotCheck, match=f"redirected to {target}"):
        fetch_consistency_proof(portal, 1, 2)

    assert asked == []

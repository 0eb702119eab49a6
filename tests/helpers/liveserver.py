"""Real HTTP servers on 127.0.0.1 for tests of live-endpoint checks: a well-behaved one and hostile ones.

Each server listens on a free port, runs in a background thread and is a context manager; leaving the
``with`` block stops it, wakes every handler that is still waiting or streaming, joins their threads
and closes every socket, so no test leaks a thread or a port.

    with LiveServer({"artifact_digest": "sha256:" + "ab" * 32}) as server:
        report = fetch_live(server.url, allow_private=True)
        server.set_body({"artifact_digest": other})   # the service was redeployed
        assert server.request_count == 1

The fixtures at the end (``live_endpoint``) can be used from any test module with
``from tests.helpers.liveserver import live_endpoint  # noqa: F401``.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ENDPOINT_PATH = "/.well-known/vitrina/deployment"
EXAMPLE_DIGEST = "sha256:" + "5e" * 32
EXAMPLE_COMMIT = "c0ffee" + "0" * 34


class _Server(ThreadingHTTPServer):
    # Handler threads are joined at close (block_on_close); handlers watch ``stopping`` so none waits forever.
    daemon_threads = False
    block_on_close = True


class _Handler(BaseHTTPRequestHandler):
    """Counts the request and hands it to the owning test server's ``respond``."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # a client that connects and never sends a request cannot hold a handler thread forever

    def do_GET(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        owner = self.server.owner
        owner.record(self)
        try:
            owner.respond(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client gave up on us, which is what hostile-server tests expect it to do
        self.close_connection = True

    def do_POST(self):  # noqa: N802
        """Read the body (closing on unread bytes would reset the connection under the answer), then
        answer as for a GET."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def log_message(self, format, *args):
        """Keep test output clean."""


class LoopbackServer:
    """A server on 127.0.0.1:<free port>; subclasses decide how to answer in ``respond``."""

    path = ENDPOINT_PATH

    def __init__(self):
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.request_count = 0
        self.last_headers = None
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self):
        return self.base_url + self.path

    def record(self, handler):
        with self._lock:
            self.request_count += 1
            self.last_headers = handler.headers

    def respond(self, handler):
        raise NotImplementedError

    def use_tls(self, context):
        """Serve https with ``context`` (an ``ssl.SSLContext`` for servers); call before ``start``."""
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        return self

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}{self.path}"

    def start(self):
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @staticmethod
    def send(handler, status, body=b"", content_type="text/plain", headers=()):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


class LiveServer(LoopbackServer):
    """A well-behaved watched service; ``set_body`` swaps the answer while it runs (a redeploy)."""

    def __init__(self, body, status=200, content_type="application/json"):
        super().__init__()
        self.status = status
        self.set_body(body, content_type)

    def set_body(self, body, content_type=None):
        encoded = json.dumps(body).encode() if isinstance(body, dict) else body
        with self._lock:
            self.body = encoded
            if content_type is not None:
                self.content_type = content_type

    def respond(self, handler):
        with self._lock:
            body, content_type = self.body, self.content_type
        self.send(handler, self.status, body, content_type)


class ErrorServer(LoopbackServer):
    """Answers every request with an HTTP error status."""

    def __init__(self, status=500):
        super().__init__()
        self.status = status

    def respond(self, handler):
        self.send(handler, self.status, b"internal error\n")


class SilentServer(LoopbackServer):
    """Accepts the connection and reads the request, then never answers."""

    def respond(self, handler):
        self.stopping.wait()


class DribbleServer(LoopbackServer):
    """Sends a valid answer one byte per second, the slow-loris way of keeping a client busy forever."""

    def __init__(self, interval=1.0):
        super().__init__()
        self.interval = interval

    def respond(self, handler):
        body = json.dumps({"artifact_digest": EXAMPLE_DIGEST}).encode()
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        answer += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        for byte in answer:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if self.stopping.wait(self.interval):
                return


class HugeServer(LoopbackServer):
    """Streams ``size`` bytes (100 MB by default), with or without announcing the length first."""

    def __init__(self, size=100 * 1024 * 1024, announce_length=False):
        super().__init__()
        self.size = size
        self.announce_length = announce_length
        self.bytes_sent = 0

    def respond(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if self.announce_length:
            handler.send_header("Content-Length", str(self.size))
        handler.end_headers()
        chunk = b'{"pad":"' + b"x" * 65536
        while self.bytes_sent < self.size and not self.stopping.is_set():
            handler.wfile.write(chunk)
            self.bytes_sent += len(chunk)


class RedirectLoopServer(LoopbackServer):
    """Redirects every request back to itself."""

    def respond(self, handler):
        self.send(handler, 302, headers=[("Location", self.path)])


class RedirectToServer(LoopbackServer):
    """Redirects every request to ``target_url`` (for example a cloud metadata address)."""

    def __init__(self, target_url, status=302):
        super().__init__()
        self.target_url = target_url
        self.status = status

    def respond(self, handler):
        self.send(handler, self.status, headers=[("Location", self.target_url)])


@pytest.fixture
def live_endpoint():
    """A running ``LiveServer`` answering ``EXAMPLE_DIGEST``, ``EXAMPLE_COMMIT`` and version 1.0.0."""
    body = {"artifact_digest": EXAMPLE_DIGEST, "source_commit": EXAMPLE_COMMIT, "version": "1.0.0"}
    with LiveServer(body) as server:
        yield server

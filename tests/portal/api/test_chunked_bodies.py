"""A body sent with ``Transfer-Encoding: chunked`` (no Content-Length) is read, up to the same cap.

Django's test client cannot send a chunked body, so these post raw chunked requests to a real gunicorn
running the project's ``gunicorn.conf.py`` on loopback. A WSGI server that cannot say where a chunked
body ends gets a 411 instead.
"""

import http.client
import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.wsgi import get_wsgi_application

from portal.registry.models import Release
from tests.helpers.gunicorn import Gunicorn
from tests.portal import factories

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 64 * 1024


@pytest.fixture
def server(tmp_path):
    with Gunicorn(tmp_path / "gunicorn") as running:
        yield running


def post_chunked(port, path, body, token, *, chunk=CHUNK):
    """POST ``body`` in chunks of ``chunk`` bytes; returns (status, parsed JSON answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for start in range(0, len(body), chunk):
                part = body[start : start + chunk]
                connection.send(b"%x\r\n%b\r\n" % (len(part), part))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent: its answer still counts
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_valid_release_sent_chunked_is_registered(ci, server):
    body = json.dumps({"envelope": ci.envelope(), "version": "1.0.0"}).encode()

    status, answer = post_chunked(server.port, "/api/v1/releases/", body, ci.raw_token, chunk=100)

    assert status == 201, (answer, server.log())
    assert answer["version"] == "1.0.0"
    assert Release.objects.get().pk == answer["id"]


def test_chunked_body_over_the_cap_is_a_413_and_writes_nothing(ci, server):
    body = json.dumps({"envelope": "x" * (30 * 1024 * 1024), "version": "1.0.0"}).encode()

    status, answer = post_chunked(server.port, "/api/v1/releases/", body, ci.raw_token)

    assert status == 413, (answer, server.log())
    assert answer["error"]["code"] == "payload_too_large"
    assert f"{256 * 1024} bytes" in answer["error"]["message"]
    assert not Release.objects.exists() and not factories.sequenced_entries().filter(kind="release").exists()


def test_chunked_body_just_under_the_cap_is_read_whole(ci, server):
    """The cap counts the body's bytes, not the chunk framing: a body of exactly the cap is read."""
    body = json.dumps({"envelope": "", "version": "1.0.0"}).encode()
    body = body[:-1] + b" " * (256 * 1024 - len(body)) + b"}"

    status, answer = post_chunked(server.port, "/api/v1/releases/", body, ci.raw_token)

    assert status == 400, (answer, server.log())
    assert list(answer["error"]["fields"]) == ["envelope"]


def test_chunked_body_on_a_server_that_cannot_say_where_it_ends_is_a_411(ci):
    """wsgiref (under ``manage.py runserver``) does not set ``wsgi.input_terminated``: the body cannot
    be read safely, and must not be taken for an empty one."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/releases/",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": f"Bearer {ci.raw_token}",
        "wsgi.input": io.BytesIO(json.dumps({"envelope": ci.envelope(), "version": "1.0.0"}).encode()),
    }
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    body = b"".join(get_wsgi_application()(environ, start_response))

    assert answer["status"].startswith("411"), body
    error = json.loads(body)["error"]
    assert error["code"] == "length_required" and "Content-Length" in error["message"]
    assert not Release.objects.exists()

"""``publish`` against hostile portals: any answer it cannot read is a refusal or an outage, never a crash.

The portal here is a real HTTP server on 127.0.0.1 that answers every POST with fixed bytes.
"""

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.verifier.factories import key_pair, signed_envelope
from verifier.command import EXIT_BAD_INPUT
from verifier.dsse import envelope_to_json
from verifier.publish import EXIT_REFUSED, EXIT_UNREACHABLE, add_publish_parser

TOKEN_ENV = "VITRINA_TEST_PUBLISH_TOKEN"


class FixedAnswer:
    """A portal that answers every POST with ``status`` and ``body``."""

    def __init__(self, status, body):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format, *args):
                """Keep test output clean."""

        self.status, self.body = status, body
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def publish(portal, envelope_path):
    parser = argparse.ArgumentParser(prog="verifier")
    add_publish_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "publish",
            "--portal",
            portal,
            "--token-env",
            TOKEN_ENV,
            "--envelope",
            envelope_path,
            "--version",
            "1",
        ]
    )
    return args.func(args)


@pytest.mark.parametrize(
    "status, expected",
    [(400, EXIT_REFUSED), (201, EXIT_UNREACHABLE), (500, EXIT_UNREACHABLE)],
)
@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"error": {"message": "\\ud800"}}', b"\xff"])
def test_an_answer_that_is_not_strict_json_is_a_refusal_or_an_outage(
    tmp_path, monkeypatch, capsys, status, expected, body
):
    envelope = tmp_path / "envelope.json"
    envelope.write_text(envelope_to_json(signed_envelope(key_pair())))
    monkeypatch.setenv(TOKEN_ENV, "token")
    with FixedAnswer(status, body) as portal:
        assert publish(portal, str(envelope)) == expected
    err = capsys.readouterr().err
    assert err.startswith("publish: ") and err.count("\n") == 1


@pytest.mark.parametrize("portal", ["https://[::1", "https://[vitrina.example]/", "https://host:99999999"])
def test_an_unparsable_portal_url_is_bad_input_on_one_line(tmp_path, monkeypatch, capsys, portal):
    envelope = tmp_path / "envelope.json"
    envelope.write_text(envelope_to_json(signed_envelope(key_pair())))
    monkeypatch.setenv(TOKEN_ENV, "token")
    assert publish(portal, str(envelope)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("publish: --portal ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda e: {**e, "payloadType": "text/plain"}, "payloadType must be application/vnd.in-toto+json"),
        (lambda e: "not json", "envelope is not valid JSON"),
    ],
)
def test_a_broken_envelope_file_is_named_once_before_any_request(
    tmp_path, monkeypatch, capsys, damage, problem
):
    envelope = tmp_path / "envelope.json"
    damaged = damage(signed_envelope(key_pair()))
    envelope.write_text(damaged if isinstance(damaged, str) else envelope_to_json(damaged))
    monkeypatch.setenv(TOKEN_ENV, "token")
    # Port 9 (discard) on loopback: nothing listens, so a request would be an outage, not bad input.
    assert publish("http://127.0.0.1:9", str(envelope)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"publish: {envelope}: {problem}") and err.count("\n") == 1


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"[1, 2]", "the Sigstore bundle is JSON but not an object"),
        (b"not json", "the Sigstore bundle is not valid JSON"),
        (b" " * (1024 * 1024 + 1), "larger than 1024 KiB, not a Sigstore bundle"),
    ],
)
def test_a_broken_sigstore_bundle_file_is_named_once_before_any_request(
    tmp_path, monkeypatch, capsys, content, problem
):
    bundle = tmp_path / "attestation.json"
    bundle.write_bytes(content)
    monkeypatch.setenv(TOKEN_ENV, "token")
    parser = argparse.ArgumentParser(prog="verifier")
    add_publish_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["publish", "--portal", "http://127.0.0.1:9", "--token-env", TOKEN_ENV,
         "--sigstore-bundle", str(bundle), "--version", "1"]
    )  # fmt: skip
    assert args.func(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"publish: {bundle}: ") and problem in err and err.count("\n") == 1


def test_an_envelope_and_a_sigstore_bundle_together_are_refused(tmp_path):
    parser = argparse.ArgumentParser(prog="verifier")
    add_publish_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(
            ["publish", "--portal", "https://x.example", "--envelope", "e.json", "--sigstore-bundle", "b",
             "--version", "1"]
        )  # fmt: skip

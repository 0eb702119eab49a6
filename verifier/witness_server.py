"""``python -m verifier witness``: run a C2SP tlog-witness for Vitrina logs (and any C2SP log).

    witness init --name NAME --key-file F   create the witness's key (mode 0600), print its verifier key
    witness key --key-file F                print the verifier key of an existing key file
    witness serve --key-file F --log VKEY [--log VKEY ...] --state DIR --listen HOST:PORT

``serve`` answers ``POST /add-checkpoint`` (``verifier.witness.Witness``) on a plain HTTP server of the
standard library, one thread per connection; put it behind a TLS-terminating proxy to expose it. The
request's head and body are read under a deadline and the body under ``MAX_BODY_BYTES``. It prints
``listening on http://HOST:PORT`` once ready, then one line per request on standard error (the client's
address, the request, the status and why: never a key).
"""

import argparse
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from verifier import command
from verifier.cosignature import CosignerKey, generate_cosigner_key, parse_cosigner_signer_key
from verifier.errors import FormatError
from verifier.note import Verifier, parse_verifier_key
from verifier.witness import MAX_BODY_BYTES, Answer, Witness, WitnessState, text_answer

ENDPOINT = "/add-checkpoint"
MAX_KEY_FILE_BYTES = 4096
# A client has this long to send its request's head, and then its whole body.
READ_TIMEOUT = 10.0


def add_witness_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "witness", run_witness)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create a witness key and print its verifier key")
    init.add_argument("--name", required=True, help="the witness's name, such as witness.example.org/w1")
    init.add_argument("--key-file", required=True, metavar="FILE", help="where to write the new key")
    key = actions.add_parser("key", help="print the verifier key of a witness key file")
    key.add_argument("--key-file", required=True, metavar="FILE", help="the witness's key file")
    serve = actions.add_parser("serve", help="answer add-checkpoint requests")
    serve.add_argument("--key-file", required=True, metavar="FILE", help="the witness's key file")
    serve.add_argument(
        "--log",
        action="append",
        required=True,
        metavar="VKEY",
        help="a log's verifier key (name+hash+base64, its name the log's origin), or a file holding it; "
        "repeat for each log or key",
    )
    serve.add_argument(
        "--state", required=True, metavar="DIR", help="where the latest cosigned checkpoints are kept"
    )
    serve.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="address to listen on (port 0: any)"
    )
    return parser


def run_witness(args: argparse.Namespace) -> int:
    """Run a witness that cosigns a log's checkpoints after checking their consistency.

    A witness (C2SP tlog-witness) remembers the latest checkpoint it cosigned for each log it follows and
    cosigns a new one only if a consistency proof shows it extends that one, so a log cannot show two
    histories to two audiences. 'witness init' creates the key, 'witness key' prints its verifier key
    (give it to the portal's operator), 'witness serve' answers add-checkpoint requests. Exit codes: 0
    done, 3 bad input.
    """
    if args.action == "init":
        return _init(args.name, args.key_file)
    if args.action == "key":
        print(read_witness_key(args.key_file).verifier_key)
        return command.EXIT_OK
    return _serve(args)


def _init(name: str, path: str) -> int:
    text = generate_cosigner_key(name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise command.CommandError(f"{path} already exists; a witness key is never overwritten") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(parse_cosigner_signer_key(text).verifier_key)
    return command.EXIT_OK


def read_witness_key(path: str) -> CosignerKey:
    with open(path, "rb") as f:
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise command.CommandError(f"{path} is larger than a witness key file")
    try:
        return parse_cosigner_signer_key(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise command.CommandError(f"{path} is not a witness key file (not UTF-8)") from None
    except FormatError as exc:
        raise command.CommandError(f"{path}: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    key = read_witness_key(args.key_file)
    logs: dict[str, list[Verifier]] = {}
    for value in args.log:
        verifier = parse_verifier_key(command.read_key(value, "--log", parse_verifier_key))
        logs.setdefault(verifier.name, []).append(verifier)
    host, port = parse_listen(args.listen)
    try:
        os.makedirs(args.state, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise command.CommandError(f"--state {args.state}: {exc.strerror}") from None
    witness = Witness(key, logs, WitnessState(args.state))
    try:
        server = WitnessServer((host, port), witness)
    except OSError as exc:
        raise command.CommandError(f"cannot listen on {args.listen}: {exc.strerror}") from None
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"listening on http://{shown}:{bound_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return command.EXIT_OK


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for an IPv6 address) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise command.CommandError(f"--listen {value[:80]!r} is not HOST:PORT")
    return host, int(port)


class WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.witness = witness


class _Handler(BaseHTTPRequestHandler):
    server: WitnessServer
    protocol_version = "HTTP/1.1"
    server_version = "vitrina-witness"
    timeout = READ_TIMEOUT

    def do_POST(self) -> None:  # noqa: N802 (the name is BaseHTTPRequestHandler's)
        if self._path() != ENDPOINT:
            return self._answer(text_answer(404, f"no such endpoint; POST {ENDPOINT}"))
        length = self.headers.get("Content-Length")
        if length is None or self.headers.get("Transfer-Encoding"):
            return self._answer(text_answer(411, "a Content-Length is required"), close=True)
        if not length.isdigit() or len(length) > 18:
            return self._answer(text_answer(400, "the Content-Length is not a number"), close=True)
        if int(length) > MAX_BODY_BYTES:
            return self._answer(
                text_answer(413, f"the body is larger than {MAX_BODY_BYTES} bytes"), close=True
            )
        body = self._read_body(int(length))
        if body is None:
            return self._answer(text_answer(408, "the body did not arrive in time"), close=True)
        self._answer(self.server.witness.add_checkpoint(body))

    def do_GET(self) -> None:  # noqa: N802
        self._not_allowed()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET  # noqa: N815

    def _not_allowed(self) -> None:
        if self._path() != ENDPOINT:
            self._answer(text_answer(404, f"no such endpoint; POST {ENDPOINT}"), close=True)
        else:
            self._answer(text_answer(405, f"{ENDPOINT} takes POST only"), close=True, allow="POST")

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _read_body(self, length: int) -> bytes | None:
        """``length`` bytes within ``READ_TIMEOUT`` in all, however slowly they drip; None past that."""
        deadline = time.monotonic() + READ_TIMEOUT
        chunks: list[bytes] = []
        left = length
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.connection.settimeout(remaining)
            try:
                chunk = self.rfile.read1(left)
            except TimeoutError:
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        self.connection.settimeout(self.timeout)
        return b"".join(chunks)

    def _answer(self, answer: Answer, *, close: bool = False, allow: str | None = None) -> None:
        """Log the answer, then send it: whoever got an answer can find its line in the log."""
        self.log_message("%s %s %d %s", self.command, self._path()[:100], answer.status, answer.detail)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if allow:
            self.send_header("Allow", allow)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Each answer is logged once, by ``_answer``, with its reason."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the name is the base class's)
        line = format % args
        line = "".join(c if c.isprintable() else "?" for c in line)
        print(f"{self.address_string()} {line}", file=sys.stderr, flush=True)

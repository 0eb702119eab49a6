"""Witnesses for portal tests, on 127.0.0.1: an honest one running the verifier's own witness
(``verifier.witness.Witness``, the protocol ``python -m verifier witness serve`` answers with) and scripted
ones that answer what a test tells them (garbage, a hang, a 409, a cosignature by another key).

    with HonestWitness("witness.example/w1", tmp_path) as witness:
        add_witness(witness.name, witness.verifier_key, witness.url)
"""

from http.server import BaseHTTPRequestHandler

from portal.transparency.signing import verifier_key
from tests.helpers.liveserver import LoopbackServer
from verifier.cosignature import generate_cosigner_key, parse_cosigner_signer_key
from verifier.note import parse_verifier_key
from verifier.witness import Witness, WitnessState, parse_add_checkpoint


def make_witness_key(name):
    """A new witness signing key (``verifier.cosignature.CosignerKey``)."""
    return parse_cosigner_signer_key(generate_cosigner_key(name))


class _PostHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def do_POST(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        owner = self.server.owner
        owner.record(self)
        try:
            owner.respond(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        self.close_connection = True

    def log_message(self, format, *args):
        """Keep test output clean."""


class WitnessServer(LoopbackServer):
    """A witness's submission prefix on loopback: each request's parsed body is kept in ``requests``, and
    ``answer(body)`` says what to send: ``(status, body, content type)``, or None to hang until stopped."""

    path = "/"

    def __init__(self, name):
        super().__init__()
        self._httpd.RequestHandlerClass = _PostHandler
        self.key = make_witness_key(name)
        self.requests = []

    @property
    def name(self):
        return self.key.name

    @property
    def verifier_key(self):
        return self.key.verifier_key

    @property
    def old_sizes(self):
        return [request.old_size for request in self.requests]

    def respond(self, handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        self.requests.append(parse_add_checkpoint(body))
        answer = self.answer(body)
        if answer is None:
            self.stopping.wait()
            return
        self.send(handler, *answer)

    def answer(self, body):
        raise NotImplementedError


class HonestWitness(WitnessServer):
    """The verifier's witness, following the portal's log, its state in ``state_dir``."""

    def __init__(self, name, state_dir):
        super().__init__(name)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.restart()

    def restart(self):
        """As if the witness process started again, reading its state directory."""
        vkey = parse_verifier_key(verifier_key())
        self.witness = Witness(self.key, {vkey.name: [vkey]}, WitnessState(self.state_dir))

    def answer(self, body):
        answer = self.witness.add_checkpoint(body)
        return answer.status, answer.body, answer.content_type


class ScriptedWitness(WitnessServer):
    """Answers every request with ``script(request)`` (the parsed add-checkpoint), a ``WitnessServer``
    answer."""

    def __init__(self, name, script):
        super().__init__(name)
        self.script = script

    def answer(self, body):
        return self.script(self.requests[-1])

"""``python -m verifier witness``: real witness processes on 127.0.0.1, the client ``request_cosignature``
against them and against hostile servers, and the race the spec warns about."""

import base64
import http.client
import os
import selectors
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers.liveserver import (
    DribbleServer,
    ErrorServer,
    HugeServer,
    LiveServer,
    RedirectToServer,
    SilentServer,
)
from tests.verifier.test_bundle import MemoryLog
from verifier import merkle, witness_server
from verifier.cosignature import (
    cosign,
    cosignatures_of,
    generate_cosigner_key,
    parse_cosigner_signer_key,
    parse_cosigner_vkey,
)
from verifier.errors import CouldNotCheck
from verifier.note import SIGNATURE_PREFIX, parse_verifier_key, split_note
from verifier.reasons import Reason
from verifier.witness import (
    MAX_BODY_BYTES,
    Witness,
    WitnessConflict,
    WitnessRefused,
    WitnessState,
    request_cosignature,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "witness.test/w1"


def witness_command(*args):
    return subprocess.run(
        [sys.executable, "-m", "verifier", "witness", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


class WitnessProcess:
    """``witness serve`` in a subprocess on a free port; its request log goes to ``log_path``."""

    def __init__(self, key_file, log, state, log_path):
        self.log_path = log_path
        self.stderr = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "verifier", "witness", "serve", "--key-file", str(key_file),
             "--log", log.verifier_key, "--state", str(state), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=ROOT,
        )  # fmt: skip
        self.url = self._listening_url(deadline=time.monotonic() + 30)

    def _listening_url(self, deadline):
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=max(0, deadline - time.monotonic())):
                self.stop()
                raise AssertionError("the witness did not say it was listening within 30 s")
        line = self.process.stdout.readline().decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        return line.split()[-1]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.stderr.close()

    def requests_logged(self):
        with open(self.log_path) as f:
            return f.read().splitlines()


@pytest.fixture
def log():
    memory = MemoryLog()
    for i in range(100):
        memory.append({"v": 1, "type": "note", "n": i})
    return memory


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "witness.key"
    assert witness_command("init", "--name", NAME, "--key-file", path).returncode == 0
    return path


@pytest.fixture
def cosigner(key_file):
    return parse_cosigner_vkey(witness_command("key", "--key-file", key_file).stdout.strip())


@pytest.fixture
def serve(tmp_path, key_file, log):
    started = []

    def start(state=tmp_path / "state", name="witness.log"):
        process = WitnessProcess(key_file, log, state, tmp_path / name)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()


def ask(url, log, old, size, cosigner, **options):
    proof = merkle.consistency_proof(old, size, log.read) if 0 < old < size else []
    return request_cosignature(url, log.checkpoint(size), old, proof, cosigner, allow_private=True, **options)


# --- init, key ----------------------------------------------------------------------------------------


def test_init_writes_a_private_key_file_prints_its_verifier_key_and_never_overwrites_it(tmp_path):
    path = tmp_path / "w.key"
    made = witness_command("init", "--name", NAME, "--key-file", path)

    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vkey = made.stdout.strip()
    assert parse_cosigner_vkey(vkey).name == NAME
    assert parse_cosigner_signer_key(path.read_text()).verifier_key == vkey
    assert "PRIVATE" not in made.stdout
    assert witness_command("key", "--key-file", path).stdout.strip() == vkey

    again = witness_command("init", "--name", NAME, "--key-file", path)
    assert again.returncode == 3
    assert again.stderr.strip() == f"witness: {path} already exists; a witness key is never overwritten"
    assert parse_cosigner_signer_key(path.read_text()).verifier_key == vkey


SERVE = ["serve", "--key-file", "{key}", "--state", "{tmp}/s"]


@pytest.mark.parametrize(
    "args, problem",
    [
        (["init", "--name", "two words", "--key-file", "{tmp}/new.key"], "invalid witness name"),
        (["key", "--key-file", "{tmp}/missing.key"], "cannot read"),
        (["key", "--key-file", "{tmp}/log.vkey"], "does not start with 'PRIVATE+KEY+'"),
        ([*SERVE, "--log", "nonsense", "--listen", "127.0.0.1:0"], "--log is neither a verifier key"),
        ([*SERVE, "--log", "{vkey}", "--listen", "localhost"], "is not HOST:PORT"),
        ([*SERVE, "--log", "{vkey}", "--listen", "127.0.0.1:99999"], "is not HOST:PORT"),
        ([*SERVE, "--log", "{vkey}", "--listen", "192.0.2.1:1"], "cannot listen on"),
    ],
)
def test_bad_input_is_one_line_and_exits_3(tmp_path, key_file, log, args, problem):
    (tmp_path / "log.vkey").write_text(log.verifier_key + "\n")
    values = {"tmp": tmp_path, "key": key_file, "vkey": log.verifier_key}
    result = witness_command(*[arg.format(**values) for arg in args])
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("witness: ")
    assert problem in result.stderr


# --- A served witness ---------------------------------------------------------------------------------


def test_a_log_gets_cosignatures_and_the_state_survives_a_restart(serve, log, cosigner, tmp_path):
    first = serve()
    cosignature = ask(first.url, log, 0, 9, cosigner)
    assert (cosignature.name, cosignature.key_hash) == (NAME, cosigner.key_hash)
    assert abs(cosignature.timestamp - time.time()) < 60
    assert cosignatures_of(log.checkpoint(9) + cosignature.line + "\n", [cosigner]) == [cosignature]
    ask(first.url, log, 9, 15, cosigner)
    first.stop()

    second = serve()
    with pytest.raises(WitnessConflict) as conflict:
        ask(second.url, log, 0, 20, cosigner)
    assert conflict.value.size == 15
    assert "holds the log at size 15" in str(conflict.value)
    ask(second.url + "/", log, 15, 20, cosigner)

    lines = second.requests_logged()
    assert len(lines) == 4  # two requests each, to the same log file
    assert lines[-1].startswith("127.0.0.1 POST /add-checkpoint 200 cosigned log")
    assert " 409 " in lines[-2] and "holds size 15" in lines[-2]
    assert not any("PRIVATE" in line for line in lines)


def test_the_witness_answers_only_post_add_checkpoint_with_a_bounded_body(serve):
    witness = serve()
    host, port = witness.url.removeprefix("http://").split(":")

    def exchange(method, path, body=None, headers=None):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        answer = response.status, response.getheader("Allow"), response.read()
        connection.close()
        return answer

    assert exchange("GET", "/add-checkpoint")[:2] == (405, "POST")
    assert exchange("PUT", "/add-checkpoint", b"x")[0] == 405
    assert exchange("POST", "/add-checkpoint/more", b"x")[0] == 404
    assert exchange("GET", "/")[0] == 404
    assert exchange("POST", "/add-checkpoint", b"x" * (MAX_BODY_BYTES + 1))[0] == 413
    assert exchange("POST", "/add-checkpoint", b"old 0\n")[0] == 400

    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 411 ")


def test_a_client_that_stops_sending_its_body_is_cut_at_the_read_timeout(monkeypatch, log, tmp_path):
    """In process, to shorten the timeout: the body's deadline, not the client, ends the request."""
    monkeypatch.setattr(witness_server, "READ_TIMEOUT", 0.5)
    key = parse_cosigner_signer_key(generate_cosigner_key(NAME))
    witness = Witness(key, {}, WitnessState(tmp_path))
    server = witness_server.WitnessServer(("127.0.0.1", 0), witness)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=10) as sock:
            sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n")
            started = time.monotonic()
            answer = sock.recv(100)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_concurrent_submissions_never_roll_the_stored_size_back(serve, log, cosigner, tmp_path):
    """The spec's race, over two processes sharing one state directory: in each round, requests for sizes
    N and N+K all start from the held size H at once. Exactly one can win; every other one finds the size
    changed (409), and the size held afterwards is the winner's, never a smaller one."""
    witnesses = [serve(name="a.log"), serve(name="b.log")]
    held, threads_per_round = 0, 8
    cosigned = []
    for round_ in range(8):
        targets = [held + 3 if i % 2 else held + 7 for i in range(threads_per_round)]
        barrier = threading.Barrier(threads_per_round)
        outcomes = [None] * threads_per_round

        def submit(i, old=held, targets=targets, barrier=barrier, outcomes=outcomes):
            barrier.wait(timeout=30)
            try:
                outcomes[i] = ask(witnesses[i % 2].url, log, old, targets[i], cosigner, timeout=30)
            except (WitnessConflict, WitnessRefused, CouldNotCheck) as refusal:
                outcomes[i] = refusal

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        won = [targets[i] for i, outcome in enumerate(outcomes) if not isinstance(outcome, Exception)]
        assert len(won) == 1, (round_, outcomes)
        lost = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert all(isinstance(e, WitnessConflict) and e.size == won[0] for e in lost), lost
        with pytest.raises(WitnessConflict) as probe:
            ask(witnesses[round_ % 2].url, log, 0, 99, cosigner)
        assert probe.value.size == won[0] > held
        held = won[0]
        cosigned.append(held)

    root = merkle.tree_hash(held, log.read)
    for size in cosigned:
        proof = merkle.consistency_proof(size, held, log.read) if size < held else []
        merkle.verify_consistency(size, held, proof, merkle.tree_hash(size, log.read), root)


# --- The client facing hostile witnesses --------------------------------------------------------------


def cosignature_line(checkpoint_note, key, **kwargs):
    return cosign(split_note(checkpoint_note)[0], key, **kwargs) + "\n"


@pytest.fixture
def witness_key():
    return parse_cosigner_signer_key(generate_cosigner_key(NAME))


def refused_by(server, log, key, size=9):
    with server:
        started = time.monotonic()
        with pytest.raises((WitnessRefused, WitnessConflict, CouldNotCheck)) as caught:
            ask(server.base_url, log, 0, size, parse_cosigner_vkey(key.verifier_key), timeout=2)
        assert time.monotonic() - started < 5
    return caught.value


def test_a_200_of_garbage_is_refused(log, witness_key):
    refusal = refused_by(
        LiveServer(b"this is not a cosignature\n", content_type="text/plain"), log, witness_key
    )
    assert isinstance(refusal, WitnessRefused) and refusal.status == 200
    assert "without a valid cosignature" in str(refusal)


def test_a_cosignature_of_another_checkpoint_is_refused(log, witness_key):
    line = cosignature_line(log.checkpoint(8), witness_key)
    refusal = refused_by(LiveServer(line.encode(), content_type="text/plain"), log, witness_key)
    assert isinstance(refusal, WitnessRefused) and "does not verify" in str(refusal)


def test_a_bad_signature_is_refused(log, witness_key):
    line = cosignature_line(log.checkpoint(9), witness_key)
    name, encoded = line.removeprefix(SIGNATURE_PREFIX).split()
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    forged = f"{SIGNATURE_PREFIX}{name} {base64.b64encode(bytes(raw)).decode()}\n"
    refusal = refused_by(LiveServer(forged.encode(), content_type="text/plain"), log, witness_key)
    assert isinstance(refusal, WitnessRefused) and "does not verify" in str(refusal)


def test_a_cosignature_by_another_witness_only_is_refused(log, witness_key):
    other = parse_cosigner_signer_key(generate_cosigner_key(NAME))
    line = cosignature_line(log.checkpoint(9), other)
    refusal = refused_by(LiveServer(line.encode(), content_type="text/plain"), log, witness_key)
    assert isinstance(refusal, WitnessRefused) and "without a cosignature by its key" in str(refusal)


def test_a_cosignature_dated_in_the_future_is_refused(log, witness_key):
    line = cosignature_line(log.checkpoint(9), witness_key, timestamp=int(time.time()) + 86400)
    refusal = refused_by(LiveServer(line.encode(), content_type="text/plain"), log, witness_key)
    assert isinstance(refusal, WitnessRefused) and "in the future" in str(refusal)


def test_a_good_cosignature_among_other_lines_is_taken(log, witness_key):
    other = parse_cosigner_signer_key(generate_cosigner_key("witness.test/w2"))
    body = cosignature_line(log.checkpoint(9), other) + cosignature_line(log.checkpoint(9), witness_key)
    with LiveServer(body.encode(), content_type="text/plain") as server:
        found = ask(server.base_url, log, 0, 9, parse_cosigner_vkey(witness_key.verifier_key))
    assert found.line + "\n" == body.splitlines(keepends=True)[1]


@pytest.mark.parametrize(
    "server, kind, status_or_size",
    [
        (lambda: LiveServer(b"12\n", status=409, content_type="text/x.tlog.size"), WitnessConflict, 12),
        (lambda: LiveServer(b"fork\n", status=409, content_type="text/plain"), WitnessConflict, None),
        (lambda: LiveServer(b"012\n", status=409, content_type="text/x.tlog.size"), WitnessRefused, 409),
        (lambda: LiveServer(b"12", status=409, content_type="text/x.tlog.size"), WitnessRefused, 409),
        (lambda: ErrorServer(500), WitnessRefused, 500),
        (lambda: LiveServer(b"unknown log\n", status=404, content_type="text/plain"), WitnessRefused, 404),
        (lambda: RedirectToServer("http://127.0.0.1:1/add-checkpoint"), WitnessRefused, 302),
    ],
)
def test_each_refusal_is_told_apart(log, witness_key, server, kind, status_or_size):
    refusal = refused_by(server(), log, witness_key)
    assert type(refusal) is kind
    assert (refusal.size if kind is WitnessConflict else refusal.status) == status_or_size


@pytest.mark.parametrize(
    "server, reason",
    [
        (SilentServer, Reason.TIMEOUT),
        (lambda: DribbleServer(interval=0.2), Reason.TIMEOUT),
        (lambda: HugeServer(size=10 * 1024 * 1024), Reason.TOO_LARGE),
    ],
)
def test_a_witness_that_hangs_dribbles_or_floods_cannot_hold_the_client(log, witness_key, server, reason):
    refusal = refused_by(server(), log, witness_key)
    assert isinstance(refusal, CouldNotCheck) and refusal.reason == reason


def test_a_loopback_witness_is_refused_unless_private_addresses_are_allowed(log, witness_key):
    cosigner = parse_cosigner_vkey(witness_key.verifier_key)
    with LiveServer(
        cosignature_line(log.checkpoint(9), witness_key).encode(), content_type="text/plain"
    ) as server:
        with pytest.raises(CouldNotCheck) as refused:
            request_cosignature(server.base_url, log.checkpoint(9), 0, [], cosigner)
        assert refused.value.reason == Reason.FORBIDDEN_ADDRESS
        assert server.request_count == 0


def test_a_witness_that_is_not_there_could_not_be_checked(log, witness_key):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CouldNotCheck) as caught:
        ask(f"http://127.0.0.1:{port}", log, 0, 9, parse_cosigner_vkey(witness_key.verifier_key))
    assert caught.value.reason == Reason.UNREACHABLE


def test_the_trusted_log_keys_are_the_ones_given(serve, log, cosigner, tmp_path):
    """A checkpoint of the same origin under another key is refused by the served witness (403)."""
    witness = serve()
    impostor = MemoryLog()
    for i in range(9):
        impostor.append({"v": 1, "type": "note", "n": i})
    assert parse_verifier_key(impostor.verifier_key).name == parse_verifier_key(log.verifier_key).name
    with pytest.raises(WitnessRefused) as refused:
        ask(witness.url, impostor, 0, 9, cosigner)
    assert refused.value.status == 403

"""Two real witnesses (``python -m verifier witness serve``, each its own process with its own key) cosign
the portal's checkpoints; the portal serves both cosignatures at ``/log/checkpoint``, and a release's proof
bundle downloaded from the API passes ``python -m verifier verify --witness-key W1 --witness-key W2
--min-witnesses 2``, and fails with a cosignature removed or forged.

Also: a witness restarted with an empty state is followed from size 0; a witness that holds a checkpoint of
this log larger than the log's (signed with the log's key, as a leaked key or a split view would) is
reported and never followed; and a witness that hangs delays neither an append nor an integration.
"""

import base64
import json
import os
import selectors
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from portal.transparency import services, tasks
from portal.transparency.models import Cosignature, LogEntry, Witness
from portal.transparency.signing import load_signing_key, verifier_key
from portal.transparency.witnesses import add_witness, cosign_latest, cosigned_note
from tests.portal import factories
from tests.portal.witnesses import ScriptedWitness
from verifier.cosignature import cosignatures_of, parse_cosigner_vkey
from verifier.entries import entry_body
from verifier.note import SIGNATURE_PREFIX, format_checkpoint, sign_note, split_note
from verifier.witness import request_cosignature

ROOT = Path(__file__).resolve().parents[2]
W1, W2 = "witness-one.example/w", "witness-two.example/w"

pytestmark = pytest.mark.django_db(transaction=True)


def verifier(*argv):
    """``python -m verifier ARGV`` as a separate process; ``(exit code, stdout + stderr)``."""
    result = subprocess.run(
        [sys.executable, "-m", "verifier", *map(str, argv)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


class WitnessProcess:
    """A witness: its key made with ``witness init``, served by ``witness serve`` on a free port, following
    this portal's log; ``start`` and ``stop`` as often as a test likes, keeping its state directory."""

    def __init__(self, name, directory):
        self.name = name
        self.directory = directory
        self.key_file = directory / "witness.key"
        self.state = directory / "state"
        self.state.mkdir(parents=True)
        code, out = verifier("witness", "init", "--name", name, "--key-file", self.key_file)
        assert code == 0, out
        self.verifier_key = out.strip().splitlines()[-1]
        assert self.verifier_key.startswith(name + "+")
        self.process = None

    def start(self):
        self.stderr = open(self.directory / "requests.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "verifier", "witness", "serve", "--key-file", str(self.key_file),
             "--log", verifier_key(), "--state", str(self.state), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.stderr, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                self.stop()
                raise AssertionError(f"witness {self.name} did not say it was listening within 30 s")
        line = self.process.stdout.readline().decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.url = line.split()[-1] + "/"
        return self

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process.stdout.close()
            self.stderr.close()
            self.process = None


@pytest.fixture
def witness_processes(tmp_path, log_key_file):
    started = []

    def make(name):
        witness = WitnessProcess(name, tmp_path / name.split(".")[0]).start()
        started.append(witness)
        return witness

    yield make
    for witness in started:
        witness.stop()


def append_and_integrate(n=1):
    """Append ``n`` entries in one transaction, then integrate them; the new checkpoint."""
    with transaction.atomic():
        for _ in range(n):
            body = entry_body("note", {
                "project": "demo", "environment": None, "note_id": 0, "kind": "info", "text": "x",
                "starts_at": timezone.now(), "ends_at": None,
            })  # fmt: skip
            services.append_entry("note", body)
    return services.integrate()


def cosigners(*witnesses):
    return [parse_cosigner_vkey(w.verifier_key) for w in witnesses]


def test_two_witness_processes_cosign_and_the_bundle_needs_both(client, witness_processes, tmp_path):
    one, two = witness_processes(W1), witness_processes(W2)
    for witness in (one, two):
        add_witness(witness.name, witness.verifier_key, witness.url)
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    latest = services.integrate()

    assert tasks.witness() == 2
    served = client.get("/log/checkpoint").content.decode()
    assert [c.name for c in cosignatures_of(served, cosigners(one, two))] == [W1, W2]
    assert served == cosigned_note(latest)

    response = client.get(f"/api/v1/releases/{release.pk}/bundle")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["log"]["tree_size"] == latest.size and bundle["log"]["checkpoint"] == served
    log_key = tmp_path / "log.vkey"
    log_key.write_text(verifier_key())

    def verify(checkpoint, min_witnesses):
        path = tmp_path / "release.bundle.json"
        path.write_text(json.dumps(dict(bundle, log={**bundle["log"], "checkpoint": checkpoint})))
        return verifier(
            "verify", path, "--log-key", log_key, "--no-state", "--min-witnesses", min_witnesses,
            "--witness-key", one.verifier_key, "--witness-key", two.verifier_key,
        )  # fmt: skip

    code, out = verify(served, 2)
    assert code == 0 and "cosigned by 2 of the 2 witnesses given" in out, out
    text, (log_line, line_one, line_two) = split_note(served)
    code, out = verify(f"{text}\n{log_line}\n{line_one}\n", 2)
    assert code == 1 and W2 in out, out
    name, _, encoded = line_two.removeprefix(SIGNATURE_PREFIX).partition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1  # one bit of the signature
    code, out = verify(
        served.replace(line_two, f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode()}"), 1
    )
    assert code == 1 and "does not verify" in out, out


def test_a_witness_restarted_with_an_empty_state_is_followed_from_size_zero(witness_processes):
    one = witness_processes(W1)
    witness = add_witness(one.name, one.verifier_key, one.url)
    first = append_and_integrate(2)
    assert cosign_latest(witness, timeout=5).checkpoint == first
    one.stop()
    shutil.rmtree(one.state)
    one.state.mkdir()
    one.start()
    Witness.objects.filter(pk=witness.pk).update(url=one.url)  # a new port
    second = append_and_integrate(3)
    assert cosign_latest(Witness.objects.get(), timeout=5).checkpoint == second
    witness.refresh_from_db()
    assert witness.known_size == second.size and witness.failures == 0
    requests = (one.directory / "requests.log").read_text()
    assert "409" in requests  # it said "0" first, and was asked again at once from 0


def test_a_witness_holding_a_larger_checkpoint_of_this_log_is_reported_not_followed(witness_processes):
    latest = append_and_integrate(2)
    ahead = witness_processes(W1)
    # Someone with the log's key shows this witness a longer history (a split view); it cosigns from 0.
    origin = "vitrina.example/log"
    fork = sign_note(format_checkpoint(origin, latest.size + 10, os.urandom(32)), origin, load_signing_key())
    request_cosignature(ahead.url, fork, 0, [], cosigners(ahead)[0], timeout=5, allow_private=True)
    witness = add_witness(ahead.name, ahead.verifier_key, ahead.url)
    assert cosign_latest(witness, timeout=5) is None
    witness.refresh_from_db()
    assert f"size {latest.size + 10}" in witness.last_error and "fork" in witness.last_error
    assert witness.known_size is None and witness.failures == 1
    assert not Cosignature.objects.exists() and cosigned_note(latest) == latest.note


def test_a_hanging_witness_delays_no_append_or_integration(settings):
    settings.VITRINA_WITNESS_TIMEOUT = 20.0
    append_and_integrate(1)
    asked = threading.Event()
    with ScriptedWitness("hangs.example/w", lambda request: asked.set()) as hangs:
        add_witness(hangs.name, hangs.verifier_key, hangs.url)
        append_and_integrate(1)
        asking = threading.Thread(target=tasks.witness)
        asking.start()
        assert asked.wait(timeout=10)  # the task is now waiting on the witness, which never answers
        started = time.monotonic()
        latest = append_and_integrate(5)
        elapsed = time.monotonic() - started
        assert asking.is_alive()
    asking.join(timeout=30)
    assert elapsed < 2.0, f"append and integrate took {elapsed:.1f} s while a witness hung"
    assert LogEntry.objects.count() == latest.size

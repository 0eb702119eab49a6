"""Witnesses, the service's rules: registering and removing one is logged with its row; the portal asks
for cosignatures from the size each witness holds, follows a witness that lost its state, reports (never
follows) one that holds more than the log or another root, backs off a failing one, and never stores
anything a witness says that does not verify. Witnesses are real HTTP servers on 127.0.0.1: the
verifier's own witness, or scripted hostile ones."""

import base64
import datetime
import logging
import os
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from portal.transparency import services, witnesses
from portal.transparency.models import Cosignature, LogEntry, Witness
from portal.transparency.signing import verifier_key
from portal.transparency.witnesses import (
    Refused,
    add_witness,
    checkpoint_for_bundle,
    cosign_latest,
    cosigned_note,
    remove_witness,
)
from tests.portal import factories
from tests.portal.witnesses import HonestWitness, ScriptedWitness, make_witness_key
from verifier.bundle import parse_bundle, verify_bundle
from verifier.cosignature import Cosignature as VerifiedCosignature
from verifier.cosignature import cosign, cosignatures_of, parse_cosigner_vkey
from verifier.entries import parse_entry
from verifier.note import split_note, verify_checkpoint
from verifier.witness import SIZE_CONTENT_TYPE

pytestmark = pytest.mark.django_db

TIMEOUT = 2.0
W1, W2 = "witness.example/w1", "witness.example/w2"


@pytest.fixture(autouse=True)
def log(log_key_file):
    """A log with one integrated entry."""
    grow(1)


def grow(entries=1):
    """Append ``entries`` entries (signing keys of a new project) and integrate them; the new checkpoint."""
    project = factories.make_project()
    for _ in range(entries):
        factories.make_key(project)
    return services.integrate()


def register(server):
    return add_witness(server.name, server.verifier_key, server.url)


def reload(witness):
    witness.refresh_from_db()
    return witness


def ready(witness):
    """Let a backing-off witness be asked again now."""
    Witness.objects.filter(pk=witness.pk).update(retry_at=None)
    return reload(witness)


def refuse_with(status, body=b"no\n", content_type="text/plain"):
    return lambda request: (status, body, content_type)


# --- Registering ---------------------------------------------------------------------------------


def test_adding_a_witness_writes_its_row_and_its_entry_together():
    key = make_witness_key(W1)
    operator = User.objects.create_user("ada")
    witness = add_witness(f" {W1} ", key.verifier_key, "https://witness.example/w1/", user=operator)
    body = parse_entry(bytes(services.entry_for("witness_added", witness.pk).entry))
    assert body["name"] == W1 and body["verifier_key"] == key.verifier_key
    assert body["url"] == "https://witness.example/w1/"
    assert body["by"] == {"kind": "operator", "name": "ada"}
    assert witnesses.witness_added_entry_body(witness).items() <= body.items()


@pytest.mark.parametrize(
    ("name", "url", "field", "words"),
    [
        ("witness.example/other", "https://w.example/", "name", "not the name in the verifier key"),
        (W1, "ftp://w.example/", "url", "not an http or https URL"),
        (W1, "https://w.example/?a=1", "url", "query"),
        (W1, "", "url", "not an http or https URL"),
    ],
)
def test_a_witness_named_otherwise_than_its_key_or_without_an_http_url_is_refused(name, url, field, words):
    with pytest.raises(Refused) as refused:
        add_witness(name, make_witness_key(W1).verifier_key, url)
    assert refused.value.field == field and words in refused.value.message
    assert not Witness.objects.exists() and services.entry_for("witness_added", None) is None


@pytest.mark.parametrize(
    ("vkey", "words"),
    [
        (None, "signature type 0x04"),  # the log's own key: an Ed25519 signed-note key, type 0x01
        (W1 + "+00000000+BAAA", "32-byte"),
        ("not a key", "not of the form"),
    ],
)
def test_a_key_that_is_not_a_cosignature_v1_key_is_refused(vkey, words):
    with pytest.raises(Refused, match=words) as refused:
        add_witness(W1, vkey or verifier_key(), "https://w.example/")
    assert refused.value.field == "verifier_key"
    assert not Witness.objects.exists()


def test_a_name_or_key_already_registered_is_refused_even_after_removal():
    first = make_witness_key(W1)
    remove_witness(add_witness(W1, first.verifier_key, "https://w.example/"))
    with pytest.raises(Refused, match="already a witness named") as refused:
        add_witness(W1, first.verifier_key, "https://w.example/")
    assert refused.value.status == 409
    assert Witness.objects.count() == 1


def test_removing_a_witness_is_logged_once_and_keeps_its_cosignatures(tmp_path):
    with HonestWitness(W1, tmp_path) as server:
        witness = register(server)
        cosignature = cosign_latest(witness, timeout=TIMEOUT)
        removed = remove_witness(witness)
        assert removed.removed_at is not None
        assert remove_witness(removed).removed_at == removed.removed_at
        grow(1)
        assert cosign_latest(removed, timeout=TIMEOUT) is None
        assert len(server.requests) == 1
    services.integrate()
    [entry] = LogEntry.objects.filter(kind="witness_removed", object_id=witness.pk)
    body = parse_entry(bytes(entry.entry))
    assert body["name"] == W1 and body["by"] == {"kind": "system", "name": "vitrina"}
    assert list(Cosignature.objects.all()) == [cosignature]


# --- Asking for cosignatures ---------------------------------------------------------------------


def test_an_honest_witness_cosigns_each_new_checkpoint_from_the_size_it_holds(tmp_path):
    with HonestWitness(W1, tmp_path) as server:
        witness = register(server)
        first = grow(2)
        cosignature = cosign_latest(witness, timeout=TIMEOUT)
        assert cosignature.checkpoint == first and cosignature.witness == witness
        assert cosign_latest(witness, timeout=TIMEOUT) is None  # already cosigned: not asked again
        second = grow(3)
        assert cosign_latest(witness, timeout=TIMEOUT).checkpoint == second
    assert server.old_sizes == [0, first.size]
    assert [len(request.proof) for request in server.requests][1] > 0
    witness = reload(witness)
    assert (witness.known_size, witness.failures, witness.retry_at, witness.last_error) == (
        second.size,
        0,
        None,
        "",
    )
    cosigner = parse_cosigner_vkey(witness.verifier_key)
    for checkpoint in (first, second):
        note = cosigned_note(checkpoint)
        assert verify_checkpoint(note, verifier_key(), origin="vitrina.example/log").size == checkpoint.size
        assert [c.name for c in cosignatures_of(note, [cosigner])] == [W1]


def test_a_witness_that_lost_its_state_is_asked_again_at_once_from_the_size_it_says(tmp_path):
    with HonestWitness(W1, tmp_path / "state") as server:
        witness = register(server)
        held = cosign_latest(witness, timeout=TIMEOUT).checkpoint.size
        for path in (tmp_path / "state").iterdir():
            path.unlink()
        server.restart()
        latest = grow(2)
        assert cosign_latest(witness, timeout=TIMEOUT).checkpoint == latest
    assert server.old_sizes == [0, held, 0]  # a 409 "0", then from 0 at once
    assert reload(witness).known_size == latest.size


def test_a_witness_holding_more_than_the_log_is_reported_and_not_followed(caplog):
    latest = services.latest_checkpoint()
    ahead = latest.size + 5
    with ScriptedWitness(W1, refuse_with(409, f"{ahead}\n".encode(), SIZE_CONTENT_TYPE)) as server:
        witness = register(server)
        with caplog.at_level(logging.WARNING, logger="portal.transparency.witnesses"):
            assert cosign_latest(witness, timeout=TIMEOUT) is None
    assert len(server.requests) == 1  # not asked again from its size
    witness = reload(witness)
    assert witness.known_size is None and not Cosignature.objects.exists()
    assert f"size {ahead}" in witness.last_error and f"(size {latest.size})" in witness.last_error
    assert "fork" in witness.last_error and witness.failures == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"witness size {ahead}, log size {latest.size}" in warning.getMessage()


def test_a_witness_holding_another_root_at_the_same_size_is_reported_as_a_fork(caplog):
    with ScriptedWitness(W1, refuse_with(409, b"another root\n")) as server:
        witness = register(server)
        with caplog.at_level(logging.WARNING, logger="portal.transparency.witnesses"):
            assert cosign_latest(witness, timeout=TIMEOUT) is None
    assert "another checkpoint of the same size" in reload(witness).last_error
    assert not Cosignature.objects.exists()
    assert any("fork" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def forged_by(key):
    """A script answering with a line that names ``key`` but whose signature is noise."""

    def answer(request):
        raw = key.key_hash + int(time.time()).to_bytes(8, "big") + os.urandom(64)
        return 200, f"\N{EM DASH} {key.name} {base64.b64encode(raw).decode()}\n".encode(), "text/plain"

    return answer


def cosignature_by(key, text=None):
    """A script answering with ``key``'s cosignature of the request's checkpoint (or of ``text``)."""

    def answer(request):
        line = cosign(text or split_note(request.note)[0], key)
        return 200, f"{line}\n".encode(), "text/plain; charset=utf-8"

    return answer


def other_checkpoint():
    return f"vitrina.example/log\n99\n{'A' * 43}=\n"


@pytest.mark.parametrize(
    ("script", "words"),
    [
        (lambda key: refuse_with(200, b"\x00\xff garbage"), "not UTF-8"),
        (lambda key: refuse_with(200, b"\xe2\x80\x94 " + key.name.encode() + b" AAAA\n"), "cosignature"),
        (forged_by, "does not verify"),
        (lambda key: cosignature_by(make_witness_key(key.name)), "without a cosignature by its key"),
        (lambda key: cosignature_by(make_witness_key("someone.else/w")), "without a cosignature by its key"),
        (lambda key: cosignature_by(key, other_checkpoint()), "does not verify"),
        (lambda key: refuse_with(500, b"disk full\n"), "HTTP 500"),
        (lambda key: refuse_with(404, b"unknown log\n"), "HTTP 404"),
        (lambda key: refuse_with(409, b"12x\n", SIZE_CONTENT_TYPE), "malformed size"),
    ],
    ids=[
        "garbage",
        "bad-line",
        "forged",
        "same-name",
        "foreign",
        "other-checkpoint",
        "500",
        "404",
        "409-bad",
    ],
)
def test_a_hostile_witness_gets_nothing_stored_and_its_error_recorded(script, words):
    server = ScriptedWitness(W1, None)
    server.script = script(server.key)
    with server:
        witness = register(server)
        before = timezone.now()
        assert cosign_latest(witness, timeout=TIMEOUT) is None
    witness = reload(witness)
    assert not Cosignature.objects.exists()
    assert words in witness.last_error, witness.last_error
    assert witness.failures == 1 and witness.retry_at >= before + datetime.timedelta(seconds=2)
    assert "\n" not in witness.last_error and witness.last_error.endswith(".")


def test_a_hanging_witness_is_given_up_after_the_timeout():
    with ScriptedWitness(W1, lambda request: None) as server:
        witness = register(server)
        started = time.monotonic()
        assert cosign_latest(witness, timeout=0.5) is None
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert reload(witness).failures == 1 and not Cosignature.objects.exists()


def test_a_failing_witness_backs_off_doubling_up_to_ten_minutes_and_a_success_resets_it(tmp_path):
    failing = ScriptedWitness(W1, refuse_with(503, b"busy\n"))
    with failing:
        witness = register(failing)
        delays = []
        for _ in range(11):
            before = timezone.now()
            cosign_latest(witness, timeout=TIMEOUT)
            witness = reload(witness)
            delays.append(round((witness.retry_at - before).total_seconds()))
            assert cosign_latest(witness, timeout=TIMEOUT) is None  # backing off: not asked
            witness = ready(witness)
        assert len(failing.requests) == 11
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert witness.failures == 11
    with HonestWitness(W1, tmp_path) as honest:
        honest.key = failing.key
        honest.restart()
        Witness.objects.filter(pk=witness.pk).update(url=honest.url)
        assert cosign_latest(reload(witness), timeout=TIMEOUT) is not None
    witness = reload(witness)
    assert (witness.failures, witness.retry_at, witness.last_error) == (0, None, "")


@pytest.mark.django_db(transaction=True)
def test_the_witness_task_asks_every_due_witness_at_once_and_a_hanging_one_delays_no_other(
    tmp_path, settings
):
    from portal.transparency import tasks

    settings.VITRINA_WITNESS_TIMEOUT = 1.0
    with (
        HonestWitness(W1, tmp_path / "1") as one,
        HonestWitness(W2, tmp_path / "2") as two,
        ScriptedWitness("witness.example/hangs", lambda request: None) as hangs,
    ):
        for server in (one, two, hangs):
            register(server)
        latest = grow(1)
        started = time.monotonic()
        assert tasks.witness() == 2
        elapsed = time.monotonic() - started
        assert tasks.witness() == 0  # idempotent: the two cosigned, the third is backing off
    assert elapsed < 1.0 + 1.5
    assert set(Cosignature.objects.filter(checkpoint=latest).values_list("witness__name", flat=True)) == {
        W1,
        W2,
    }


# --- Serving ---------------------------------------------------------------------------------------


def cosign_directly(checkpoint, witness, key):
    """Store a real cosignature of ``checkpoint`` by ``key`` (as ``cosign_latest`` would after a witness
    answered), for the rules that read them."""
    line = cosign(split_note(checkpoint.note)[0], key)
    return Cosignature.objects.create(
        checkpoint=checkpoint, witness=witness, timestamp=int(time.time()), line=line
    )


def registered(name):
    key = make_witness_key(name)
    return add_witness(name, key.verifier_key, f"https://{name}/"), key


def test_a_cosigned_note_is_the_logs_note_with_every_stored_cosignature_line():
    (w1, k1), (w2, k2) = registered(W1), registered(W2)
    checkpoint = grow(1)
    assert cosigned_note(checkpoint) == checkpoint.note
    cosign_directly(checkpoint, w1, k1)
    cosign_directly(checkpoint, w2, k2)
    remove_witness(w2)
    note = cosigned_note(checkpoint)
    assert note.startswith(checkpoint.note) and len(split_note(note)[1]) == 3
    cosigners = [parse_cosigner_vkey(w.verifier_key) for w in (w1, w2)]
    assert [c.name for c in cosignatures_of(note, cosigners)] == [W1, W2]


def test_a_bundle_carries_the_newest_checkpoint_with_the_most_active_witnesses_covering_its_entry():
    (w1, k1), (w2, k2), (w3, k3) = registered(W1), registered(W2), registered("witness.example/w3")
    old = grow(1)
    entry = old.size - 1
    both = grow(1)
    newer_one = grow(1)
    latest = grow(1)
    assert checkpoint_for_bundle(entry) == latest  # none cosigned: the latest
    cosign_directly(old, w1, k1)
    cosign_directly(old, w2, k2)
    cosign_directly(both, w1, k1)
    cosign_directly(both, w2, k2)
    cosign_directly(newer_one, w1, k1)
    assert checkpoint_for_bundle(entry) == both  # two, and newer than the other with two
    assert checkpoint_for_bundle(both.size) == newer_one  # the entry after ``both`` is not covered by it
    remove_witness(w2)
    assert checkpoint_for_bundle(entry) == newer_one  # a removed witness does not count
    cosign_directly(latest, w3, k3)
    cosign_directly(latest, w1, k1)
    assert checkpoint_for_bundle(entry) == latest
    assert checkpoint_for_bundle(latest.size) is None  # nothing covers an entry not yet integrated


def test_the_checkpoint_url_the_log_api_and_the_log_page_serve_the_cosigned_checkpoint(client):
    (w1, k1), (w2, _) = registered(W1), registered(W2)
    latest = grow(1)
    cosign_directly(latest, w1, k1)
    served = client.get("/log/checkpoint").content.decode()
    assert served == cosigned_note(latest) != latest.note
    info = client.get("/api/v1/log/").json()
    assert info["checkpoint"] == served and info["tree_size"] == latest.size
    assert info["witnesses"] == [
        {"name": w.name, "verifier_key": w.verifier_key, "url": w.url} for w in (w1, w2)
    ]
    page = client.get("/log/").content.decode()
    assert split_note(served)[1][1] in page  # the cosignature line, under the latest checkpoint
    assert f"cosigned size {latest.size} at" in page
    assert "has not cosigned the latest checkpoint yet" in page
    assert witnesses.key_id(w2) in page


def test_a_proof_bundle_carries_the_most_cosigned_checkpoint_and_its_proof_for_that_size(client):
    (w1, k1), (w2, k2) = registered(W1), registered(W2)
    project = factories.make_project("demo")
    note = factories.make_note(project)
    cosigned = grow(1)
    cosign_directly(cosigned, w1, k1)
    cosign_directly(cosigned, w2, k2)
    latest = grow(2)
    response = client.get(f"/api/v1/notes/{note.pk}/bundle")
    log = response.json()["log"]
    assert log["tree_size"] == cosigned.size < latest.size
    assert log["checkpoint"] == cosigned_note(cosigned)
    results = verify_bundle(parse_bundle(response.content), log_key=verifier_key())
    assert [r for r in results if r.status not in ("pass", "skip")] == []
    assert {"note checkpoint", "note inclusion"} <= {r.name for r in results if r.status == "pass"}


def test_a_bundle_looks_for_cosignatures_among_the_newest_checkpoints_only(monkeypatch):
    (w1, k1) = registered(W1)
    cosigned = grow(1)
    cosign_directly(cosigned, w1, k1)
    newer, latest = grow(1), grow(1)
    assert checkpoint_for_bundle(0) == cosigned
    monkeypatch.setattr(witnesses, "BUNDLE_CHECKPOINT_WINDOW", 2)
    assert checkpoint_for_bundle(0) == latest  # ``cosigned`` is the third newest: not looked at
    cosign_directly(newer, w1, k1)
    assert checkpoint_for_bundle(0) == newer


def test_nothing_that_does_not_verify_is_stored_whatever_the_client_returned(monkeypatch):
    (witness, key) = registered(W1)
    latest = services.latest_checkpoint()
    line = cosign(other_checkpoint(), key)  # the witness's key, over another checkpoint
    returned = VerifiedCosignature(key.name, key.key_hash, int(time.time()), line)
    monkeypatch.setattr(witnesses, "request_cosignature", lambda *args, **kwargs: returned)
    assert cosign_latest(witness, timeout=TIMEOUT) is None
    assert not Cosignature.objects.exists() and cosigned_note(latest) == latest.note
    assert "does not verify" in reload(witness).last_error

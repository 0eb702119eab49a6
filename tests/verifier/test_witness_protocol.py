"""C2SP tlog-witness ``add-checkpoint``, in process: the body's format, and every answer of ``Witness``."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.verifier.test_bundle import ORIGIN, MemoryLog
from verifier import merkle, note
from verifier.cosignature import (
    cosignatures_of,
    generate_cosigner_key,
    parse_cosigner_signer_key,
    parse_cosigner_vkey,
)
from verifier.errors import FormatError
from verifier.witness import (
    MAX_BODY_BYTES,
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessState,
    format_add_checkpoint,
    parse_add_checkpoint,
)

NOW = 1_800_000_000


@pytest.fixture
def log():
    memory = MemoryLog()
    for i in range(20):
        memory.append({"v": 1, "type": "note", "n": i})
    return memory


@pytest.fixture
def key():
    return parse_cosigner_signer_key(generate_cosigner_key("witness.test/w1"))


@pytest.fixture
def witness(log, key, tmp_path):
    logs = {ORIGIN: [note.parse_verifier_key(log.verifier_key)]}
    return Witness(key, logs, WitnessState(tmp_path), clock=lambda: NOW)


def body(log, old, size, proof=None):
    if proof is None:
        proof = merkle.consistency_proof(old, size, log.read) if 0 < old < size else []
    return format_add_checkpoint(old, proof, log.checkpoint(size))


# --- The body -----------------------------------------------------------------------------------------


def test_the_body_is_the_old_size_the_proof_an_empty_line_and_the_note(log):
    proof = merkle.consistency_proof(5, 9, log.read)
    checkpoint = log.checkpoint(9)
    data = format_add_checkpoint(5, proof, checkpoint)

    hashes = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    assert data == f"old 5\n{hashes}\n{checkpoint}".encode()
    parsed = parse_add_checkpoint(data)
    assert (parsed.old_size, parsed.proof, parsed.note) == (5, tuple(proof), checkpoint)
    assert (parsed.checkpoint.origin, parsed.checkpoint.size) == (ORIGIN, 9)


def test_an_empty_proof_leaves_just_the_empty_line(log):
    assert format_add_checkpoint(0, [], log.checkpoint(3)).startswith(b"old 0\n\n" + ORIGIN.encode())


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda b: b"x" * (MAX_BODY_BYTES + 1), "larger than"),
        (lambda b: b"\xff" + b, "not UTF-8"),
        (lambda b: b.replace(b"old 5", b"old  5"), "not a decimal"),
        (lambda b: b.replace(b"old 5", b"old 05"), "without leading zeros"),
        (lambda b: b.replace(b"old 5", b"old -5"), "not a decimal"),
        (lambda b: b.replace(b"old 5", b"old 99999999999999999999"), "not a decimal"),
        (lambda b: b.replace(b"old 5", b"new 5"), "'old <size>'"),
        (lambda b: b"old 5", "'old <size>'"),
        (lambda b: b.replace(b"=\n", b"\n", 1), "not base64"),
        (lambda b: b.replace(b"\n", b"\nAAAA\n", 1), "32-byte hash"),
        (lambda b: b.split(b"\n\n", 1)[0], "no empty line"),
        (lambda b: b.rsplit(b"\n\n", 1)[0] + b"\n", "blank line"),
        (lambda b: b.replace(ORIGIN.encode() + b"\n9", ORIGIN.encode() + b"\nnine"), "tree size"),
    ],
)
def test_a_malformed_body_is_refused_saying_what_is_wrong(log, damage, problem):
    data = format_add_checkpoint(5, merkle.consistency_proof(5, 9, log.read), log.checkpoint(9))
    with pytest.raises(FormatError, match=problem):
        parse_add_checkpoint(damage(data))


def test_a_proof_of_more_than_63_lines_is_refused_both_ways(log):
    hashes = [bytes([i]) * 32 for i in range(MAX_PROOF_LINES + 1)]
    with pytest.raises(FormatError, match="at most 63"):
        format_add_checkpoint(1, hashes, log.checkpoint(9))
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in hashes)
    with pytest.raises(FormatError, match="more than 63"):
        parse_add_checkpoint(f"old 1\n{lines}\n{log.checkpoint(9)}".encode())
    assert len(parse_add_checkpoint(format_add_checkpoint(1, hashes[:63], log.checkpoint(9))).proof) == 63


def test_a_non_canonical_base64_hash_is_refused(log):
    good = base64.b64encode(b"\x01" * 32).decode()
    loose = good[:-2] + chr(ord(good[-2]) + 1) + "="  # other padding bits, same bytes
    assert base64.b64decode(loose) == b"\x01" * 32
    with pytest.raises(FormatError, match="canonical"):
        parse_add_checkpoint(f"old 1\n{loose}\n\n{log.checkpoint(9)}".encode())


# --- The witness's answers ----------------------------------------------------------------------------


def test_the_first_checkpoint_is_cosigned_from_old_size_0_and_its_cosignature_verifies(witness, log, key):
    answer = witness.add_checkpoint(body(log, 0, 7))

    assert (answer.status, answer.content_type) == (200, "text/plain; charset=utf-8")
    lines = answer.body.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("\N{EM DASH} witness.test/w1 ")
    cosigned = log.checkpoint(7) + answer.body.decode()
    (found,) = cosignatures_of(cosigned, [parse_cosigner_vkey(key.verifier_key)], now=NOW)
    assert found.timestamp == NOW
    assert "cosigned" in answer.detail and "7" in answer.detail


def test_a_checkpoint_extending_the_held_one_with_a_good_proof_is_cosigned(witness, log):
    assert witness.add_checkpoint(body(log, 0, 7)).status == 200
    assert witness.add_checkpoint(body(log, 7, 13)).status == 200
    assert witness.add_checkpoint(body(log, 13, 20)).status == 200
    assert witness.state.latest(ORIGIN).size == 20


def test_an_unknown_origin_is_404(witness, log):
    other = note.sign_note(
        note.format_checkpoint("other.test/log", 3, b"\x01" * 32), "other.test/log", log.key
    )
    answer = witness.add_checkpoint(format_add_checkpoint(0, [], other))
    assert answer.status == 404
    assert answer.content_type.startswith("text/plain")


def test_a_checkpoint_signed_by_no_trusted_key_is_403_and_unknown_signatures_are_ignored(witness, log):
    text = note.format_checkpoint(ORIGIN, 7, merkle.tree_hash(7, log.read))
    impostor = note.sign_note(text, ORIGIN, Ed25519PrivateKey.generate())
    assert witness.add_checkpoint(format_add_checkpoint(0, [], impostor)).status == 403

    # The log's signature among unknown ones (an impostor's, another log's) is what counts.
    both = log.checkpoint(7) + impostor.rsplit("\n\n", 1)[1]
    assert witness.add_checkpoint(format_add_checkpoint(0, [], both)).status == 200


def test_an_old_size_larger_than_the_checkpoint_is_400(witness, log):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    answer = witness.add_checkpoint(format_add_checkpoint(12, [], log.checkpoint(9)))
    assert answer.status == 400
    assert b"larger than the checkpoint's size 9" in answer.body


def test_a_malformed_body_is_400(witness):
    assert witness.add_checkpoint(b"hello\n").status == 400


def test_an_old_size_other_than_the_held_one_is_409_naming_the_held_size(witness, log):
    answer = witness.add_checkpoint(body(log, 4, 9))
    assert (answer.status, answer.content_type, answer.body) == (409, SIZE_CONTENT_TYPE, b"0\n")

    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    for old in (0, 4, 12):
        answer = witness.add_checkpoint(body(log, old, 15))
        assert (answer.status, answer.content_type, answer.body) == (409, SIZE_CONTENT_TYPE, b"9\n")
    assert witness.state.latest(ORIGIN).size == 9


def test_a_proof_from_old_size_0_must_be_empty(witness, log):
    answer = witness.add_checkpoint(format_add_checkpoint(0, [b"\x00" * 32], log.checkpoint(9)))
    assert answer.status == 422
    assert witness.state.latest(ORIGIN) is None


def test_a_consistency_proof_that_does_not_verify_is_422_and_nothing_is_stored(witness, log):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    proof = merkle.consistency_proof(9, 15, log.read)
    for bad in ([], proof[:-1], [proof[0], b"\x00" * 32, *proof[2:]], proof + [b"\x00" * 32]):
        assert witness.add_checkpoint(body(log, 9, 15, proof=bad)).status == 422
    assert witness.state.latest(ORIGIN).size == 9


def test_a_fork_is_refused_even_with_a_proof_that_verifies_for_the_forked_tree(witness, log, key):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    fork = MemoryLog()
    fork.key = log.key  # the same log key signing another history
    for i in range(15):
        fork.append({"v": 1, "type": "note", "n": i, "forked": True})
    answer = witness.add_checkpoint(body(fork, 9, 15))
    assert answer.status == 422
    assert witness.state.latest(ORIGIN).size == 9


def test_the_same_size_with_another_root_is_409_without_a_size_a_fork(witness, log):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    forged = note.sign_note(note.format_checkpoint(ORIGIN, 9, b"\x66" * 32), ORIGIN, log.key)
    answer = witness.add_checkpoint(format_add_checkpoint(9, [], forged))
    assert answer.status == 409
    assert answer.content_type != SIZE_CONTENT_TYPE
    assert b"fork" in answer.body
    assert witness.state.latest(ORIGIN).root == merkle.tree_hash(9, log.read)


def test_the_same_checkpoint_again_is_cosigned_again(witness, log):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    assert witness.add_checkpoint(body(log, 9, 9)).status == 200
    assert witness.add_checkpoint(body(log, 9, 9, proof=[b"\x00" * 32])).status == 422


def test_the_state_outlives_the_witness_object(witness, log, key, tmp_path):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    again = Witness(key, witness.logs, WitnessState(tmp_path), clock=lambda: NOW)
    assert again.add_checkpoint(body(log, 0, 12)).body == b"9\n"
    assert again.add_checkpoint(body(log, 9, 12)).status == 200


def test_a_damaged_state_file_is_500_and_never_overwritten(witness, log, tmp_path):
    assert witness.add_checkpoint(body(log, 0, 9)).status == 200
    (state_file,) = tmp_path.glob("*.checkpoint")
    state_file.write_text("not a checkpoint\n")
    answer = witness.add_checkpoint(body(log, 9, 12))
    assert answer.status == 500
    assert b"damaged" in answer.body
    assert state_file.read_text() == "not a checkpoint\n"


def test_the_state_file_is_named_by_the_origins_hash_whatever_the_origin(log, key, tmp_path):
    origin = "../../etc/passwd\N{EM DASH}/x"
    signer = Ed25519PrivateKey.generate()
    vkey = note.make_verifier_key(origin, signer.public_key())
    witness = Witness(
        key, {origin: [note.parse_verifier_key(vkey)]}, WitnessState(tmp_path), clock=lambda: NOW
    )
    checkpoint = note.sign_note(note.format_checkpoint(origin, 3, b"\x01" * 32), origin, signer)
    assert witness.add_checkpoint(format_add_checkpoint(0, [], checkpoint)).status == 200
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2 and all(len(name.split(".")[0]) == 64 for name in names)

"""Property-based fuzzing of every verifier parser that reads outside bytes: only typed errors come out.

Whatever a hostile portal, server, CI job or file hands the verifier, each parser must either return a
result or raise a ``VerifierError`` subclass (which the command line turns into one line and the portal
into a 400 or a ``bad_response``), never ``ValueError``, ``UnicodeError``, ``RecursionError``... Each
parser gets two kinds of input: arbitrary bytes or text, and near-valid documents (a real, verifying
document with one field mutated: non-ASCII, lone surrogates, huge integers, deep nesting, duplicate
keys, NaN, wrong types). The mutations reach past the JSON reader into each check behind it.

Bounded: a fixed ``max_examples`` per test, and derandomized when ``CI`` is set, so CI runs the same
cases every time (a failure there reproduces locally with ``CI=1``). The per-example deadline is a
hang guard, not a speed test: a single parse takes milliseconds.
"""

import base64
import json
import os
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.verifier.factories import key_pair, signed_envelope
from tests.verifier.test_bundle import MemoryLog, deployment_document, release_document
from verifier import bundle, dsse, keys, merkle, note, statement, tiles
from verifier.dsse import envelope_to_json
from verifier.errors import VerifierError
from verifier.live import parse_live_body

IN_CI = bool(os.environ.get("CI"))
FUZZ = settings(
    max_examples=500,
    deadline=timedelta(seconds=2),
    derandomize=IN_CI,
    database=None if IN_CI else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- Valid documents to mutate ------------------------------------------------------------------------

SIGNER = key_pair()
ENVELOPE = signed_envelope(SIGNER)
STATEMENT = json.loads(base64.b64decode(ENVELOPE["payload"]))
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ORIGIN = "log.test/vitrina"
VERIFIER_KEY = note.make_verifier_key(ORIGIN, LOG_KEY.public_key())
CHECKPOINT = note.sign_note(note.format_checkpoint(ORIGIN, 5, bytes(range(32)), ["ext"]), ORIGIN, LOG_KEY)
_LOG = MemoryLog()
_LOG.append({"v": 1, "type": "key_added", "project": "demo"})
RELEASE_BUNDLE = release_document(_LOG, SIGNER, "0123456789abcdef0123456789abcdef01234567")
DEPLOYMENT_BUNDLE = deployment_document(_LOG, SIGNER, "0123456789abcdef0123456789abcdef01234567")
LIVE_ANSWER = {
    "artifact_digest": "sha256:" + "ab" * 32,
    "source_commit": "0123456789abcdef0123456789abcdef01234567",
    "version": "1.0.0",
}


# --- Hostile values and documents ---------------------------------------------------------------------


class Pairs(list):
    """A JSON object written as its key/value pairs, so that a key can appear twice."""


def dumps(value, ascii_only=True):
    """JSON text of ``value``, where ``Pairs`` become objects (duplicate keys kept) and floats may be NaN."""
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{dumps(k, ascii_only)}:{dumps(v, ascii_only)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return dumps(Pairs(value.items()), ascii_only)
    if isinstance(value, list):
        return "[" + ",".join(dumps(v, ascii_only) for v in value) + "]"
    if isinstance(value, RawJSON):
        return value.text
    return json.dumps(value, ensure_ascii=ascii_only)


class RawJSON:
    """Text written into a document as it is (deep nesting, huge numbers), bypassing ``json.dumps``."""

    def __init__(self, text):
        self.text = text


HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=20).map(lambda s: "aGVsbG8" + s),
    st.sampled_from(["\ud800", "a\udfffb", "é", "😀", "aGVsbG8é", "c2lné", "\x00", "\u2014 x", "+_-/=", ""]),
)
HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.builds(lambda n: RawJSON("9" * n), st.integers(1, 6000)),
    st.builds(lambda n: RawJSON("[" * n + "]" * n), st.integers(1, 3000)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths(value, prefix=()):
    """Every path (keys and indexes) to a value inside a parsed JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def mutated(document, data):
    """``document`` (a JSON-ready value) with one place changed the way an attacker would change it."""
    chosen = data.draw(st.sampled_from(sorted(paths(document), key=repr)))
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "nest"]))
    return _apply(document, chosen, action, data)


def _apply(value, path, action, data):
    if not path:
        if action == "nest":
            depth = data.draw(st.integers(1, 2000))
            return RawJSON("[" * depth + dumps(value) + "]" * depth)
        return data.draw(HOSTILE_VALUE)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if not rest and action == "delete":
            return Pairs((k, v) for k, v in value.items() if k != head)
        if not rest and action == "duplicate":
            return Pairs([*value.items(), (head, data.draw(HOSTILE_VALUE))])
        return Pairs((k, _apply(v, rest, action, data) if k == head else v) for k, v in value.items())
    return [_apply(v, rest, action, data) if i == head else v for i, v in enumerate(value)]


def encoded(data, document):
    """The mutated ``document`` as bytes: ASCII-escaped, or raw UTF-8 (lone surrogates as CESU bytes)."""
    text = dumps(mutated(document, data), ascii_only=data.draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def only_typed_errors(parse, *args, **kwargs):
    """Call ``parse``; a result or a ``VerifierError`` is fine, anything else fails the test."""
    try:
        return parse(*args, **kwargs)
    except VerifierError:
        return None


# --- DSSE envelopes and statements --------------------------------------------------------------------


def load_and_verify_envelope(data):
    envelope = dsse.parse_envelope(data)
    dsse.verify_envelope(envelope, [SIGNER.public_key])
    statement.parse_statement(envelope.payload)


@FUZZ
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500)))
def test_envelope_from_arbitrary_bytes_or_text(data):
    only_typed_errors(load_and_verify_envelope, data)


@FUZZ
@given(st.data())
def test_envelope_with_one_field_mutated(data):
    raw = encoded(data, ENVELOPE)
    only_typed_errors(load_and_verify_envelope, raw)
    only_typed_errors(load_and_verify_envelope, raw.decode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=2000))
def test_statement_from_arbitrary_bytes(payload):
    only_typed_errors(statement.parse_statement, payload)


@FUZZ
@given(st.data())
def test_statement_with_one_field_mutated(data):
    only_typed_errors(statement.parse_statement, encoded(data, STATEMENT))


# --- Signed notes, checkpoints, keys ------------------------------------------------------------------


def mutated_text(data, text):
    """``text`` with a slice replaced by hostile text (non-ASCII, surrogates, control characters)."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 60)))
    return text[:start] + data.draw(HOSTILE_TEXT) + text[end:]


@FUZZ
@given(st.one_of(st.binary(max_size=1000), st.text(max_size=500)), st.text(max_size=120))
def test_note_and_checkpoint_from_arbitrary_input(data, vkey):
    only_typed_errors(note.verify_checkpoint, data, VERIFIER_KEY, origin=ORIGIN)
    only_typed_errors(note.verify_checkpoint, CHECKPOINT, vkey)
    only_typed_errors(note.parse_signer_key, vkey)
    if isinstance(data, str):
        only_typed_errors(note.parse_checkpoint, data)


@FUZZ
@given(st.data())
def test_checkpoint_and_verifier_key_with_one_part_mutated(data):
    damaged = mutated_text(data, CHECKPOINT)
    only_typed_errors(note.verify_checkpoint, damaged, VERIFIER_KEY, origin=ORIGIN)
    only_typed_errors(note.verify_checkpoint, damaged.encode("utf-8", "surrogatepass"), VERIFIER_KEY)
    only_typed_errors(note.parse_checkpoint, damaged.partition("\n\n")[0] + "\n")
    only_typed_errors(note.verify_checkpoint, CHECKPOINT, mutated_text(data, VERIFIER_KEY))


@FUZZ
@given(st.data())
def test_public_and_private_keys_from_pem_bytes(data):
    pem = data.draw(st.sampled_from([SIGNER.public_pem, SIGNER.private_pem]))
    for candidate in (data.draw(st.binary(max_size=400)), mutated_text(data, pem)):
        for load in (keys.load_public_key, keys.load_private_key):
            only_typed_errors(load, candidate)
            if isinstance(candidate, str):
                only_typed_errors(load, candidate.encode("utf-8", "surrogatepass"))


# --- Tiles and Merkle proofs --------------------------------------------------------------------------

HUGE = st.integers(min_value=-(2**70), max_value=2**70)


@FUZZ
@given(st.text(st.sampled_from("tile/entrisx0123456789.p"), max_size=40) | st.text(max_size=40), st.binary())
def test_tile_paths_and_entry_bundles(path, bundle_bytes):
    only_typed_errors(tiles.parse_tile_path, path)
    only_typed_errors(tiles.decode_entry_bundle, bundle_bytes)


@FUZZ
@given(HUGE | st.integers(0, 70), HUGE | st.integers(0, 1000), HUGE, st.integers(-5, 300))
def test_tile_arithmetic_with_arbitrary_numbers(level, index, tree_size, width):
    only_typed_errors(tiles.tile_width_for, level, index, tree_size)
    only_typed_errors(tiles.tile_hash_indexes, level, index, width)


HASH = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=70))


@FUZZ
@given(HASH, HUGE | st.integers(-2, 40), HUGE | st.integers(-2, 40), st.lists(HASH, max_size=70), HASH)
def test_inclusion_proof_with_arbitrary_hashes_and_sizes(leaf, index, size, proof, root):
    only_typed_errors(merkle.verify_inclusion, leaf, index, size, proof, root)


@FUZZ
@given(HUGE | st.integers(-2, 40), HUGE | st.integers(-2, 40), st.lists(HASH, max_size=70), HASH, HASH)
def test_consistency_proof_with_arbitrary_hashes_and_sizes(first, second, proof, first_root, second_root):
    only_typed_errors(merkle.verify_consistency, first, second, proof, first_root, second_root)


# --- Proof bundles and live answers -------------------------------------------------------------------


def load_and_verify_bundle(data):
    for result in bundle.verify_bundle(bundle.parse_bundle(data)):
        assert result.status in (bundle.PASS, bundle.FAIL, bundle.SKIP, bundle.ERROR)


@FUZZ
@given(st.binary(max_size=3000))
def test_bundle_from_arbitrary_bytes(data):
    only_typed_errors(load_and_verify_bundle, data)


@FUZZ
@given(st.data())
def test_bundle_with_one_field_mutated(data):
    document = data.draw(st.sampled_from([RELEASE_BUNDLE, DEPLOYMENT_BUNDLE]))
    only_typed_errors(load_and_verify_bundle, encoded(data, document))


@FUZZ
@given(st.data())
def test_bundle_whose_envelope_or_entry_is_mutated_inside(data):
    """The envelope and the log entry are JSON inside the bundle's JSON: mutate those documents too."""
    document = json.loads(json.dumps(RELEASE_BUNDLE))
    if data.draw(st.booleans()):
        document["envelope"] = dumps(mutated(json.loads(document["envelope"]), data))
    else:
        entry = json.loads(base64.b64decode(document["log"]["entry_b64"]))
        raw = dumps(mutated(entry, data), ascii_only=False).encode("utf-8", "surrogatepass")
        document["log"]["entry_b64"] = base64.b64encode(raw).decode("ascii")
    text = dumps(document, ascii_only=data.draw(st.booleans()))
    only_typed_errors(load_and_verify_bundle, text.encode("utf-8", "surrogatepass"))


CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "", None, "application/x+json; q=1"])


@FUZZ
@given(st.binary(max_size=2000), CONTENT_TYPES)
def test_live_answer_from_arbitrary_bytes(body, content_type):
    only_typed_errors(parse_live_body, body, content_type)


@FUZZ
@given(st.data(), CONTENT_TYPES)
def test_live_answer_with_one_field_mutated(data, content_type):
    only_typed_errors(parse_live_body, encoded(data, LIVE_ANSWER), content_type)


def test_the_valid_documents_pass_so_the_mutations_start_from_a_good_one():
    """Without this, a broken builder above would make every fuzz case an early, shallow refusal."""
    load_and_verify_envelope(envelope_to_json(ENVELOPE))
    assert note.verify_checkpoint(CHECKPOINT, VERIFIER_KEY, origin=ORIGIN).size == 5
    for document in (RELEASE_BUNDLE, DEPLOYMENT_BUNDLE):
        results = bundle.verify_bundle(bundle.parse_bundle(json.dumps(document).encode()))
        assert {result.status for result in results} <= {bundle.PASS, bundle.SKIP}
    assert (
        parse_live_body(json.dumps(LIVE_ANSWER).encode(), "application/json")[0]
        == LIVE_ANSWER["artifact_digest"]
    )

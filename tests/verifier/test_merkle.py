import base64
import json
from pathlib import Path

import pytest

from tests.helpers.needs import missing, missing_param
from verifier import merkle
from verifier.errors import FormatError, ProofError, VerifierError

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "rfc6962-vectors"
MAX_SIZE = 70


class MemoryLog:
    """A stored-hash table in a list, filled the way the portal fills its table."""

    def __init__(self, entries=()):
        self.hashes = []
        self.leaves = []
        self.reads = []
        for entry in entries:
            self.append(entry)

    def read_hashes(self, indexes):
        self.reads.append(list(indexes))
        return [self.hashes[i] for i in indexes]

    def append(self, entry):
        leaf = merkle.leaf_hash(entry)
        assert len(self.hashes) == merkle.stored_hash_count(len(self.leaves))
        self.hashes.extend(merkle.stored_hashes(len(self.leaves), leaf, self.read_hashes))
        self.leaves.append(leaf)

    def root(self, size):
        return merkle.tree_hash(size, self.read_hashes)


@pytest.fixture(scope="module")
def log():
    return MemoryLog(f"entry {i}".encode() for i in range(MAX_SIZE))


def flip_bit(data, bit):
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


# --- Hashing ------------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256():
    import hashlib

    assert merkle.leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()
    assert merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_root_of_empty_and_single_leaf_trees():
    leaf = merkle.leaf_hash(b"a")
    assert merkle.root_from_leaf_hashes([]) == merkle.EMPTY_ROOT
    assert merkle.root_from_leaf_hashes([leaf]) == leaf


def test_root_splits_at_largest_power_of_two_below_size():
    a, b, c = (merkle.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle.root_from_leaf_hashes([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)


# --- Stored-hash layout -------------------------------------------------------------------------------


def test_stored_hash_indexes_follow_append_order():
    # Appending records 0..3 writes: leaf0, leaf1, (0,1), leaf2, leaf3, (2,3), (0..3).
    written = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0)]
    assert [merkle.stored_hash_index(level, n) for level, n in written] == list(range(7))
    assert [merkle.split_stored_hash_index(i) for i in range(7)] == written


def test_split_stored_hash_index_inverts_stored_hash_index():
    for index in range(5000):
        assert merkle.stored_hash_index(*merkle.split_stored_hash_index(index)) == index
    big = merkle.stored_hash_index(17, 123456789)
    assert merkle.split_stored_hash_index(big) == (17, 123456789)


def test_stored_hash_count_matches_rows_written(log):
    assert len(log.hashes) == merkle.stored_hash_count(MAX_SIZE)
    for index, h in enumerate(log.hashes):
        level, n = merkle.split_stored_hash_index(index)
        leaves = log.leaves[n << level : (n + 1) << level]
        assert h == merkle.root_from_leaf_hashes(leaves)


def test_tree_hash_matches_recursive_definition_for_every_size(log):
    assert log.root(0) == merkle.EMPTY_ROOT
    for size in range(1, MAX_SIZE + 1):
        assert log.root(size) == merkle.root_from_leaf_hashes(log.leaves[:size])


def test_tree_hash_and_proofs_read_logarithmically_many_hashes():
    big = MemoryLog(str(i).encode() for i in range(1000))
    big.reads.clear()
    merkle.tree_hash(999, big.read_hashes)
    merkle.inclusion_proof(500, 999, big.read_hashes)
    merkle.consistency_proof(333, 999, big.read_hashes)
    assert len(big.reads) == 3
    assert all(len(indexes) <= 2 * 10 for indexes in big.reads)


def test_storage_returning_wrong_number_of_hashes_is_refused(log):
    with pytest.raises(FormatError, match="asked storage for"):
        merkle.tree_hash(7, lambda indexes: log.read_hashes(indexes)[:-1])


# --- Inclusion proofs ---------------------------------------------------------------------------------


def test_inclusion_proof_verifies_for_every_entry_of_every_size(log):
    for size in range(1, MAX_SIZE + 1):
        root = log.root(size)
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, log.read_hashes)
            merkle.verify_inclusion(log.leaves[index], index, size, proof, root)


def test_inclusion_proof_with_any_flipped_bit_fails(log):
    for size in range(1, MAX_SIZE + 1):
        root = log.root(size)
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, log.read_hashes)
            for i, h in enumerate(proof):
                tampered = proof[:i] + [flip_bit(h, (size * 7 + index + i) % 256)] + proof[i + 1 :]
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(log.leaves[index], index, size, tampered, root)


def test_inclusion_proof_fails_for_every_single_bit_flip_of_proof_root_and_leaf(log):
    size, index = 45, 21
    root, leaf = log.root(size), log.leaves[index]
    proof = merkle.inclusion_proof(index, size, log.read_hashes)
    for bit in range(256):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaf, index, size, proof, flip_bit(root, bit))
        with pytest.raises(ProofError):
            merkle.verify_inclusion(flip_bit(leaf, bit), index, size, proof, root)
        for i in range(len(proof)):
            tampered = proof[:i] + [flip_bit(proof[i], bit)] + proof[i + 1 :]
            with pytest.raises(ProofError):
                merkle.verify_inclusion(leaf, index, size, tampered, root)


def test_inclusion_proof_for_another_index_fails(log):
    for size in range(2, MAX_SIZE + 1):
        root = log.root(size)
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, log.read_hashes)
            other = (index + 1) % size
            with pytest.raises(ProofError):
                merkle.verify_inclusion(log.leaves[index], other, size, proof, root)


def test_inclusion_proof_with_hash_missing_or_extra_fails(log):
    size, index = 70, 3
    proof = merkle.inclusion_proof(index, size, log.read_hashes)
    with pytest.raises(ProofError, match="too short"):
        merkle.verify_inclusion(log.leaves[index], index, size, proof[:-1], log.root(size))
    with pytest.raises(ProofError, match="too long"):
        merkle.verify_inclusion(log.leaves[index], index, size, proof + [proof[0]], log.root(size))


def test_proof_of_wrong_length_is_named_too_short_or_too_long_for_every_size(log):
    """The length a proof must have depends only on the sizes and the index, never on its hashes."""
    for size in range(1, MAX_SIZE + 1):
        root = log.root(size)
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, log.read_hashes)
            what = f"inclusion proof for entry {index} in tree size {size}"
            if proof:
                with pytest.raises(ProofError, match=f"^{what} is too short$"):
                    merkle.verify_inclusion(log.leaves[index], index, size, proof[1:], root)
            with pytest.raises(ProofError, match=f"^{what} is too long$"):
                merkle.verify_inclusion(log.leaves[index], index, size, proof + [root], root)
        for first in range(1, size):
            proof = merkle.consistency_proof(first, size, log.read_hashes)
            what = f"consistency proof from tree size {first} to {size}"
            if len(proof) > 1:
                with pytest.raises(ProofError, match=f"^{what} is too short$"):
                    merkle.verify_consistency(first, size, proof[:-1], log.root(first), root)
            with pytest.raises(ProofError, match=f"^{what} is too long$"):
                merkle.verify_consistency(first, size, proof + [root], log.root(first), root)


def test_inclusion_failure_names_entry_and_tree_size(log):
    proof = merkle.inclusion_proof(5, 12, log.read_hashes)
    with pytest.raises(ProofError) as raised:
        merkle.verify_inclusion(log.leaves[6], 5, 12, proof, log.root(12))
    assert str(raised.value) == (
        "inclusion proof for entry 5 does not lead to the checkpoint root of tree size 12"
    )


def test_index_at_or_beyond_tree_size_is_refused(log):
    with pytest.raises(ProofError, match="cannot be in a tree of size 4"):
        merkle.verify_inclusion(log.leaves[4], 4, 4, [], log.root(4))
    with pytest.raises(FormatError):
        merkle.inclusion_proof(4, 4, log.read_hashes)
    with pytest.raises(FormatError):
        merkle.verify_inclusion(log.leaves[0], -1, 4, [], log.root(4))


# --- Consistency proofs -------------------------------------------------------------------------------


def test_consistency_proof_verifies_for_every_pair_of_sizes(log):
    roots = [log.root(size) for size in range(MAX_SIZE + 1)]
    for second in range(1, MAX_SIZE + 1):
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(first, second, log.read_hashes)
            merkle.verify_consistency(first, second, proof, roots[first], roots[second])


def test_consistency_proof_with_any_flipped_bit_fails(log):
    roots = [log.root(size) for size in range(MAX_SIZE + 1)]
    for second in range(2, MAX_SIZE + 1):
        for first in range(1, second):
            proof = merkle.consistency_proof(first, second, log.read_hashes)
            for i, h in enumerate(proof):
                bit = (first * 31 + second + i) % 256
                tampered = proof[:i] + [flip_bit(h, bit)] + proof[i + 1 :]
                with pytest.raises(ProofError):
                    merkle.verify_consistency(first, second, tampered, roots[first], roots[second])
            with pytest.raises(ProofError):
                merkle.verify_consistency(first, second, proof, flip_bit(roots[first], second), roots[second])
            with pytest.raises(ProofError):
                merkle.verify_consistency(first, second, proof, roots[first], flip_bit(roots[second], first))


def test_consistency_proof_fails_for_every_single_bit_flip(log):
    first, second = 22, 61
    r1, r2 = log.root(first), log.root(second)
    proof = merkle.consistency_proof(first, second, log.read_hashes)
    for bit in range(256):
        for i in range(len(proof)):
            tampered = proof[:i] + [flip_bit(proof[i], bit)] + proof[i + 1 :]
            with pytest.raises(ProofError):
                merkle.verify_consistency(first, second, tampered, r1, r2)
        with pytest.raises(ProofError):
            merkle.verify_consistency(first, second, proof, flip_bit(r1, bit), r2)
        with pytest.raises(ProofError):
            merkle.verify_consistency(first, second, proof, r1, flip_bit(r2, bit))


def test_consistency_proof_for_other_sizes_fails(log):
    proof = merkle.consistency_proof(6, 13, log.read_hashes)
    merkle.verify_consistency(6, 13, proof, log.root(6), log.root(13))
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 13, proof, log.root(5), log.root(13))
    with pytest.raises(ProofError):
        merkle.verify_consistency(6, 14, proof, log.root(6), log.root(14))


def test_consistency_edge_cases_follow_rfc(log):
    r3, r5 = log.root(3), log.root(5)
    with pytest.raises(ProofError, match="smaller tree size"):
        merkle.verify_consistency(5, 3, [], r5, r3)
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, r5)
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    merkle.verify_consistency(5, 5, [], r5, r5)
    with pytest.raises(ProofError, match="must be empty"):
        merkle.verify_consistency(5, 5, [r3], r5, r5)
    with pytest.raises(ProofError, match="different roots"):
        merkle.verify_consistency(5, 5, [], r5, r3)
    with pytest.raises(ProofError, match="is empty"):
        merkle.verify_consistency(3, 5, [], r3, r5)


def test_consistency_proof_generation_edge_cases(log):
    assert merkle.consistency_proof(9, 9, log.read_hashes) == []
    with pytest.raises(FormatError):
        merkle.consistency_proof(0, 9, log.read_hashes)
    with pytest.raises(FormatError):
        merkle.consistency_proof(10, 9, log.read_hashes)


# --- Streaming root -----------------------------------------------------------------------------------


def test_tree_builder_agrees_with_recursive_root_at_every_size(log):
    builder = merkle.TreeBuilder()
    assert builder.size == 0 and builder.root() == merkle.EMPTY_ROOT
    for size, leaf in enumerate(log.leaves, start=1):
        builder.append(leaf)
        assert builder.size == size
        assert builder.root() == merkle.root_from_leaf_hashes(log.leaves[:size])


def test_tree_builder_keeps_one_hash_per_level():
    builder = merkle.TreeBuilder()
    for i in range(1023):
        builder.append(merkle.leaf_hash(str(i).encode()))
    assert len(builder._subtrees) == 10


# --- RFC 6962 test vectors (transparency-dev/merkle testdata) --------------------------------------


def vector_files(kind):
    if not VECTORS.is_dir():
        return [missing_param(f"RFC 6962 test vectors not found at {VECTORS}")]
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(path, id=str(path.relative_to(VECTORS / kind))) for path in files]


def load_vector(path):
    if isinstance(path, str):  # the vectors are missing: ``path`` says so
        missing(path)
    return json.loads(path.read_text())


def b64(value):
    return base64.b64decode(value)


def proof_of(vector):
    return [b64(h) for h in vector["proof"] or []]


def test_vector_directory_holds_the_expected_files():
    if not VECTORS.is_dir():
        missing(f"RFC 6962 test vectors not found at {VECTORS}")
    assert len(list((VECTORS / "inclusion").rglob("*.json"))) >= 90
    assert len(list((VECTORS / "consistency").rglob("*.json"))) >= 90


@pytest.mark.parametrize("path", vector_files("inclusion"))
def test_inclusion_vector(path):
    vector = load_vector(path)

    def verify():
        merkle.verify_inclusion(
            b64(vector["leafHash"]),
            vector["leafIdx"],
            vector["treeSize"],
            proof_of(vector),
            b64(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(VerifierError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", vector_files("consistency"))
def test_consistency_vector(path):
    vector = load_vector(path)

    def verify():
        merkle.verify_consistency(
            vector["size1"], vector["size2"], proof_of(vector), b64(vector["root1"]), b64(vector["root2"])
        )

    if vector["wantErr"]:
        with pytest.raises(VerifierError):
            verify()
    else:
        verify()


def test_worked_example_of_the_log_format_document():
    # The three-entry tree published in docs/formats/log.md.
    log = MemoryLog([b"a", b"b", b"c"])
    l0, l1, l2 = log.leaves
    assert l0.hex() == "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c"
    assert log.root(2).hex() == "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb"
    assert log.root(3).hex() == "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1"
    assert merkle.inclusion_proof(1, 3, log.read_hashes) == [l0, l2]
    assert merkle.consistency_proof(2, 3, log.read_hashes) == [l2]

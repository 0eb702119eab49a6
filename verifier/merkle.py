"""RFC 9162 Merkle trees: hashing, proofs and their verification, and the stored-hash layout.

The log is an RFC 9162 (section 2.1) Merkle tree over SHA-256:

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")

Verification (``verify_inclusion``, ``verify_consistency``) accepts exactly what the algorithms of
RFC 9162 sections 2.1.3.2 and 2.1.4.2 accept, in the shape of the Go reference verifier
(transparency-dev/merkle): an inclusion path splits into the siblings below the point where it meets
the tree's right border and those along it (``_path_split``), and both checks hash up through the same
three chains; a consistency proof is the upper part of the path to the first tree's last leaf. Proofs
are lists of 32-byte hashes, leaf first; a proof's length follows from the sizes alone.

The portal keeps the tree in a table of *stored hashes*, one row per complete subtree, written once
and never changed. When record ``n`` is appended we store its leaf hash and then, for every subtree
that record completes, that subtree's hash: a record whose index ends in ``k`` one-bits completes
``k`` subtrees. Numbering the rows in the order they are written gives every subtree (``level``,
``n``) - the ``n``-th subtree of ``2**level`` leaves - a fixed row number, its stored-hash index.
Roots and proofs for any tree size then need O(log n) rows. Callers pass a ``read_hashes(indexes)``
callable that returns the hashes stored at those indexes, in order, so this module does no I/O.
"""

import hashlib
from collections.abc import Callable, Iterable

from verifier.errors import FormatError, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

ReadHashes = Callable[[list[int]], list[bytes]]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 section 2.1.1. Holds every hash in memory."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(root_from_leaf_hashes(leaf_hashes[:k]), root_from_leaf_hashes(leaf_hashes[k:]))


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- Stored hashes -----------------------------------------------------------------------------------


def stored_hash_count(n: int) -> int:
    """How many hashes are stored for a log of ``n`` records: n leaves, n//2 pairs, n//4 quads, ..."""
    _check_size(n)
    return 2 * n - n.bit_count()


def stored_hash_index(level: int, n: int) -> int:
    """Row number of the hash of the ``n``-th subtree of ``2**level`` leaves.

    That subtree is completed by its last record, ``r = (n + 1) * 2**level - 1``; appending ``r``
    writes ``r``'s leaf hash at row ``stored_hash_count(r)`` and then one row per level it completes.
    """
    if level < 0 or n < 0:
        raise FormatError(f"no stored hash at level {level}, index {n}")
    last_record = ((n + 1) << level) - 1
    return stored_hash_count(last_record) + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Inverse of ``stored_hash_index``: the (level, n) of the subtree stored at row ``index``."""
    if index < 0:
        raise FormatError(f"no stored hash at index {index}")
    # stored_hash_count(r) <= 2r, so index // 2 never overshoots the record that wrote the row;
    # it falls short by at most popcount(r) records.
    record = index // 2
    while stored_hash_count(record + 1) <= index:
        record += 1
    level = index - stored_hash_count(record)
    return level, ((record + 1) >> level) - 1


def stored_hashes(n: int, leaf_hash: bytes, read_hashes: ReadHashes) -> list[bytes]:
    """The hashes to store, in order from row ``stored_hash_count(n)``, when appending record ``n``.

    The first is the leaf hash; each further one is the hash of a subtree record ``n`` completes,
    combining the left sibling subtree (read from storage) with the one just formed.
    """
    _check_size(n)
    _check_hash(leaf_hash, "leaf hash")
    completed_levels = _trailing_ones(n)
    siblings = _read(
        read_hashes, [stored_hash_index(level, (n >> level) - 1) for level in range(completed_levels)]
    )
    hashes = [leaf_hash]
    for sibling in siblings:
        hashes.append(node_hash(sibling, hashes[-1]))
    return hashes


def tree_hash(size: int, read_hashes: ReadHashes) -> bytes:
    """MTH of the first ``size`` records, from at most log2(size) + 1 stored hashes."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], read_hashes)[0]


def inclusion_proof(index: int, tree_size: int, read_hashes: ReadHashes) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 9162 section 2.1.3.1, leaf first."""
    if not 0 <= index < tree_size:
        raise FormatError(f"entry {index} is not in a tree of size {tree_size}")
    return _range_hashes(_path_ranges(index, 0, tree_size), read_hashes)


def consistency_proof(first: int, second: int, read_hashes: ReadHashes) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 section 2.1.4.1; empty when the sizes are equal."""
    if not 0 < first <= second:
        raise FormatError(f"no consistency proof from tree size {first} to tree size {second}")
    if first == second:
        return []
    return _range_hashes(_subproof_ranges(first, 0, second, True), read_hashes)


def _path_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """PATH(m, D[lo:hi]) as the leaf ranges whose hashes make up the proof."""
    if hi - lo == 1:
        return []
    k = _largest_power_of_two_below(hi - lo)
    if m < lo + k:
        return _path_ranges(m, lo, lo + k) + [(lo + k, hi)]
    return _path_ranges(m, lo + k, hi) + [(lo, lo + k)]


def _subproof_ranges(m: int, lo: int, hi: int, start: bool) -> list[tuple[int, int]]:
    """SUBPROOF(m, D[lo:hi], b) as leaf ranges; ``start`` is the RFC's flag b."""
    if m == hi:
        return [] if start else [(lo, hi)]
    k = _largest_power_of_two_below(hi - lo)
    if m <= lo + k:
        return _subproof_ranges(m, lo, lo + k, start) + [(lo + k, hi)]
    return _subproof_ranges(m, lo + k, hi, False) + [(lo, lo + k)]


def _range_hashes(ranges: list[tuple[int, int]], read_hashes: ReadHashes) -> list[bytes]:
    """MTH(D[lo:hi]) for each range, with one call to ``read_hashes``.

    Every range the RFC's recursions produce starts at a multiple of the largest power of two not
    above its length, so it splits into whole stored subtrees, largest first; MTH of the range is
    their right-to-left fold.
    """
    pieces = [_whole_subtrees(lo, hi) for lo, hi in ranges]
    hashes = iter(_read(read_hashes, [stored_hash_index(level, n) for piece in pieces for level, n in piece]))
    return [_fold_right([next(hashes) for _ in piece]) for piece in pieces]


def _whole_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    subtrees = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        subtrees.append((level, lo >> level))
        lo += 1 << level
    return subtrees


def _fold_right(hashes: list[bytes]) -> bytes:
    """MTH of adjacent whole subtrees given largest first: each one left of the fold of those after it."""
    return _chain_border_right(hashes[-1], reversed(hashes[:-1]))


def _read(read_hashes: ReadHashes, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(read_hashes(indexes))
    if len(hashes) != len(indexes):
        raise FormatError(f"asked storage for {len(indexes)} hashes, got {len(hashes)}")
    for index, h in zip(indexes, hashes, strict=True):
        _check_hash(h, f"stored hash {index}")
    return hashes


def _trailing_ones(n: int) -> int:
    return (~n & (n + 1)).bit_length() - 1


def _check_size(n: int) -> None:
    if n < 0:
        raise FormatError(f"tree size {n} is negative")


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise FormatError(f"{what} is not a {HASH_SIZE}-byte hash")


# --- Verification, RFC 9162 sections 2.1.3.2 and 2.1.4.2 ------------------------------------------


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: list[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows that ``leaf_hash`` is entry ``index`` of the tree ``root``."""
    if index < 0 or tree_size < 0:
        raise FormatError(f"entry {index} and tree size {tree_size} must not be negative")
    _check_hash(leaf_hash, "leaf hash")
    if index >= tree_size:
        raise ProofError(f"entry {index} cannot be in a tree of size {tree_size}")
    inner, border = _path_split(index, tree_size)
    _check_length(proof, inner + border, f"inclusion proof for entry {index} in tree size {tree_size}")
    r = _chain_border_right(_chain_inner(leaf_hash, proof[:inner], index), proof[inner:])
    if r != root:
        raise ProofError(
            f"inclusion proof for entry {index} does not lead to the checkpoint root of tree size {tree_size}"
        )


def verify_consistency(
    first: int, second: int, proof: list[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows the tree ``first_root`` is a prefix of ``second_root``.

    RFC 9162 defines consistency proofs for 0 < first < second. Equal sizes need an empty proof and
    equal roots. Size 0 is refused: every tree extends the empty tree, so there is nothing to prove.
    """
    if first < 0 or second < 0:
        raise FormatError(f"tree sizes {first} and {second} must not be negative")
    if first > second:
        raise ProofError(f"tree size {first} cannot be a prefix of the smaller tree size {second}")
    if first == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing and is refused")
    if first == second:
        if proof:
            raise ProofError(f"consistency proof between equal tree sizes {first} must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}")
        return
    if not proof:
        raise ProofError(f"consistency proof from tree size {first} to {second} is empty")

    # PROOF(first, D[second]) is the tail of PATH(first - 1, D[second]) above the largest whole subtree
    # ending at leaf first - 1: the proof's first hash is that subtree's root, left out when the subtree
    # is the whole first tree.
    shift = _trailing_ones(first - 1)
    inner, border = _path_split(first - 1, second)
    inner -= shift
    seed, path = (first_root, proof) if first == 1 << shift else (proof[0], proof[1:])
    _check_length(path, inner + border, f"consistency proof from tree size {first} to {second}")
    index = (first - 1) >> shift
    fr = _chain_border_right(_chain_inner_right(seed, path[:inner], index), path[inner:])
    sr = _chain_border_right(_chain_inner(seed, path[:inner], index), path[inner:])
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of the earlier tree size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of the later tree size {second}")


def _path_split(index: int, size: int) -> tuple[int, int]:
    """How PATH(index, D[size]) splits, leaf first: ``inner`` siblings up to where the paths to ``index``
    and to the last leaf ``size - 1`` meet, then ``border`` left siblings along the tree's right border."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _check_length(proof: list[bytes], length: int, what: str) -> None:
    """The length of a proof follows from the sizes alone; ``what`` names the proof in the error."""
    if len(proof) > length:
        raise ProofError(f"{what} is too long")
    if len(proof) < length:
        raise ProofError(f"{what} is too short")


def _chain_inner(seed: bytes, siblings: list[bytes], index: int) -> bytes:
    """The root of the subtree above ``seed``, the node at ``index`` of its level, from its ``siblings``,
    lowest first; bit ``i`` of ``index`` says on which side sibling ``i`` stands."""
    for level, sibling in enumerate(siblings):
        seed = node_hash(sibling, seed) if index >> level & 1 else node_hash(seed, sibling)
    return seed


def _chain_inner_right(seed: bytes, siblings: list[bytes], index: int) -> bytes:
    """Like ``_chain_inner`` with the left siblings only: the same subtree's root when ``seed`` was its
    last node, that is, in the earlier tree of a consistency proof."""
    for level, sibling in enumerate(siblings):
        if index >> level & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, siblings: Iterable[bytes]) -> bytes:
    """The root above ``seed`` on the right border: its ``siblings``, lowest first, all stand left."""
    for sibling in siblings:
        seed = node_hash(sibling, seed)
    return seed


# --- Streaming root ---------------------------------------------------------------------------------


class TreeBuilder:
    """Computes MTH over leaf hashes appended in order, keeping one hash per level (O(log n) memory).

    It holds the roots of the complete subtrees the tree so far splits into, largest first, exactly
    the subtrees a stored-hash table would hold for the right edge.
    """

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []

    def append(self, leaf_hash: bytes) -> None:
        _check_hash(leaf_hash, "leaf hash")
        level, h = 0, leaf_hash
        while self._subtrees and self._subtrees[-1][0] == level:
            _, left = self._subtrees.pop()
            level, h = level + 1, node_hash(left, h)
        self._subtrees.append((level, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._subtrees:
            return EMPTY_ROOT
        return _fold_right([h for _, h in self._subtrees])

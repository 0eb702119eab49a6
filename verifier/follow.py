"""Follow a C2SP tlog-tiles log through its tiles alone, every hash checked against a signed root.

``TileLog(size, root, fetch)`` reads the tree of one verified checkpoint the way Go's
``tlog.TileHashReader`` does: no proof from the server is needed, because every tile is checked before
any of its hashes is used.

- The tiles on the tree's right edge (the one partial tile of each level, ``tile/<L>/<N>.p/<W>``) hold
  exactly the subtrees the root is folded from (RFC 9162 MTH splits a tree of ``size`` leaves into whole
  subtrees following the bits of ``size``), so hashing them up must give the checkpoint's root.
- A full tile's 256 hashes hash up to one hash of the tile above it, which is checked the same way,
  up to a tile on the right edge.

``tree_hash(m)`` then recomputes the root of any earlier tree size from the same verified tiles: if it
equals the root of a checkpoint of size ``m`` remembered earlier, the new tree extends the old one (a
consistency check, without a consistency proof); if not, the log forked. ``entries(start)`` reads the
entry bundles from ``start`` and checks each entry's leaf hash against its level 0 tile.

``fetch(path, max_bytes)`` is the caller's: it returns the bytes served at ``path`` (``tile/0/001.p/5``,
relative to the log's base URL) read up to ``max_bytes``, or None when there is nothing there; this
module does no I/O. Hashes are 32 bytes and tiles 256 of them wide (``verifier.tiles``).
"""

from collections.abc import Callable, Iterator

from verifier.errors import CouldNotCheck, FormatError, VerificationFailed
from verifier.merkle import HASH_SIZE, leaf_hash, root_from_leaf_hashes, split_stored_hash_index, tree_hash
from verifier.reasons import Reason
from verifier.tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_entry_bundle,
    entries_path,
    tile_path,
    tile_width_for,
)

# fetch(path, max_bytes): the bytes the log serves at ``path``, or None when it serves nothing there.
Fetch = Callable[[str, int], bytes | None]
TileReader = Callable[[int, int], list[bytes]]


class LogInconsistent(VerificationFailed):
    """The log's tiles or entry bundles contradict its own signed checkpoint: evidence against the log."""


class TileLog:
    """The tree of one verified checkpoint (``size`` leaves, ``root``), read tile by tile through ``fetch``.

    Creating it reads the right edge's tiles and raises ``LogInconsistent`` unless they hash to ``root``.
    ``tiles_read`` and ``bundles_read`` count the fetches, for the caller's report.
    """

    def __init__(self, size: int, root: bytes, fetch: Fetch) -> None:
        if size < 0 or len(root) != HASH_SIZE:
            raise FormatError("a tree needs a size of 0 or more and a 32-byte root")
        self.size = size
        self.root = root
        self._fetch = fetch
        self._verified: dict[tuple[int, int], list[bytes]] = {}
        # Level 0 tiles are as many as the log has entries / 256: only the latest one read is kept.
        self._level0: tuple[int, list[bytes]] | None = None
        self.tiles_read = 0
        self.bundles_read = 0
        self._verify_right_edge()

    def _verify_right_edge(self) -> None:
        edge: dict[tuple[int, int], list[bytes]] = {}

        def read(level: int, index: int) -> list[bytes]:
            if (level, index) not in edge:
                edge[level, index] = self._fetch_tile(level, index)
            return edge[level, index]

        found = tree_hash(self.size, lambda indexes: [_stored_hash(i, read) for i in indexes])
        if found != self.root:
            paths = ", ".join(tile_path(level, index, len(hashes)) for (level, index), hashes in edge.items())
            raise LogInconsistent(
                f"the log's tiles on the edge of its tree ({paths}) do not hash to the root of its "
                f"checkpoint of size {self.size}"
            )
        self._verified.update(edge)

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``index`` at ``level`` (as wide as the tree has it), checked to the root."""
        if (level, index) in self._verified:
            return self._verified[level, index]
        if level == 0 and self._level0 is not None and self._level0[0] == index:
            return self._level0[1]
        hashes = self._fetch_tile(level, index)
        if len(hashes) < TILE_WIDTH:
            # Every partial tile is on the right edge, read and checked when the log was opened.
            raise FormatError(f"tile {level}/{index} is partial but not on the edge of the tree")
        parent = self.tile(level + 1, index // TILE_WIDTH)
        if root_from_leaf_hashes(hashes) != parent[index % TILE_WIDTH]:
            raise LogInconsistent(
                f"the log's {tile_path(level, index)} does not hash to hash {index % TILE_WIDTH} of its "
                f"{tile_path(level + 1, index // TILE_WIDTH, len(parent))}, under the checkpoint of size "
                f"{self.size}"
            )
        if level > 0:
            self._verified[level, index] = hashes
        else:
            self._level0 = (index, hashes)
        return hashes

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        """The stored hashes at ``indexes`` (``verifier.merkle``'s layout), from checked tiles."""
        return [_stored_hash(index, self.tile) for index in indexes]

    def tree_hash(self, size: int) -> bytes:
        """The root of the first ``size`` leaves of this tree, from its checked tiles."""
        if not 0 <= size <= self.size:
            raise FormatError(f"tree size {size} is not between 0 and {self.size}")
        return tree_hash(size, self.read_hashes)

    def entries(self, start: int) -> Iterator[tuple[int, bytes]]:
        """``(index, entry)`` for every entry from ``start`` to the end of the tree, each checked to hash
        to its leaf hash in its checked level 0 tile; ``LogInconsistent`` at the first that does not."""
        if not 0 <= start <= self.size:
            raise FormatError(f"entry {start} is not between 0 and the tree size {self.size}")
        for number in range(start // TILE_WIDTH, -(-self.size // TILE_WIDTH)):
            hashes = self.tile(0, number)
            path = entries_path(number, len(hashes))
            data = self._fetch(path, len(hashes) * (2 + MAX_ENTRY_SIZE))
            self.bundles_read += 1
            if data is None:
                raise _not_served(path, self.size)
            try:
                found = decode_entry_bundle(data)
            except FormatError as exc:
                raise LogInconsistent(f"the log's {path} is not an entry bundle: {exc}") from None
            if len(found) != len(hashes):
                raise LogInconsistent(f"the log's {path} holds {len(found)} entries, not {len(hashes)}")
            first = number * TILE_WIDTH
            for offset, (entry, expected) in enumerate(zip(found, hashes, strict=True)):
                if leaf_hash(entry) != expected:
                    raise LogInconsistent(
                        f"entry {first + offset} in the log's {path} does not hash to its leaf hash in "
                        f"{tile_path(0, number, len(hashes))}: the entry served is not the one the tree holds"
                    )
            for offset, entry in enumerate(found):
                if first + offset >= start:
                    yield first + offset, entry

    def _fetch_tile(self, level: int, index: int) -> list[bytes]:
        width = tile_width_for(level, index, self.size)
        if width is None:
            raise FormatError(f"a tree of size {self.size} has no tile {index} at level {level}")
        path = tile_path(level, index, width)
        data = self._fetch(path, width * HASH_SIZE)
        self.tiles_read += 1
        if data is None:
            raise _not_served(path, self.size)
        if len(data) != width * HASH_SIZE:
            raise LogInconsistent(f"the log's {path} holds {len(data)} bytes, not {width} hashes")
        return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _stored_hash(index: int, read_tile: TileReader) -> bytes:
    """The hash stored at ``index``: the subtree of ``2**level`` leaves it names, hashed up from the
    ``2**(level % 8)`` hashes of the tile (at level ``level // 8``) that hold it."""
    level, n = split_stored_hash_index(index)
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = n << height
    hashes = read_tile(tile_level, first // TILE_WIDTH)
    offset = first % TILE_WIDTH
    below = hashes[offset : offset + (1 << height)]
    if len(below) != 1 << height:
        raise FormatError(f"stored hash {index} is not in a whole subtree of the tree")
    return root_from_leaf_hashes(below)


def _not_served(path: str, size: int) -> CouldNotCheck:
    return CouldNotCheck(
        Reason.BAD_RESPONSE, f"the log does not serve {path}, which its checkpoint of size {size} covers"
    )

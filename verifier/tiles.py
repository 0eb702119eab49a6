"""C2SP tlog-tiles: where each tile and entry bundle of the log lives, and what it holds.

A tile at level L is up to 256 consecutive Merkle tree hashes at tree level 8*L: level 0 tiles hold
leaf hashes, and each hash of a level L tile is the root of a full level L-1 tile. The n-th tile is
served at ``tile/<L>/<N>``, or ``tile/<L>/<N>.p/<W>`` while it holds only W < 256 hashes. N is
written in 3-digit groups, all but the last prefixed with ``x``: 1234067 -> ``x001/x234/067``. Entry
bundle n, the entries whose leaf hashes make up level 0 tile n, is at ``tile/entries/<N>[.p/<W>]``.
"""

import re
from typing import NamedTuple

from verifier.errors import FormatError
from verifier.merkle import stored_hash_index

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF


class TilePath(NamedTuple):
    level: int  # 0 for entry bundles, which pair with level 0 tiles
    # The C2SP name for the tile's number; it hides tuple.index(), which nothing calls on a TilePath.
    index: int  # type: ignore[assignment]
    width: int
    is_entries: bool


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    _check_level(level)
    return f"tile/{level}/{_index_path(index)}{_partial_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return f"tile/entries/{_index_path(index)}{_partial_suffix(width)}"


def _check_level(level: int) -> None:
    if not 0 <= level <= MAX_LEVEL:
        raise FormatError(f"tile level {level} is not between 0 and {MAX_LEVEL}")


def _check_index(index: int) -> None:
    if index < 0:
        raise FormatError(f"tile index {index} is negative")


def _index_path(index: int) -> str:
    _check_index(index)
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + group for group in groups[:-1]] + groups[-1:])


def _partial_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


_PATH = re.compile(
    r"tile/(?P<level>entries|[0-9]+)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[0-9]+))?"
)


def parse_tile_path(path: str) -> TilePath:
    """Parse a tile or entry bundle path, refusing every form but the canonical one."""
    match = _PATH.fullmatch(path)
    if not match:
        raise FormatError(f"not a tile path: {path[:100]!r}")
    is_entries = match["level"] == "entries"
    level = 0 if is_entries else int(match["level"])
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH if match["width"] is None else int(match["width"])
    canonical = entries_path(index, width) if is_entries else tile_path(level, index, width)
    if canonical != path:
        raise FormatError(f"tile path {path!r} is not canonical; expected {canonical!r}")
    return TilePath(level, index, width, is_entries)


def tile_width_for(level: int, index: int, tree_size: int) -> int | None:
    """How many hashes tile ``index`` at ``level`` holds in a tree of ``tree_size`` leaves, or None.

    The tree has ``tree_size // 256**level`` hashes at tile level ``level``; tile ``index`` holds up
    to 256 of them from ``index * 256``. None means the tile does not exist (empty tiles are not served).
    """
    if level < 0 or index < 0 or tree_size < 0:
        raise FormatError("tile level, index and tree size must not be negative")
    hashes_at_level = tree_size >> (TILE_HEIGHT * level)
    width = min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH)
    return width if width > 0 else None


def tile_hash_indexes(level: int, index: int, width: int = TILE_WIDTH) -> list[int]:
    """The stored-hash indexes (``merkle.stored_hash_index``) of the hashes tile ``index`` holds.

    Levels past ``MAX_LEVEL`` are refused before any arithmetic: the index of a level-L hash has 8*L bits.
    """
    _check_level(level)
    _check_index(index)
    _partial_suffix(width)
    first = index * TILE_WIDTH
    return [stored_hash_index(TILE_HEIGHT * level, first + i) for i in range(width)]


def encode_entry_bundle(entries: list[bytes]) -> bytes:
    """Entries, each prefixed with its length as a big-endian uint16."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise FormatError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, not {len(entries)}")
    parts = []
    for number, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise FormatError(f"entry {number} of the bundle is longer than {MAX_ENTRY_SIZE} bytes")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if len(entries) == TILE_WIDTH:
            raise FormatError(f"entry bundle holds more than {TILE_WIDTH} entries")
        if position + 2 > len(data):
            raise FormatError(f"entry bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise FormatError(f"entry bundle ends inside entry {len(entries)}")
        entries.append(bytes(data[position : position + length]))
        position += length
    if not entries:
        raise FormatError("entry bundle is empty")
    return entries

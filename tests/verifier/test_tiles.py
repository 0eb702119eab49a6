import pytest

from verifier import merkle, tiles
from verifier.errors import FormatError


def build_log(size):
    """Leaf hashes and the stored-hash table for ``size`` entries."""
    leaves, stored = [], []
    for n in range(size):
        leaf = merkle.leaf_hash(f"entry {n}".encode())
        stored.extend(merkle.stored_hashes(n, leaf, lambda indexes: [stored[i] for i in indexes]))
        leaves.append(leaf)
    return leaves, stored


@pytest.fixture(scope="module")
def log():
    return build_log(2 * 256 + 3)


# --- Paths --------------------------------------------------------------------------------------------


def test_spec_example_index_is_written_in_x_prefixed_groups():
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"


@pytest.mark.parametrize(
    "level, index, width, path",
    [
        (0, 0, 256, "tile/0/000"),
        (0, 5, 256, "tile/0/005"),
        (2, 999, 256, "tile/2/999"),
        (1, 1000, 256, "tile/1/x001/000"),
        (0, 1234067, 112, "tile/0/x001/x234/067.p/112"),
        (63, 1, 1, "tile/63/001.p/1"),
        (0, 10**9, 255, "tile/0/x001/x000/x000/000.p/255"),
    ],
)
def test_tile_path(level, index, width, path):
    assert tiles.tile_path(level, index, width) == path
    assert tiles.parse_tile_path(path) == tiles.TilePath(level, index, width, False)


def test_entries_path():
    assert tiles.entries_path(1234067) == "tile/entries/x001/x234/067"
    assert tiles.entries_path(3, 17) == "tile/entries/003.p/17"
    assert tiles.parse_tile_path("tile/entries/003.p/17") == tiles.TilePath(0, 3, 17, True)


def test_tile_paths_round_trip():
    for level in (0, 1, 7, 63):
        for index in (0, 1, 99, 100, 999, 1000, 1001, 65535, 123456789):
            for width in (1, 2, 128, 255, 256):
                path = tiles.tile_path(level, index, width)
                assert tiles.parse_tile_path(path) == (level, index, width, False)
                path = tiles.entries_path(index, width)
                assert tiles.parse_tile_path(path) == (0, index, width, True)


@pytest.mark.parametrize(
    "path",
    [
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/5",
        "tile/0/05",
        "tile/0/0000",
        "tile/0/x000/005",  # a leading all-zero group
        "tile/0/001/234",  # missing x
        "tile/0/x001/x234",  # x on the last group
        "tile/0/X001/234",
        "tile/0/000.p/256",  # a full tile written as partial
        "tile/0/000.p/0",
        "tile/0/000.p/012",
        "tile/0/000.p/",
        "tile/0/000.p/1/",
        "tile/0/000/",
        "/tile/0/000",
        "tile/entries/000.p/256",
        "tile/entry/000",
        "tile/0",
        "",
    ],
)
def test_non_canonical_tile_path_is_refused(path):
    with pytest.raises(FormatError):
        tiles.parse_tile_path(path)


def test_bad_path_parts_are_refused():
    with pytest.raises(FormatError):
        tiles.tile_path(64, 0)
    with pytest.raises(FormatError):
        tiles.tile_path(0, -1)
    with pytest.raises(FormatError):
        tiles.tile_path(0, 0, 0)
    with pytest.raises(FormatError):
        tiles.entries_path(0, 257)


# --- Which tiles exist ----------------------------------------------------------------------------------


def test_spec_example_tree_of_70000_entries():
    size = 70_000
    assert all(tiles.tile_width_for(0, n, size) == 256 for n in range(273))
    assert tiles.tile_width_for(0, 273, size) == 112
    assert tiles.tile_width_for(0, 274, size) is None
    assert tiles.tile_width_for(1, 0, size) == 256
    assert tiles.tile_width_for(1, 1, size) == 17
    assert tiles.tile_width_for(1, 2, size) is None
    assert tiles.tile_width_for(2, 0, size) == 1
    assert tiles.tile_width_for(3, 0, size) is None


def test_spec_example_tree_of_256_entries():
    assert tiles.tile_width_for(0, 0, 256) == 256
    assert tiles.tile_width_for(0, 1, 256) is None
    assert tiles.tile_width_for(1, 0, 256) == 1


def test_empty_tree_has_no_tiles():
    assert tiles.tile_width_for(0, 0, 0) is None


# --- Tile contents --------------------------------------------------------------------------------------


def test_full_level_0_tile_holds_the_256_leaf_hashes(log):
    leaves, stored = log
    for n in (0, 1):
        indexes = tiles.tile_hash_indexes(0, n)
        assert [stored[i] for i in indexes] == leaves[n * 256 : (n + 1) * 256]


def test_partial_level_0_tile_holds_the_last_leaf_hashes(log):
    leaves, stored = log
    width = tiles.tile_width_for(0, 2, len(leaves))
    assert width == 3
    assert [stored[i] for i in tiles.tile_hash_indexes(0, 2, width)] == leaves[512:]


def test_level_1_tile_holds_roots_of_full_level_0_tiles(log):
    leaves, stored = log
    width = tiles.tile_width_for(1, 0, len(leaves))
    assert width == 2
    level_1 = [stored[i] for i in tiles.tile_hash_indexes(1, 0, width)]
    assert level_1 == [
        merkle.root_from_leaf_hashes(leaves[:256]),
        merkle.root_from_leaf_hashes(leaves[256:512]),
    ]
    level_0 = [stored[i] for i in tiles.tile_hash_indexes(0, 1)]
    assert merkle.root_from_leaf_hashes(level_0) == level_1[1]


def test_tile_hash_indexes_of_higher_levels_are_stored_hashes_at_level_8l():
    assert tiles.tile_hash_indexes(2, 3, 2) == [
        merkle.stored_hash_index(16, 768),
        merkle.stored_hash_index(16, 769),
    ]


# --- Entry bundles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level, index", [(64, 0), (2**40, 0), (-1, 0), (0, -1)])
def test_tile_hash_indexes_refuse_levels_and_indexes_no_tile_has(level, index):
    """A huge level once meant computing a number of 2**40 bits: refused at once instead."""
    with pytest.raises(FormatError, match="tile"):
        tiles.tile_hash_indexes(level, index)


def test_entry_bundle_is_uint16_length_prefixed():
    assert tiles.encode_entry_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"
    assert tiles.decode_entry_bundle(b"\x00\x02ab\x00\x00\x00\x01c") == [b"ab", b"", b"c"]


def test_entry_bundle_round_trips_largest_entries():
    entries = [bytes([i]) * (65535 - i) for i in range(3)] + [b"x"] * 253
    assert tiles.decode_entry_bundle(tiles.encode_entry_bundle(entries)) == entries


def test_entry_bundle_entries_hash_to_level_0_tile(log):
    leaves, _ = log
    entries = [f"entry {n}".encode() for n in range(256)]
    bundle = tiles.decode_entry_bundle(tiles.encode_entry_bundle(entries))
    assert [merkle.leaf_hash(entry) for entry in bundle] == leaves[:256]


def test_oversized_or_wrongly_sized_bundles_are_refused():
    with pytest.raises(FormatError, match="longer than 65535"):
        tiles.encode_entry_bundle([b"x" * 65536])
    with pytest.raises(FormatError):
        tiles.encode_entry_bundle([])
    with pytest.raises(FormatError):
        tiles.encode_entry_bundle([b"x"] * 257)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",  # half a length
        b"\x00\x03ab",  # entry cut short
        b"\x00\x01a\x00",  # second length cut short
        b"\x00\x00" * 257,  # too many entries
    ],
)
def test_malformed_entry_bundle_is_refused(data):
    with pytest.raises(FormatError):
        tiles.decode_entry_bundle(data)

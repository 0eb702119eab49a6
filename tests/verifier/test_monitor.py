"""The monitor's parts on their own: reading a tree from its tiles (roots, forks, tampering, at the tile
boundaries), the rules each entry is held to, the state directory, and the command's exit codes.

The log here is held in memory and served as C2SP tiles by a function, the way the portal's views serve
them; ``tests/portal/test_monitor_end_to_end.py`` runs the command against a real portal.
"""

import dataclasses
import datetime
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.verifier import test_bundle as bundle_tests
from verifier import merkle, note, tiles
from verifier.command import CommandError
from verifier.entries import canonical_entry, entry_body, format_time
from verifier.errors import CouldNotCheck, FormatError
from verifier.findings import (
    Certificate,
    EntryChecker,
    Finding,
    Knowledge,
    KnownIdentity,
    KnownRelease,
    author_findings,
    ref_finding,
    repo_finding,
)
from verifier.follow import LogInconsistent, TileLog
from verifier.monitor import LogMonitor, MonitorState, Remembered, post_webhook
from verifier.repo import RepoCheck

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "log.test/vitrina"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
SYSTEM = {"kind": "system", "name": "vitrina"}
CI = {"kind": "token", "name": "ci", "hint": "vt_1234"}


class TileServer:
    """A log in memory with the portal's stored-hash layout, serving the tiles and entry bundles of the
    tree of size ``published`` as ``fetch(path, max_bytes)`` (None: not served); ``paths`` records asks."""

    def __init__(self, entries=(), key=None):
        self.key = key or Ed25519PrivateKey.generate()
        self.verifier_key = note.make_verifier_key(ORIGIN, self.key.public_key())
        self.entries, self.stored, self.paths = [], [], []
        for entry in entries:
            self.append(entry)
        self.published = len(self.entries)
        self.changed = {}  # path -> bytes served instead

    def append(self, entry):
        self.stored += merkle.stored_hashes(len(self.entries), merkle.leaf_hash(entry), self.read)
        self.entries.append(entry)

    def read(self, indexes):
        return [self.stored[i] for i in indexes]

    def checkpoint(self, size=None):
        size = self.published if size is None else size
        body = note.format_checkpoint(ORIGIN, size, merkle.tree_hash(size, self.read))
        return note.sign_note(body, ORIGIN, self.key)

    def publish(self):
        self.published = len(self.entries)
        return self.checkpoint()

    def fetch(self, path, max_bytes):
        self.paths.append(path)
        if path in self.changed:
            return self.changed[path]
        parsed = tiles.parse_tile_path(path)
        available = tiles.tile_width_for(parsed.level, parsed.index, self.published)
        if available is None or parsed.width > available:
            return None
        if parsed.is_entries:
            first = parsed.index * tiles.TILE_WIDTH
            return tiles.encode_entry_bundle(self.entries[first : first + parsed.width])
        indexes = tiles.tile_hash_indexes(parsed.level, parsed.index, parsed.width)
        return b"".join(self.read(indexes))


def numbered(count, start=0, prefix="entry"):
    return [f"{prefix} {n}".encode() for n in range(start, start + count)]


@pytest.fixture(scope="module")
def big_log():
    return TileServer(numbered(65537 + 3))


def opened(server, size):
    return TileLog(size, merkle.tree_hash(size, server.read), server.fetch)


# --- Reading a tree from its tiles ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 65540])
def test_the_tiles_of_a_tree_hash_to_its_root_and_to_the_root_of_every_earlier_size(big_log, size):
    big_log.published = size
    log = opened(big_log, size)

    for earlier in {0, 1, 255, 256, 257, size // 3, size - 1, size} & set(range(size + 1)):
        assert log.tree_hash(earlier) == merkle.tree_hash(earlier, big_log.read), earlier


@pytest.mark.parametrize(
    "size, start", [(1, 0), (255, 250), (256, 0), (257, 255), (513, 256), (65537, 65530)]
)
def test_entries_are_read_from_a_start_each_checked_to_its_leaf_hash(big_log, size, start):
    big_log.published = size
    big_log.paths.clear()
    log = opened(big_log, size)

    assert list(log.entries(start)) == list(enumerate(big_log.entries[start:size], start))
    bundles = [path for path in big_log.paths if path.startswith("tile/entries/")]
    assert len(bundles) == log.bundles_read == -(-size // 256) - start // 256


def test_a_second_read_from_the_remembered_size_asks_only_for_the_new_tiles():
    server = TileServer(numbered(1000))
    server.append(b"one more")
    server.publish()
    log = opened(server, 1001)

    assert log.tree_hash(1000) == merkle.tree_hash(1000, server.read)
    assert list(log.entries(1000)) == [(1000, b"one more")]
    # The edge (tile/0/003.p/233 and tile/1/000.p/3) holds the old root's subtrees too.
    assert (log.tiles_read, log.bundles_read) == (2, 1)
    assert [path for path in server.paths if path.startswith("tile/entries/")] == ["tile/entries/003.p/233"]


@pytest.mark.parametrize("size", [1, 256, 257, 65536, 65537])
def test_a_root_the_tiles_do_not_hash_to_is_refused(big_log, size):
    big_log.published = size
    with pytest.raises(LogInconsistent, match=f"do not hash to the root of its checkpoint of size {size}"):
        TileLog(size, merkle.tree_hash(size - 1, big_log.read), big_log.fetch)


def test_a_full_tile_changed_is_refused_when_it_is_read(big_log):
    big_log.published = 600
    log = opened(big_log, 600)
    good = big_log.fetch("tile/0/001", 8192)
    big_log.changed["tile/0/001"] = good[:32] + bytes(32) + good[64:]
    try:
        with pytest.raises(LogInconsistent, match="tile/0/001 does not hash to hash 1 of its tile/1/000.p/2"):
            log.tree_hash(300)
    finally:
        big_log.changed.clear()


def test_an_entry_that_is_not_the_one_the_tree_holds_is_refused(big_log):
    big_log.published = 300
    entries = big_log.entries[256:300]
    big_log.changed["tile/entries/001.p/44"] = tiles.encode_entry_bundle([b"forged", *entries[1:]])
    try:
        with pytest.raises(
            LogInconsistent, match="entry 256 in the log's tile/entries/001.p/44 does not hash"
        ):
            list(opened(big_log, 300).entries(256))
    finally:
        big_log.changed.clear()


def test_a_tile_of_the_wrong_length_is_refused_and_one_not_served_could_not_be_checked():
    server = TileServer(numbered(3))
    server.changed["tile/0/000.p/3"] = bytes(64)
    with pytest.raises(LogInconsistent, match="tile/0/000.p/3 holds 64 bytes, not 3 hashes"):
        opened(server, 3)
    server.changed.clear()
    server.published = 2  # the portal serves less than the checkpoint it signed covers
    with pytest.raises(CouldNotCheck, match="does not serve tile/0/000.p/3, which its checkpoint of size 3"):
        TileLog(3, merkle.tree_hash(3, server.read), server.fetch)


def test_the_first_leaves_of_another_history_do_not_hash_to_the_remembered_root():
    remembered = TileServer(numbered(300))
    other = TileServer(numbered(299) + [b"rewritten"] + numbered(10, 300))

    assert opened(other, 310).tree_hash(300) != merkle.tree_hash(300, remembered.read)
    assert opened(other, 310).tree_hash(299) == merkle.tree_hash(299, remembered.read)


# --- Following a log: forks, rollbacks, what advances ------------------------------------------------


def key_entry(project="demo", key_id="aa" * 32, at=T0, by=SYSTEM):
    values = {
        "project": project,
        "key_id": key_id,
        "algorithm": "ed25519",
        "public_key_pem": "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n",
        "valid_from": at,
        "valid_until": None,
    }
    return canonical_entry("key_added", entry_body("key_added", values, by=by), at)


class NoEvidence:
    """The portal has no proof bundle of anything; a repository always says ``check``."""

    def __init__(self, check=None):
        self.check = check
        self.asked = []

    def fetch_release_bundle(self, release_id):
        self.asked.append(("release", release_id))

    def fetch_deployment_bundle(self, deployment_id):
        self.asked.append(("deployment", deployment_id))

    def fetch_branch_check(self, repo_url, commit, branch):
        self.asked.append(("branch", repo_url, commit, branch))
        if isinstance(self.check, Exception):
            raise self.check
        return self.check


def run(server, remembered=None, from_size=0, projects=frozenset()):
    """One monitor run over ``server``'s published checkpoint; ``(outcome, findings, forks kept)``."""
    findings, kept = [], []
    monitor = LogMonitor(
        server.verifier_key,
        fetch=server.fetch,
        evidence=NoEvidence(),
        emit=findings.append,
        keep_fork=lambda message, old, new: kept.append((old, new)) or Path("fork.txt"),
        projects=projects,
    )
    return monitor.run(server.checkpoint(), remembered, from_size=from_size), findings, kept


def remember(server, outcome):
    note_ = server.checkpoint()
    return Remembered(note_, note.verify_checkpoint(note_, server.verifier_key), outcome.knowledge)


def test_a_log_that_only_grew_is_followed_from_the_remembered_checkpoint():
    server = TileServer([key_entry(key_id=f"{n:064x}") for n in range(300)])
    outcome, findings, _ = run(server)
    assert outcome.advance and [f.index for f in findings] == list(range(300))
    remembered = remember(server, outcome)

    server.append(key_entry(key_id="ff" * 32))
    server.publish()
    outcome, findings, kept = run(server, remembered)

    assert (outcome.advance, outcome.old_size, outcome.new_size, kept) == (True, 300, 301, [])
    assert [(f.index, f.kind) for f in findings] == [(300, "key_added")]
    assert set(outcome.knowledge.keys["demo"]) == {f"{n:064x}" for n in range(300)} | {"ff" * 32}


@pytest.mark.parametrize("changed, grown", [(299, 0), (0, 5), (255, 2), (256, 1)])
def test_a_history_that_does_not_extend_the_remembered_one_is_a_fork_and_nothing_advances(changed, grown):
    entries = [key_entry(key_id=f"{n:064x}") for n in range(300)]
    first = TileServer(entries)
    remembered = remember(first, run(first)[0])
    entries[changed] = key_entry(key_id="ee" * 32)
    forked = TileServer(
        entries + [key_entry(key_id=f"{n:064x}", project="x") for n in range(grown)], first.key
    )

    outcome, findings, kept = run(forked, remembered)

    assert not outcome.advance
    [finding] = findings
    assert (finding.severity, finding.index, finding.kind) == ("problem", None, "fork")
    assert json.dumps(remembered.note, ensure_ascii=False) in finding.message
    assert json.dumps(forked.checkpoint(), ensure_ascii=False) in finding.message
    assert kept == [(remembered.note, forked.checkpoint())]


def test_a_smaller_log_is_a_rollback_and_the_same_log_again_is_nothing_new():
    server = TileServer([key_entry(key_id=f"{n:064x}") for n in range(10)])
    remembered = remember(server, run(server)[0])

    outcome, findings, _ = run(server, remembered)
    assert (outcome.advance, outcome.old_size, outcome.new_size, findings) == (True, 10, 10, [])

    server.published = 9
    outcome, findings, kept = run(server, remembered)
    assert not outcome.advance and [(f.kind, f.index) for f in findings] == [("rollback", None)]
    assert "WENT BACK from size 10 to size 9" in findings[0].message and len(kept) == 1


def test_a_checkpoint_not_signed_by_the_log_key_is_a_problem():
    server = TileServer([key_entry()])
    impostor = TileServer(server.entries)
    findings = []
    monitor = LogMonitor(
        server.verifier_key,
        fetch=impostor.fetch,
        evidence=NoEvidence(),
        emit=findings.append,
        keep_fork=lambda *notes: Path("unused"),
    )

    outcome = monitor.run(impostor.checkpoint(), None)

    assert not outcome.advance and [(f.kind, f.index) for f in findings] == [("bad_checkpoint", None)]


def test_from_size_reads_the_earlier_entries_and_reports_only_the_later_ones():
    server = TileServer([key_entry(key_id=f"{n:064x}") for n in range(5)])

    outcome, findings, _ = run(server, from_size=3)

    assert [f.index for f in findings] == [3, 4] and len(outcome.knowledge.keys["demo"]) == 5
    with pytest.raises(FormatError, match="--from-size 6 is past the log's size 5"):
        run(server, from_size=6)


def test_tiles_that_contradict_the_checkpoint_are_reported_and_nothing_advances():
    server = TileServer([key_entry(key_id=f"{n:064x}") for n in range(3)])
    server.changed["tile/entries/000.p/3"] = tiles.encode_entry_bundle([*server.entries[:2], key_entry()])

    outcome, findings, _ = run(server)

    # A bundle is checked whole before any of its entries is: none of these three is reported.
    assert not outcome.advance
    assert [(f.index, f.kind) for f in findings] == [(None, "log_inconsistent")]
    assert "entry 2 in the log's tile/entries/000.p/3 does not hash to its leaf hash" in findings[0].message


# --- The rules of each entry ---------------------------------------------------------------------------


def release_entry(release_id=7, *, key_id="aa" * 32, at=T0 + HOUR, project="demo", by=CI, keyless=None):
    values = {
        "project": project,
        "release_id": release_id,
        "version": f"1.0.{release_id}",
        "artifact_name": "app.tar.gz",
        "artifact_digest": "sha256:" + "ab" * 32,
        "source_commit": "cd" * 20,
        "repo_url": "https://github.com/city/app",
        "ci_build_url": "https://ci.example.org/1",
        "envelope_sha256": None if keyless else "ef" * 32,
        "signer_key_id": None if keyless else key_id,
        "registered_at": at,
        "sigstore_bundle_sha256": "01" * 32 if keyless else None,
        "certificate_issuer": keyless and "https://token.actions.githubusercontent.com",
        "certificate_identity": keyless
        and "https://github.com/city/app/.github/workflows/release.yml@refs/tags/v1",
        "source_ref": keyless,
        "sigstore_log_index": 42 if keyless else None,
        "components": None,
    }
    return canonical_entry("release", entry_body("release", values, by=by), at)


def revoked_entry(key_id="aa" * 32, at=T0, logged_at=None):
    values = {"project": "demo", "key_id": key_id, "revoked_at": at}
    return canonical_entry("key_revoked", entry_body("key_revoked", values, by=SYSTEM), logged_at or at)


def identity_entry(number=1, at=T0, ref="refs/heads/main", workflow=""):
    values = {
        "project": "demo",
        "identity_id": number,
        "issuer": "https://token.actions.githubusercontent.com",
        "repository": "https://github.com/city/app",
        "workflow": workflow,
        "ref": ref,
        "added_at": at,
    }
    return canonical_entry("identity_added", entry_body("identity_added", values, by=SYSTEM), at)


def checked(*entries, evidence=None, projects=frozenset()):
    """Every entry's findings, as ``(index, kind)``, checked in order by one checker."""
    checker = EntryChecker(
        Knowledge(), log_key="unused", evidence=evidence or NoEvidence(), projects=projects
    )
    return [(index, f.kind) for index, data in enumerate(entries) for f in checker.check(index, data)]


class ServedBundle(NoEvidence):
    """The portal serves one release bundle, whatever release is asked for."""

    def __init__(self, document):
        super().__init__()
        self.document = document

    def fetch_release_bundle(self, release_id):
        return bundle_tests.encode(self.document)


def test_a_bundle_whose_checkpoint_is_not_in_the_followed_tree_is_a_split_view():
    log, signer = bundle_tests.MemoryLog(), bundle_tests.key_pair()
    log.append({"v": 1, "type": "key_added", "project": "demo"})
    document = bundle_tests.release_document(log, signer, bundle_tests.random_commit())
    index, data = document["log"]["index"], log.entries[document["log"]["index"]]

    def kinds(tree):
        checker = EntryChecker(
            Knowledge(),
            log_key=log.verifier_key,
            evidence=ServedBundle(document),
            tree=tree,
            tree_size=len(log.entries),
        )
        return [f.kind for f in checker.check(index, data)]

    assert "split_view" not in kinds(lambda size: merkle.tree_hash(size, log.read))
    found = kinds(lambda size: b"\x09" * 32)
    assert found.count("split_view") == 1


def test_a_release_signed_by_a_key_revoked_before_it_is_untrusted_and_one_signed_before_is_not():
    findings = checked(
        key_entry(at=T0),
        release_entry(1, at=T0 + HOUR),
        revoked_entry(at=T0 + 2 * HOUR),
        release_entry(2, at=T0 + 3 * HOUR),
    )

    # The portal of NoEvidence serves no proof bundles: each release is also not verified.
    assert findings == [
        (0, "key_added"),
        (1, "release_not_verified"),
        (2, "key_revoked"),
        (3, "untrusted_key"),
        (3, "release_not_verified"),
    ]


def test_a_revocation_logged_later_that_reaches_back_before_a_release_makes_it_untrusted_once():
    checker = EntryChecker(Knowledge(), log_key="unused", evidence=NoEvidence())
    checker.check(0, key_entry(at=T0))
    checker.check(1, release_entry(1, at=T0 + 2 * HOUR), report=False)
    checker.check(2, release_entry(2, at=T0 + 4 * HOUR), report=False)

    findings = checker.check(3, revoked_entry(at=T0 + 3 * HOUR, logged_at=T0 + 5 * HOUR))
    again = checker.check(4, revoked_entry(at=T0 + HOUR, logged_at=T0 + 6 * HOUR))

    assert [(f.index, f.kind) for f in findings] == [(3, "key_revoked"), (3, "untrusted_key")]
    assert "release 1.0.2 of demo (entry 2)" in findings[1].message
    assert [(f.kind, "release 1.0.1" in f.message) for f in again] == [
        ("key_revoked", False),
        ("untrusted_key", True),
    ]


def test_a_release_signed_by_a_key_never_added_or_not_yet_valid_is_untrusted():
    never = checked(release_entry(1))
    early = checked(key_entry(at=T0 + 2 * HOUR), release_entry(1, at=T0 + HOUR))

    assert (0, "untrusted_key") in never
    assert (1, "untrusted_key") in early


def test_a_keyless_release_needs_a_ci_identity_active_then_that_accepts_its_certificate():
    knowledge = Knowledge()
    EntryChecker(knowledge, log_key="unused", evidence=NoEvidence()).check(
        0, identity_entry(1, ref="refs/tags/*")
    )
    certificate = Certificate(
        issuer="https://token.actions.githubusercontent.com",
        signer="https://github.com/city/app/.github/workflows/release.yml@refs/tags/v1",
        repository="https://github.com/city/app",
        ref="refs/tags/v1",
    )
    tagged = KnownRelease("demo", "1.0.0", 1, T0 + HOUR, None, certificate)
    assert knowledge.trust_refusal(tagged) == ""

    branch = dataclasses.replace(
        tagged, certificate=dataclasses.replace(certificate, ref="refs/heads/feature")
    )
    assert "identity 1: ref refs/heads/feature does not match refs/tags/*" in knowledge.trust_refusal(branch)
    before = dataclasses.replace(tagged, registered_at=T0 - HOUR)
    assert "(it trusted none)" in knowledge.trust_refusal(before)

    identity = knowledge.identities["demo"]["1"].identity
    knowledge.identities["demo"]["1"] = KnownIdentity(identity, T0, removed_at=T0 + HOUR)
    assert "(it trusted none)" in knowledge.trust_refusal(tagged)


def test_a_keyless_release_whose_identity_is_removed_later_with_an_earlier_time_becomes_untrusted():
    findings = checked(
        identity_entry(1, at=T0),
        release_entry(1, at=T0 + 2 * HOUR, keyless="refs/heads/main"),
        canonical_entry(
            "identity_removed",
            entry_body("identity_removed", {"project": "demo", "identity_id": 1, "removed_at": T0 + HOUR}),
            T0 + 3 * HOUR,
        ),
    )

    assert findings == [
        (0, "identity_added"),
        (1, "release_not_verified"),
        (2, "identity_removed"),
        (2, "untrusted_identity"),
    ]


def test_releases_and_deployments_must_say_who_entered_them_and_by_hand_is_a_notice():
    entry = {"type": "deployment"}
    assert author_findings(5, {**entry, "by": CI}, "it") == []
    assert author_findings(5, {**entry, "by": SYSTEM}, "it") == []
    [by_hand] = author_findings(5, {**entry, "by": {"kind": "operator", "name": "ana"}}, "it")
    assert (by_hand.severity, by_hand.kind, by_hand.message) == (
        "notice",
        "entered_by_hand",
        "it was entered by hand, by operator 'ana'",
    )
    [nobody] = author_findings(5, entry, "it")
    assert (nobody.severity, nobody.kind) == ("problem", "unattributed")
    [odd] = author_findings(5, {**entry, "by": {"kind": "robot", "name": "x"}}, "it")
    assert odd.kind == "unattributed" and "which is not a CI token, an operator or Vitrina" in odd.message


def test_a_deployed_release_must_come_from_the_protected_branch():
    assert ref_finding(3, "it", "refs/heads/main", "main") is None
    assert ref_finding(3, "it", "refs/heads/feature", "main").kind == "unprotected_branch"
    assert ref_finding(3, "it", "refs/tags/v1", "main").kind == "unprotected_branch"

    on = RepoCheck(commit_exists=True, on_branch=True, ahead_by=0, branch_head="cd" * 20)
    off = RepoCheck(commit_exists=True, on_branch=False, ahead_by=None, branch_head="ab" * 20)
    missing = RepoCheck(commit_exists=False, on_branch=False, ahead_by=None, branch_head="ab" * 20)
    assert repo_finding(3, "it", "u", "cd" * 20, "main", on) is None
    assert repo_finding(3, "it", "u", "cd" * 20, "main", off).kind == "unprotected_branch"
    assert "not in u at all" in repo_finding(3, "it", "u", "cd" * 20, "main", missing).message
    unknown = repo_finding(3, "it", "u", "cd" * 20, "main", "u did not answer")
    assert (unknown.severity, unknown.kind) == ("problem", "unknown_branch")


def test_party_changes_and_unknown_entry_types_are_notices_and_malformed_entries_problems():
    observer = canonical_entry(
        "observer_added",
        entry_body(
            "observer_added",
            {
                "observer_id": 3,
                "name": "la diaria",
                "key_id": "bb" * 32,
                "algorithm": "ed25519",
                "public_key_pem": "pem",
                "added_at": T0,
            },
            by=SYSTEM,
        ),
        T0,
    )
    witness = json.dumps(
        {
            "v": 1,
            "type": "witness_added",
            "name": "w1",
            "verifier_key": "w1+0cf7ba6a+BKw1",
            "url": "https://w1",
        }
    ).encode()
    future = json.dumps({"v": 2, "type": "release"}).encode()
    broken = json.dumps({"v": 1, "type": "key_revoked", "project": "demo", "key_id": "aa"}).encode()

    checker = EntryChecker(Knowledge(), log_key="unused", evidence=NoEvidence())
    [added] = checker.check(1, witness)
    assert added.message == "witness 'w1' (key w1+0cf7ba6a+BKw1) added, by nobody named"
    assert checked(observer, witness, future, b"not json", broken) == [
        (0, "observer_added"),
        (1, "witness_added"),
        (2, "unknown_entry_type"),
        (3, "malformed_entry"),
        (4, "malformed_entry"),
    ]


def test_only_the_projects_asked_for_are_reported_on_but_every_entry_is_learned_from():
    evidence = NoEvidence()
    checker = EntryChecker(Knowledge(), log_key="unused", evidence=evidence, projects=frozenset({"other"}))

    assert checker.check(0, key_entry(project="demo")) == []
    assert checker.check(1, release_entry(1, project="demo")) == []
    assert evidence.asked == []
    assert set(checker.knowledge.keys) == {"demo"} and set(checker.knowledge.releases) == {1}
    assert [f.kind for f in checker.check(2, key_entry(project="other"))] == ["key_added"]


# --- The state directory ----------------------------------------------------------------------------------


def test_the_state_is_written_atomically_and_read_back_under_the_log_key(tmp_path):
    server = TileServer([key_entry(), release_entry(1), revoked_entry(at=T0 + 2 * HOUR)])
    outcome, _, _ = run(server)
    store = MonitorState(tmp_path / "state")

    store.save(ORIGIN, server.verifier_key, server.checkpoint(), outcome.knowledge)
    remembered = store.load(ORIGIN, server.verifier_key)

    assert remembered.note == server.checkpoint() and remembered.checkpoint.size == 3
    assert remembered.knowledge == outcome.knowledge
    assert remembered.knowledge.keys["demo"]["aa" * 32].revoked_at == T0 + 2 * HOUR
    [path] = (tmp_path / "state").iterdir()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert store.load("another.origin/log", server.verifier_key) is None


def test_a_damaged_state_or_one_of_another_log_key_is_bad_input(tmp_path):
    server = TileServer([key_entry()])
    store = MonitorState(tmp_path)
    store.save(ORIGIN, server.verifier_key, server.checkpoint(), Knowledge())
    other = note.make_verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())

    with pytest.raises(CommandError, match="not the --log-key given"):
        store.load(ORIGIN, other)
    path = store.path_for(ORIGIN)
    path.write_text(path.read_text().replace('"keys"', '"kees"'))
    with pytest.raises(CommandError, match="is damaged"):
        store.load(ORIGIN, server.verifier_key)


def test_findings_are_one_line_each_and_json_for_the_webhook():
    finding = Finding("problem", None, "fork", "the log FORKED")
    assert finding.line() == "problem - fork: the log FORKED"
    assert Finding("notice", 4, "key_added", "x").to_json() == {
        "severity": "notice",
        "index": 4,
        "kind": "key_added",
        "message": "x",
    }


# --- The command and the webhook ------------------------------------------------------------------------


class Answering(ThreadingHTTPServer):
    """A loopback server answering every request with ``status``, recording POSTed bodies."""

    def __init__(self, status):
        self.status, self.bodies = status, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(server.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                """Quiet."""

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def test_the_webhook_gets_the_document_and_a_refusal_could_not_be_posted():
    accepting, refusing = Answering(204), Answering(500)
    try:
        post_webhook(accepting.url + "/hook", {"findings": [{"kind": "fork"}]})
        assert [json.loads(body) for body in accepting.bodies] == [{"findings": [{"kind": "fork"}]}]
        with pytest.raises(CouldNotCheck, match="answered HTTP 500"):
            post_webhook(refusing.url, {"findings": []})
    finally:
        accepting.close()
        refusing.close()


def monitor_command(*argv):
    result = subprocess.run(
        [sys.executable, "-m", "verifier", "monitor", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return result.returncode, result.stdout, result.stderr


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_command_says_in_one_line_what_it_could_not_do(tmp_path):
    key = TileServer().verifier_key
    common = ["--log-key", key, "--state", str(tmp_path / "state")]

    code, out, err = monitor_command(
        "--portal", f"http://127.0.0.1:{closed_port()}", *common, "--allow-private"
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert (
        err.startswith("monitor: could not check the log at http://127.0.0.1:")
        and "nothing was remembered" in err
    )

    code, _, err = monitor_command("--portal", f"http://127.0.0.1:{closed_port()}", *common)
    assert code == 2 and "add --allow-private" in err

    code, _, err = monitor_command("--portal", "http://127.0.0.1:1", "--log-key", "nope", "--state", "x")
    assert (code, err.count("\n")) == (3, 1) and "--log-key is neither a verifier key" in err

    code, _, err = monitor_command("--portal", "ftp://x", *common)
    assert code == 3 and "--portal must be an http:// or https:// URL" in err

    code, _, err = monitor_command("--portal", "http://x", *common, "--webhook", "file:///etc/passwd")
    assert code == 3 and "--webhook must be an http:// or https:// URL" in err

    code, _, err = monitor_command("--portal", "http://x", *common, "--project", "../x")
    assert code == 3 and "is not a slug" in err


def test_the_command_follows_a_portal_and_keeps_the_state_between_runs(tmp_path):
    server = TileServer([key_entry(key_id=f"{n:064x}") for n in range(3)])
    checkpoint = server.checkpoint().encode()

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            path = self.path.removeprefix("/log/")
            body = checkpoint if path == "checkpoint" else server.fetch(path, 1 << 24)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            """Quiet."""

    portal = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{portal.server_address[1]}"
    common = ["--portal", url, "--log-key", server.verifier_key, "--state", str(tmp_path), "--allow-private"]
    try:
        first = monitor_command(*common)
        second = monitor_command(*common)
        from_size = monitor_command(*common, "--from-size", "1")
    finally:
        portal.shutdown()
        portal.server_close()

    assert first[0] == 1 and first[1].count("notice ") == 3, first
    assert "RESULT: 3 findings (0 problems, 3 notices) in 3 new entries" in first[1]
    assert (
        second[0] == 0
        and second[1] == f"RESULT: no findings; the log {ORIGIN} is still at size 3, as remembered\n"
    )
    assert from_size[0] == 3 and "--from-size is for a first run" in from_size[2]
    assert format_time(T0) in first[1]

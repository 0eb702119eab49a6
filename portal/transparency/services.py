"""The transparency log: appending entries, sequencing them into the Merkle tree, proofs, self-audit.

Appends are sequenced by a batching sequencer, as in transparency-dev/tessera. ``append_entry`` runs
inside the transaction that writes the record it describes and only queues the entry (one INSERT into
``PendingEntry``, no lock and no read of the log), so a record and its entry commit together or not at
all, and appends of many writers commit in parallel. ``integrate`` is the one writer of the tree (a
PostgreSQL advisory lock; SQLite has one writer anyway): in one transaction it takes the committed
pending rows in id order, gives them the next indexes, moves them to ``LogEntry``, hashes them into the
tree from its right edge held in memory (``RightEdge``: O(log n) stored hashes read once), writes the new
``TreeHash`` rows and a signed ``Checkpoint`` per batch, and deletes the pending rows. A ``LogEntry`` row
therefore exists only once a committed checkpoint covers it. A row committed late with a lower id simply
gets a later index. After each commit that queued entries, the committing process integrates at once if
it has not tried in the last ``VITRINA_LOG_INTEGRATE_INTERVAL`` seconds and no other process is
integrating (``integrate_soon``); the Celery beat task is the backstop, every second. So an entry has its
index within about a second, and whoever needs it at once (the API's answer to a registration, a proof
bundle) asks ``entry_for``, which integrates first. Roots and proofs read O(log n) stored hashes in one
query; nothing ever loads the whole tree.

``audit`` re-derives everything from the entries' bytes, then runs the record audits the apps above
register (``register_record_audit``: the registry checks that its rows still say what they logged), and
records the outcome in ``AuditRun``. The log knows nothing of what its entries describe: the entry format
is ``verifier.entries``, the records are the registry's. A failed audit closes the log: ``append_entry``
raises ``LogClosed`` and ``integrate`` sequences nothing until an operator repairs what was changed and
``resolve_audit`` (``manage.py resolveaudit``) records a passing audit with the operator's note.
Sequencing on top of a tree that failed its audit could sign a checkpoint that contradicts a published
one, a fork that volunteers would see and that an append-only log could never take back.
"""

import base64
import json
import logging
import time
from collections import namedtuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.http import Refusal
from verifier.entries import canonical_entry, format_time, parse_entry
from verifier.errors import VerifierError
from verifier.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    tree_hash,
    verify_consistency,
)
from verifier.note import format_checkpoint, sign_note, verify_checkpoint
from verifier.tiles import encode_entry_bundle, tile_hash_indexes

from .models import AuditResolution, AuditRun, Checkpoint, LogEntry, PendingEntry, TreeHash
from .signing import LogKeyError, load_signing_key, verifier_key

logger = logging.getLogger(__name__)

# Any fixed 64-bit number; it names the integrator's lock among the application's advisory locks.
INTEGRATE_LOCK_ID = 0x56_49_54_52_49_4E_41_02

# Pending entries sequenced per checkpoint: one signature and three statements per 10,000 entries.
INTEGRATE_BATCH = 10_000
AUDIT_CHUNK = 1000


class LogRequestError(Refusal):
    """A proof or entry asked for with parameters the log cannot answer (a 400); ``field`` names the
    culprit."""


class LogCorrupted(Exception):
    """Stored log data contradicts itself: evidence that a row was changed behind the ORM's back."""


class LogClosed(Exception):
    """The log takes no new entries: its self-audit failed and no operator has resolved it since.

    ``message`` is one sentence for whoever asked (an API client, an operator at the admin or a shell).
    """

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# The sequencer's and the proofs' statements, in SQL both databases read ("index" is a keyword, quoted);
# each engine passes a list of ids or indexes its own way. The tables are the models' default names.
_SQL = {
    "postgresql": {
        "hashes": 'SELECT "index", hash FROM transparency_treehash WHERE "index" = ANY(%s)',
        "move": (
            'INSERT INTO transparency_logentry ("index", kind, object_id, entry, leaf_hash, logged_at) '
            "SELECT %s + ROW_NUMBER() OVER (ORDER BY id) - 1, kind, object_id, entry, leaf_hash, logged_at "
            "FROM transparency_pendingentry WHERE id = ANY(%s)"
        ),
        "dequeue": "DELETE FROM transparency_pendingentry WHERE id = ANY(%s)",
        "store": (
            'INSERT INTO transparency_treehash ("index", hash) '
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ),
    },
    "sqlite": {
        "hashes": (
            'SELECT "index", hash FROM transparency_treehash '
            'WHERE "index" IN (SELECT value FROM json_each(%s))'
        ),
        # No one else commits during the integrator's (IMMEDIATE) transaction: the batch is every row up to
        # its last id.
        "move": (
            'INSERT INTO transparency_logentry ("index", kind, object_id, entry, leaf_hash, logged_at) '
            "SELECT %s + ROW_NUMBER() OVER (ORDER BY id) - 1, kind, object_id, entry, leaf_hash, logged_at "
            "FROM transparency_pendingentry WHERE id <= %s"
        ),
        "dequeue": "DELETE FROM transparency_pendingentry WHERE id <= %s",
        "store": 'INSERT INTO transparency_treehash ("index", hash) VALUES (%s, %s)',
    },
}
_QUEUE = (
    "INSERT INTO transparency_pendingentry (kind, object_id, entry, leaf_hash, logged_at) "
    "SELECT %s, CAST(%s AS bigint), %s, %s, %s WHERE NOT EXISTS ({closure}) RETURNING id"
)
_NEXT_PENDING = "SELECT id, entry, leaf_hash FROM transparency_pendingentry ORDER BY id LIMIT %s"


def _sql(name):
    return _SQL[connection.vendor][name]


# --- Appending ----------------------------------------------------------------------------------------


def append_entry(kind, body, *, object_id=None):
    """Queue one entry in the caller's transaction and return its ``PendingEntry``; ``LogClosed`` while a
    failed self-audit is unresolved.

    ``body`` is built by ``verifier.entries.entry_body`` (one row of ``ENTRY_FIELDS``); this adds its schema
    version, type and time and encodes it (``canonical_entry``). The entry gets its index when ``integrate``
    sequences it, about a second after the transaction commits (``integrate_soon``); a transaction that
    rolls back leaves neither entry nor gap. One statement: the INSERT asks itself whether the log is open.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("append_entry must run inside the transaction that writes its record")
    logged_at = timezone.now()
    entry = canonical_entry(kind, body, logged_at)
    pending = PendingEntry(
        kind=kind, object_id=object_id, entry=entry, leaf_hash=leaf_hash(entry), logged_at=logged_at
    )
    sql, closure_params = _queue_if_open()
    stored_at = connection.ops.adapt_datetimefield_value(logged_at)
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, object_id, entry, pending.leaf_hash, stored_at, *closure_params])
        queued = cursor.fetchone()
    if queued is None:
        check_open()  # raises, saying since when the log is closed
        return append_entry(kind, body, object_id=object_id)  # resolved meanwhile
    pending.pk = queued[0]
    pending._state.adding = False
    transaction.on_commit(integrate_soon)
    return pending


def _queue_if_open():
    """The INSERT of a pending entry that inserts nothing while the log is closed, and its parameters after
    the entry's five: ``log_closure``'s own query (compiled once per process and database) inside the
    INSERT's condition, so an append costs one statement (the ORM's save would cost as much as the rest
    of the append)."""
    if connection.vendor not in _QUEUE_SQL:
        closure, params = AuditRun.objects.filter(_unresolved_failures()).values("id").query.sql_with_params()
        _QUEUE_SQL[connection.vendor] = (_QUEUE.replace("{closure}", closure), params)
    return _QUEUE_SQL[connection.vendor]


_QUEUE_SQL = {}  # database vendor -> (SQL, parameters of its closure query)


class _Attempts:
    """When this process last tried to integrate after a commit (``time.monotonic``)."""

    last = float("-inf")


def integrate_soon():
    """After a commit that queued entries: integrate now, unless this process tried less than
    ``VITRINA_LOG_INTEGRATE_INTERVAL`` seconds ago, another process is integrating or the latest checkpoint
    is younger than half that (then the other process, the next commit's attempt or the periodic task
    takes these entries). Half: this process's own last checkpoint, signed a moment after its last try,
    must not stop its next. Never raises: the record is committed whatever happens here, and a failure is
    logged."""
    interval = settings.VITRINA_LOG_INTEGRATE_INTERVAL
    now = time.monotonic()
    if now - _Attempts.last < interval:
        return
    _Attempts.last = now
    try:
        integrate(wait=False, unless_signed_within=interval / 2)
    except LogKeyError as exc:
        logger.error("log: entries not integrated after commit: %s", exc)
    except Exception:
        logger.exception("log: integrating after a commit failed; the periodic integration will retry")


def entry_for(kind, object_id):
    """The record's sequenced ``LogEntry``, or None when it has none; an entry still pending is integrated
    first (waiting for the integrator's lock). Raises ``LogKeyError`` or ``LogCorrupted`` when a pending
    entry cannot be integrated now."""
    found = LogEntry.objects.filter(kind=kind, object_id=object_id).first()
    if found is not None:
        return found
    pending = PendingEntry.objects.filter(kind=kind, object_id=object_id).first()
    if pending is None:
        # The integrator may have moved it between the two reads.
        return LogEntry.objects.filter(kind=kind, object_id=object_id).first()
    return sequenced(pending)


def index_of(kind, object_id):
    """The index of the record's entry (integrated first if pending), or None when it has none or it cannot
    be integrated now: for answers that must not fail because the log is busy or broken (the reason is
    logged), such as the API's answer to a registration that has committed."""
    try:
        entry = entry_for(kind, object_id)
    except (LogKeyError, LogCorrupted) as exc:
        logger.error("log: the index of %s %s is not known yet: %s", kind, object_id, exc)
        return None
    return entry.index if entry is not None else None


def sequenced(entry):
    """``entry`` as a ``LogEntry``: a ``PendingEntry`` is integrated first (waiting for the lock)."""
    if isinstance(entry, LogEntry):
        return entry
    integrate()
    found = LogEntry.objects.filter(
        kind=entry.kind, object_id=entry.object_id, leaf_hash=bytes(entry.leaf_hash)
    ).first()
    if found is None:
        failed = log_closure()
        why = " (the log is closed after a failed self-audit)" if failed is not None else ""
        raise LogCorrupted(f"pending {entry.kind} entry {entry.pk} could not be integrated{why}")
    return found


Logged = namedtuple("Logged", "index kind object_id entry")
Logged.__doc__ = """A record's entry as ``logged_entries`` reads it; ``index`` is None while it is pending."""


def logged_entries(condition):
    """The entries matching ``condition`` (a ``Q`` on ``kind`` and ``object_id``), sequenced or still
    pending, as ``Logged`` tuples, sequenced first by index then pending by id.

    One statement, so one snapshot: an entry the integrator moves meanwhile is seen exactly once. For the
    checks that a record has its entry, which must not call an entry queued a second ago missing.
    """
    fields = ("kind", "object_id", "entry")
    rows = LogEntry.objects.filter(condition).values_list("index", *fields).order_by()
    pending = PendingEntry.objects.filter(condition).order_by()
    # The pending rows' ids are marked by a negative sign: -id - 1, never a valid index.
    rows = rows.union(pending.annotate(neg=-F("id") - 1).values_list("neg", *fields), all=True)
    found = sorted(rows, key=lambda row: (row[0] < 0, abs(row[0])))
    return [
        Logged(index if index >= 0 else None, kind, object_id, bytes(entry))
        for index, kind, object_id, entry in found
    ]


# --- Reading the tree ---------------------------------------------------------------------------------


def _stored(indexes):
    """{index: hash} of the stored hashes among ``indexes``, in one query."""
    if not indexes:
        return {}
    indexes = list(indexes)
    with connection.cursor() as cursor:
        cursor.execute(
            _sql("hashes"), [indexes if connection.vendor == "postgresql" else json.dumps(indexes)]
        )
        return {index: bytes(h) for index, h in cursor.fetchall()}


def read_hashes(indexes):
    """The stored hashes at ``indexes``, in order: the ``read_hashes`` callable of ``verifier.merkle``."""
    found = _stored(indexes)
    missing = [index for index in indexes if index not in found]
    if missing:
        raise LogCorrupted(f"stored tree hashes {missing[:5]} are missing")
    return [found[index] for index in indexes]


def latest_checkpoint():
    return Checkpoint.objects.order_by("-size").first()


def tree_size():
    """The size of the integrated tree: that of the latest signed checkpoint (0 before the first)."""
    size = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first()
    return size or 0


def log_info():
    """What the log publishes about itself. Raises LogKeyError when the key file cannot be read."""
    checkpoint = latest_checkpoint()
    return {
        "origin": settings.VITRINA_LOG_ORIGIN,
        "verifier_key": verifier_key(),
        "tree_size": checkpoint.size if checkpoint else 0,
        "checkpoint": checkpoint.note if checkpoint else None,
    }


def get_entry(index):
    """An integrated entry, as the public API shows it."""
    found = LogEntry.objects.filter(index=index).values_list("entry", "leaf_hash").first()
    if index < 0 or found is None:
        size = tree_size()
        if not 0 <= index < size:
            raise LogRequestError(
                "index",
                f"index must be between 0 and {size - 1} (the integrated tree has {size} entries); "
                f"got {index}.",
            )
        raise LogCorrupted(f"entry {index} is missing although the tree covers it")
    data, leaf = bytes(found[0]), bytes(found[1])
    return {
        "index": index,
        "entry_b64": b64(data),
        "leaf_hash_b64": b64(leaf),
        "entry": parse_entry(data, what=f"log entry {index}"),
    }


def get_inclusion_proof(index, size):
    """PATH(index, D[size]) from the stored hashes, read in one query."""
    if size <= 0:
        raise _beyond_tree("tree_size", size)
    if not 0 <= index < size:
        raise LogRequestError(
            "index", f"index must be between 0 and {size - 1} for tree_size {size}; got {index}."
        )
    return _prove(lambda read: inclusion_proof(index, size, read), size, "tree_size")


def get_consistency_proof(first, second):
    """PROOF(first, D[second]) from the stored hashes, read in one query."""
    if second <= 0:
        raise _beyond_tree("second", second)
    if not 0 < first <= second:
        raise LogRequestError("first", f"first must be between 1 and second ({second}); got {first}.")
    return _prove(lambda read: consistency_proof(first, second, read), second, "second")


def _prove(prove, size, field):
    """``prove(read_hashes)`` on the stored hashes, refusing a ``size`` the tree has not reached.

    The hashes a proof needs and the stored hash of leaf ``size - 1`` are read in one query: that leaf's
    hash is stored in the transaction that signs the first checkpoint covering it, so it is there exactly
    when the integrated tree has ``size`` entries, and no separate read of the tree size is needed.
    """
    last_leaf = stored_hash_count(size - 1)
    read_once = []

    def read(indexes):
        found = _stored([*indexes, last_leaf])
        if last_leaf not in found:
            raise _beyond_tree(field, size)
        read_once.append(True)
        missing = [index for index in indexes if index not in found]
        if missing:
            raise LogCorrupted(f"stored tree hashes {missing[:5]} are missing")
        return [found[index] for index in indexes]

    proof = prove(read)
    if not read_once:  # a proof of no hashes (one entry, or equal sizes): the size is still checked
        read([])
    return proof


def _beyond_tree(field, size):
    integrated = tree_size()
    return LogRequestError(
        field, f"{field} must be between 1 and {integrated} (the integrated tree size); got {size}."
    )


def get_tile(level, index, width):
    """The bytes of hash tile ``index`` at ``level`` with ``width`` hashes, or None if not (yet) there.

    One query: a stored hash exists exactly when its subtree is complete and integrated, so the tile is
    there when all its hashes are.
    """
    indexes = tile_hash_indexes(level, index, width)
    found = _stored(indexes)
    if len(found) < width:
        return None
    return b"".join(found[i] for i in indexes)


def get_entry_bundle(index, width):
    """The entry bundle ``index`` with ``width`` entries, or None if not (yet) there: a ``LogEntry`` row
    exists only once a checkpoint covers it, so one query answers both."""
    first = index * 256
    entries = list(
        LogEntry.objects.filter(index__gte=first, index__lt=first + width)
        .order_by("index")
        .values_list("entry", flat=True)
    )
    if len(entries) < width:
        return None
    return encode_entry_bundle([bytes(entry) for entry in entries])


def b64(data):
    return base64.b64encode(data).decode("ascii")


# --- Integrating --------------------------------------------------------------------------------------


class RightEdge:
    """The tree of ``size`` entries as its right edge: the stored hashes of the complete subtrees it splits
    into, largest first (one per one-bit of ``size``, keyed by stored-hash index). That is all it takes to
    compute the hashes to store for the next entry (``append``) and the root (``root``), in memory."""

    def __init__(self, size=0, edge=None):
        self.size = size
        self.edge = {} if edge is None else edge

    @classmethod
    def of(cls, checkpoint):
        """The edge of the tree ``checkpoint`` signed, read in one query and checked against its root, so
        that a stored hash changed behind the application's back is never built upon."""
        if checkpoint is None:
            return cls()
        indexes = [stored_hash_index(level, n) for level, n in _whole_subtrees(checkpoint.size)]
        tree = cls(checkpoint.size, dict(zip(indexes, read_hashes(indexes), strict=True)))
        if tree.root() != bytes(checkpoint.root):
            raise LogCorrupted(
                f"the stored hashes of the tree's right edge do not give the root of the latest checkpoint "
                f"(size {checkpoint.size}); nothing was integrated"
            )
        return tree

    def append(self, leaf):
        """Add entry ``size`` by its leaf hash; return the hashes to store from row
        ``stored_hash_count(size)`` on (``verifier.merkle.stored_hashes``)."""
        index = self.size
        hashes = stored_hashes(index, leaf, self._read)
        top = len(hashes) - 1
        # The entry merged the left siblings of hashes[1:] into one subtree at the top level.
        for level in range(top):
            del self.edge[stored_hash_index(level, (index >> level) - 1)]
        self.edge[stored_hash_index(top, index >> top)] = hashes[-1]
        self.size += 1
        return hashes

    def root(self):
        return tree_hash(self.size, self._read)

    def _read(self, indexes):
        return [self.edge[index] for index in indexes]


def _whole_subtrees(size):
    """(level, n) of the complete subtrees the first ``size`` entries split into, largest first."""
    subtrees, start = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            subtrees.append((level, start >> level))
            start += 1 << level
    return subtrees


def integrate(*, limit=None, batch_size=INTEGRATE_BATCH, wait=True, unless_signed_within=None):
    """Sequence committed pending entries (at most ``limit``, oldest id first) in one transaction, signing
    a checkpoint per batch of ``batch_size``; return the latest checkpoint.

    ``wait`` False gives up at once, returning None, when another process holds the integrator's lock.
    ``unless_signed_within`` (seconds) does nothing, returning None, when the latest checkpoint is younger:
    the attempts after the commits of many processes then sign about one checkpoint per that interval
    between them, however many processes there are. Idempotent: with nothing pending it signs nothing
    (except the empty tree's checkpoint on a new log). While the log is closed after a failed self-audit
    it sequences nothing. The key is loaded first, so a missing key file fails before any lock is taken.
    Raises ``LogCorrupted``, integrating nothing, when the stored tree contradicts its latest checkpoint.
    """
    signing_key = load_signing_key()
    with transaction.atomic():
        if not _lock_integration(wait):
            return None
        latest = latest_checkpoint()
        if unless_signed_within is not None and latest is not None:
            if (timezone.now() - latest.created_at).total_seconds() < unless_signed_within:
                return None
        if log_closure() is not None:
            logger.warning("log: closed after a failed self-audit; pending entries wait for its resolution")
            return latest
        tree = RightEdge.of(latest)
        if _hash_entries_indexed_at_append(tree):
            latest = _sign_checkpoint(tree, signing_key)
        _check_entries_end(tree.size)
        remaining = limit
        while remaining is None or remaining > 0:
            batch = batch_size if remaining is None else min(batch_size, remaining)
            added = _sequence_batch(tree, batch)
            if added:
                latest = _sign_checkpoint(tree, signing_key)
                logger.info("log: integrated %d entries, tree size %d", added, tree.size)
            if remaining is not None:
                remaining -= added
            if added < batch:
                break
        if latest is None:
            latest = _sign_checkpoint(tree, signing_key)
    return latest


def _lock_integration(wait):
    """Take the integrator's lock to the end of the transaction; False if ``wait`` is False and another
    holds it. SQLite needs none: its transactions here begin IMMEDIATE, one writer at a time."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INTEGRATE_LOCK_ID])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [INTEGRATE_LOCK_ID])
        return cursor.fetchone()[0]


def _hash_entries_indexed_at_append(tree):
    """Hash into the tree the entries beyond it that already have their index: those the previous version
    of the log indexed when it appended them, before it had a queue, left uncovered by a checkpoint when
    it was upgraded. They must be first in the tree, in their order; returns how many there were."""
    rows = list(
        LogEntry.objects.filter(index__gte=tree.size)
        .order_by("index")
        .values_list("index", "entry", "leaf_hash")
    )
    indexes, hashes = [], []
    for index, entry, stored_leaf in rows:
        if index != tree.size or leaf_hash(bytes(entry)) != bytes(stored_leaf):
            raise LogCorrupted(
                f"log entry {index} beyond the latest checkpoint is not the next entry or does not match its "
                "leaf hash; nothing is integrated until an operator restores the entries"
            )
        row = stored_hash_count(tree.size)
        new = tree.append(bytes(stored_leaf))
        indexes.extend(range(row, row + len(new)))
        hashes.extend(new)
    if indexes:
        _insert_tree_hashes(indexes, hashes)
        logger.info("log: integrated %d entries indexed before the queue, tree size %d", len(rows), tree.size)
    return len(rows)


def _check_entries_end(size):
    """The sequenced entries must end where the tree does: entries removed behind the application's back
    would otherwise see their indexes given again, a fork of what a checkpoint published."""
    last = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    entries = 0 if last is None else last + 1
    if entries != size:
        raise LogCorrupted(
            f"the log's entries end at index {entries - 1} but its latest checkpoint covers {size} entries; "
            "nothing is integrated until an operator restores them"
        )


def _sequence_batch(tree, batch):
    """Give the ``batch`` oldest committed pending entries the next indexes, in one transaction's part:
    move them to ``LogEntry``, store their tree hashes and delete them from the queue. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_PENDING, [batch])
        rows = cursor.fetchall()
    if not rows:
        return 0
    first = tree.size
    ids, indexes, hashes = [], [], []
    for pk, entry, stored_leaf in rows:
        computed = leaf_hash(bytes(entry))
        if computed != bytes(stored_leaf):
            raise LogCorrupted(
                f"pending entry {pk}: its bytes do not match its leaf hash; nothing was integrated"
            )
        row = stored_hash_count(tree.size)
        new = tree.append(computed)
        indexes.extend(range(row, row + len(new)))
        hashes.extend(new)
        ids.append(pk)
    _move_to_log(ids, first)
    _insert_tree_hashes(indexes, hashes)
    return len(ids)


def _move_to_log(ids, first):
    """Insert pending rows ``ids`` (ascending) into ``LogEntry`` at indexes ``first``, ``first + 1``...,
    and delete them from the queue, without sending their bytes back to the database.

    PostgreSQL names the rows by id: a row with a lower id may commit meanwhile, and must wait for the next
    batch. SQLite lets no one commit meanwhile, so the batch is every row up to the last id.
    """
    which = ids if connection.vendor == "postgresql" else ids[-1]
    with connection.cursor() as cursor:
        cursor.execute(_sql("move"), [first, which])
        if cursor.rowcount != len(ids):
            raise LogCorrupted(f"{cursor.rowcount} pending entries were moved instead of {len(ids)}")
        cursor.execute(_sql("dequeue"), [which])


def _insert_tree_hashes(indexes, hashes):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_sql("store"), [indexes, hashes])
        else:
            cursor.executemany(_sql("store"), list(zip(indexes, hashes, strict=True)))


def _sign_checkpoint(tree, signing_key):
    root = tree.root()
    origin = settings.VITRINA_LOG_ORIGIN
    note = sign_note(format_checkpoint(origin, tree.size, root), origin, signing_key)
    return Checkpoint.objects.create(size=tree.size, root=root, note=note)


def ensure_integrated(entry):
    """The latest checkpoint, which covers ``entry``: a ``PendingEntry`` is integrated first (and a
    ``LogEntry`` always is, since it is written with the checkpoint that covers it)."""
    entry = sequenced(entry)
    checkpoint = latest_checkpoint()
    if checkpoint is None or checkpoint.size <= entry.index:
        raise LogCorrupted(f"entry {entry.index} is not covered by the latest checkpoint")
    return checkpoint


# --- Self-audit ---------------------------------------------------------------------------------------


# The record audits of the apps above the log, in the order they registered (see ``register_record_audit``).
_RECORD_AUDITS = []


def register_record_audit(record_audit):
    """Have every ``audit`` also run ``record_audit(chunk_size=...)``, an app's check that its records still
    say what their entries say: it returns one sentence on success and raises ``LogCorrupted`` (or a
    ``VerifierError``) on a difference, which fails the audit and closes the log.

    The registry registers its own when Django starts (``RegistryConfig.ready``): the audit of records needs
    both the records and the log, so it lives above the log, which must not import it. Registering twice is
    one registration.
    """
    if record_audit not in _RECORD_AUDITS:
        _RECORD_AUDITS.append(record_audit)


def audit(*, chunk_size=AUDIT_CHUNK):
    """Integrate what is pending, then re-derive the tree from the entries' bytes and check every stored
    hash and checkpoint against it, then run the registered record audits (every release, deployment and
    signing key still says what its entry says; an entry queued since, still pending, counts as logged).

    Integrating first makes the audit cover every entry committed before it started. It is skipped, with a
    warning, while the log key is unreadable; the log being closed makes it sequence nothing. Stored data
    that ``integrate`` finds contradictory fails the audit, with the audit's own finding when it has one
    (it says more precisely what was changed).

    Records an ``AuditRun``; a failure is logged as CRITICAL and turns the site's integrity banner red.
    """
    refused = None
    try:
        integrate()
    except LogKeyError as exc:
        logger.warning("log audit: pending entries not integrated first: %s", exc)
    except LogCorrupted as exc:
        refused = exc
    latest = latest_checkpoint()
    size = latest.size if latest else 0
    try:
        message = _audit(size, chunk_size)
        for record_audit in _RECORD_AUDITS:
            message += " " + record_audit(chunk_size=chunk_size)
        if refused is not None:
            raise refused
    except (LogCorrupted, VerifierError) as exc:
        return _failed_audit(exc, size)
    logger.info("log audit: %s", message)
    return AuditRun.objects.create(ok=True, message=message, tree_size=size)


def _failed_audit(exc, size):
    logger.critical("TRANSPARENCY LOG INTEGRITY CHECK FAILED: %s", exc)
    return AuditRun.objects.create(ok=False, message=str(exc), tree_size=size)


def _audit(size, chunk_size):
    vkey = _verifier_key_or_none()
    checkpoints = (
        Checkpoint.objects.filter(size__lte=size).order_by("size").values_list("size", "root", "note")
    ).iterator(chunk_size=chunk_size)
    next_checkpoint = next(checkpoints, None)
    tree = RightEdge()

    def check_checkpoints():
        nonlocal next_checkpoint
        while next_checkpoint is not None and next_checkpoint[0] == tree.size:
            _check_checkpoint(*next_checkpoint, tree.root(), vkey)
            next_checkpoint = next(checkpoints, None)

    check_checkpoints()
    for start in range(0, size, chunk_size):
        end = min(start + chunk_size, size)
        entries = list(
            LogEntry.objects.filter(index__gte=start, index__lt=end)
            .order_by("index")
            .values_list("index", "entry", "leaf_hash")
        )
        rows = list(
            TreeHash.objects.filter(index__gte=stored_hash_count(start), index__lt=stored_hash_count(end))
            .order_by("index")
            .values_list("index", "hash")
        )
        if [index for index, _, _ in entries] != list(range(start, end)):
            raise LogCorrupted(f"entries between {start} and {end - 1} are missing")
        if [index for index, _ in rows] != list(range(stored_hash_count(start), stored_hash_count(end))):
            raise LogCorrupted(f"stored tree hashes for entries {start} to {end - 1} are missing")
        rows = iter(rows)
        for index, entry, stored_leaf in entries:
            computed = leaf_hash(bytes(entry))
            if computed != bytes(stored_leaf):
                raise LogCorrupted(f"entry {index}: its bytes do not match its stored leaf hash")
            for h in tree.append(computed):
                row_index, row_hash = next(rows)
                if bytes(row_hash) != h:
                    raise LogCorrupted(
                        f"stored tree hash {row_index} (written with entry {index}) differs from the hash "
                        "recomputed from the entries"
                    )
            check_checkpoints()
    if next_checkpoint is not None:
        raise LogCorrupted(f"checkpoint of size {next_checkpoint[0]} is beyond the entries")
    checked_proofs = _check_new_checkpoints_consistent(size)
    signature = "signatures verified" if vkey else "signatures NOT verified (log key file unreadable)"
    return (
        f"{size} entries re-hashed; tree hashes and checkpoints match; {checked_proofs} consistency "
        f"proofs verified; {signature}."
    )


def _check_checkpoint(size, root, note, recomputed_root, vkey):
    root = bytes(root)
    if root != recomputed_root:
        raise LogCorrupted(
            f"checkpoint of size {size}: its root differs from the root recomputed from the entries"
        )
    if size == 0 and root != EMPTY_ROOT:
        raise LogCorrupted("the empty tree's checkpoint has a root other than SHA-256 of nothing")
    if vkey is None:
        return
    signed = verify_checkpoint(note, vkey, origin=settings.VITRINA_LOG_ORIGIN)
    if signed.size != size or signed.root != root:
        raise LogCorrupted(
            f"checkpoint of size {size}: its signed note does not match its stored size and root"
        )


def _check_new_checkpoints_consistent(size):
    """Each checkpoint since the last audit must extend the previous one, by a proof from stored hashes."""
    last = AuditRun.objects.filter(ok=True).order_by("-checked_at", "-id").values_list("tree_size", flat=True)
    since = last.first() or 0
    previous = Checkpoint.objects.filter(size__lte=since).order_by("-size").first()
    count = 0
    for checkpoint in Checkpoint.objects.filter(size__gt=since, size__lte=size).order_by("size").iterator():
        if previous is not None and previous.size > 0:
            proof = consistency_proof(previous.size, checkpoint.size, read_hashes)
            verify_consistency(
                previous.size, checkpoint.size, proof, bytes(previous.root), bytes(checkpoint.root)
            )
            count += 1
        previous = checkpoint
    return count


def _verifier_key_or_none():
    try:
        return verifier_key()
    except LogKeyError as exc:
        logger.warning("log audit: checkpoint signatures not checked: %s", exc)
        return None


def _unresolved_failures():
    resolved_up_to = AuditResolution.objects.order_by("-run_id").values("run_id")[:1]
    return Q(ok=False, id__gt=Coalesce(Subquery(resolved_up_to), 0))


def log_closure():
    """The latest failed audit no operator has resolved since: while there is one, the log is closed."""
    return AuditRun.objects.filter(_unresolved_failures()).order_by("-id").first()


def check_open():
    """Raise ``LogClosed`` while a failed self-audit is unresolved (``append_entry`` asks in its INSERT)."""
    failed = log_closure()
    if failed is not None:
        raise LogClosed(
            f"The transparency log failed its self-audit at {format_time(failed.checked_at)} and takes no "
            "new entries until an operator resolves it; nothing was recorded. Try again later."
        )


def resolve_audit(note, *, chunk_size=AUDIT_CHUNK):
    """Run the self-audit again on an operator's word; reopen the log only if it passes.

    Returns ``(run, resolution)``: the new ``AuditRun`` and, if it passed while the log was closed, the
    ``AuditResolution`` recording ``note``; ``resolution`` is None when the audit failed (the log stays
    closed) or when there was nothing to resolve. There is no acknowledgement of a failure that still
    stands: new entries on top of a tree that no longer matches its checkpoints would fork the log.
    """
    note = note.strip()
    if not note:
        raise ValueError("a note is required: say what was found and what was repaired")
    failed = log_closure()
    run = audit(chunk_size=chunk_size)
    if not run.ok or failed is None:
        return run, None
    resolution = AuditResolution.objects.create(run=run, failed_run=failed, note=note)
    logger.warning(
        "transparency log reopened by an operator after the self-audit failure of %s: %s",
        format_time(failed.checked_at),
        note,
    )
    return run, resolution


def log_integrity():
    """The verdict the site shows: the latest unresolved failure, else the latest audit; None before any.

    One query, on every page.
    """
    latest = AuditRun.objects.order_by("-checked_at", "-id").values("id")[:1]
    run = (
        AuditRun.objects.filter(_unresolved_failures() | Q(id=Subquery(latest))).order_by("ok", "-id").first()
    )
    if run is None:
        return None
    return {"ok": run.ok, "message": run.message, "checked_at": run.checked_at}


__all__ = [
    "LogClosed",
    "append_entry",
    "audit",
    "check_open",
    "entry_for",
    "format_time",
    "integrate",
    "log_closure",
    "parse_entry",
    "register_record_audit",
    "resolve_audit",
]

"""The transparency log: appending entries, integrating them into the Merkle tree, proofs, self-audit.

``append_entry`` must run inside the transaction that writes the record it describes, so a record
and its entry exist together or not at all. Indexes are dense and consecutive: appends are serialised
by a PostgreSQL advisory lock held to the end of the transaction (SQLite serialises writers itself).

``integrate`` then adds pending entries to the tree, one writer at a time (another advisory lock), in
batches: each batch writes the new stored hashes (``TreeHash``) and a signed ``Checkpoint`` in one
transaction, so the tree and its checkpoint never disagree. Roots and proofs read O(log n) stored
hashes; nothing ever loads the whole tree.

``audit`` re-derives everything from the entries' bytes, then runs the record audits the apps above
register (``register_record_audit``: the registry checks that its rows still say what they logged), and
records the outcome in ``AuditRun``. The log knows nothing of what its entries describe: the entry format
is ``verifier.entries``, the records are the registry's. A failed audit closes the log: ``append_entry``
raises ``LogClosed`` until an operator repairs what was changed and ``resolve_audit`` (``manage.py
resolveaudit``) records a passing audit with the operator's note. Appending after a failure could give
new entries indexes that a published checkpoint already covers, a fork that volunteers would see and
that an append-only log could never take back.
"""

import base64
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.http import Refusal
from verifier.entries import canonical_entry, format_time, parse_entry
from verifier.errors import VerifierError
from verifier.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
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
from verifier.tiles import encode_entry_bundle, tile_hash_indexes, tile_width_for

from .models import AuditResolution, AuditRun, Checkpoint, LogEntry, TreeHash
from .signing import LogKeyError, load_signing_key, verifier_key

logger = logging.getLogger(__name__)

# Any fixed 64-bit numbers; they name the log's locks among the application's advisory locks.
APPEND_LOCK_ID = 0x56_49_54_52_49_4E_41_01
INTEGRATE_LOCK_ID = 0x56_49_54_52_49_4E_41_02

INTEGRATE_BATCH = 1000
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


def lock_log():
    """Serialise appends until the end of the current transaction."""
    _advisory_xact_lock(APPEND_LOCK_ID)


def _advisory_xact_lock(lock_id):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


# --- Appending ----------------------------------------------------------------------------------------


def append_entry(kind, body, *, object_id=None):
    """Append one entry and return it; its index is final once the caller's transaction commits.

    ``body`` is built by ``verifier.entries.entry_body`` (one row of ``ENTRY_FIELDS``); this adds its schema
    version, type and time and encodes it (``canonical_entry``).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("append_entry must run inside the transaction that writes its record")
    lock_log()
    check_open()
    last = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    index = 0 if last is None else last + 1
    covered = tree_size()
    if index < covered:
        # Entries were removed behind the application's back and no audit has run since.
        raise LogClosed(
            f"The transparency log is missing entries its published checkpoint covers (the next entry "
            f"would take index {index}, the checkpoint covers {covered}); it takes no new entries until an "
            "operator restores them; nothing was recorded."
        )
    logged_at = timezone.now()
    entry = canonical_entry(kind, body, logged_at)
    return LogEntry.objects.create(
        index=index,
        kind=kind,
        object_id=object_id,
        entry=entry,
        leaf_hash=leaf_hash(entry),
        logged_at=logged_at,
    )


def entry_for(kind, object_id):
    return LogEntry.objects.filter(kind=kind, object_id=object_id).first()


# --- Reading the tree ---------------------------------------------------------------------------------


def read_hashes(indexes):
    """The stored hashes at ``indexes``, in order: the ``read_hashes`` callable of ``verifier.merkle``."""
    found = dict(TreeHash.objects.filter(index__in=indexes).values_list("index", "hash"))
    missing = [index for index in indexes if index not in found]
    if missing:
        raise LogCorrupted(f"stored tree hashes {missing[:5]} are missing")
    return [bytes(found[index]) for index in indexes]


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
    size = tree_size()
    if not 0 <= index < size:
        raise LogRequestError(
            "index",
            f"index must be between 0 and {size - 1} (the integrated tree has {size} entries); got {index}.",
        )
    entry = LogEntry.objects.get(index=index)
    data = bytes(entry.entry)
    return {
        "index": index,
        "entry_b64": b64(data),
        "leaf_hash_b64": b64(bytes(entry.leaf_hash)),
        "entry": parse_entry(data, what=f"log entry {index}"),
    }


def get_inclusion_proof(index, size):
    integrated = tree_size()
    if not 0 < size <= integrated:
        raise LogRequestError(
            "tree_size",
            f"tree_size must be between 1 and {integrated} (the integrated tree size); got {size}.",
        )
    if not 0 <= index < size:
        raise LogRequestError(
            "index", f"index must be between 0 and {size - 1} for tree_size {size}; got {index}."
        )
    return inclusion_proof(index, size, read_hashes)


def get_consistency_proof(first, second):
    integrated = tree_size()
    if not 0 < second <= integrated:
        raise LogRequestError(
            "second", f"second must be between 1 and {integrated} (the integrated tree size); got {second}."
        )
    if not 0 < first <= second:
        raise LogRequestError("first", f"first must be between 1 and second ({second}); got {first}.")
    return consistency_proof(first, second, read_hashes)


def get_tile(level, index, width):
    """The bytes of hash tile ``index`` at ``level`` with ``width`` hashes, or None if not (yet) there."""
    available = tile_width_for(level, index, tree_size())
    if available is None or width > available:
        return None
    return b"".join(read_hashes(tile_hash_indexes(level, index, width)))


def get_entry_bundle(index, width):
    available = tile_width_for(0, index, tree_size())
    if available is None or width > available:
        return None
    first = index * 256
    entries = LogEntry.objects.filter(index__gte=first, index__lt=first + width).order_by("index")
    return encode_entry_bundle([bytes(entry) for entry in entries.values_list("entry", flat=True)])


def b64(data):
    return base64.b64encode(data).decode("ascii")


# --- Integrating --------------------------------------------------------------------------------------


def integrate(*, limit=None, batch_size=INTEGRATE_BATCH):
    """Integrate pending entries (at most ``limit``) and sign a checkpoint per batch; return the latest.

    Idempotent: with nothing pending it signs nothing (except the empty tree's checkpoint on a new
    log). The key is loaded first, so a missing key file fails before any lock is taken.
    """
    signing_key = load_signing_key()
    remaining = limit
    while True:
        batch = batch_size if remaining is None else min(batch_size, remaining)
        with transaction.atomic():
            _advisory_xact_lock(INTEGRATE_LOCK_ID)
            added = _integrate_batch(signing_key, batch)
        if remaining is not None:
            remaining -= added
        if added < batch or added == 0 or remaining == 0:
            return latest_checkpoint()


def _integrate_batch(signing_key, batch):
    latest = latest_checkpoint()
    size = latest.size if latest else 0
    pending = LogEntry.objects.filter(index__gte=size).order_by("index")
    written = {}

    def read(indexes):
        from_db = iter(read_hashes([i for i in indexes if i not in written]))
        return [written[i] if i in written else next(from_db) for i in indexes]

    for index, entry, stored_leaf in pending.values_list("index", "entry", "leaf_hash")[:batch]:
        if index != size:
            # Appends are dense; a gap can only be a transaction not yet visible here. Stop before it.
            break
        computed = leaf_hash(bytes(entry))
        if computed != bytes(stored_leaf):
            raise LogCorrupted(f"entry {index}: its bytes do not match its stored leaf hash; not integrated")
        first_row = stored_hash_count(size)
        for offset, h in enumerate(stored_hashes(size, computed, read)):
            written[first_row + offset] = h
        size += 1
    added = size - (latest.size if latest else 0)
    if added == 0 and latest is not None:
        return 0
    TreeHash.objects.bulk_create([TreeHash(index=i, hash=h) for i, h in sorted(written.items())])
    root = tree_hash(size, read)
    origin = settings.VITRINA_LOG_ORIGIN
    note = sign_note(format_checkpoint(origin, size, root), origin, signing_key)
    Checkpoint.objects.create(size=size, root=root, note=note)
    logger.info("log: integrated %d entries, tree size %d", added, size)
    return added


def ensure_integrated(entry):
    """The latest checkpoint, integrating first if ``entry`` is not yet in the tree."""
    if tree_size() <= entry.index:
        integrate()
    checkpoint = latest_checkpoint()
    if checkpoint is None or checkpoint.size <= entry.index:
        raise LogCorrupted(f"entry {entry.index} could not be integrated into the tree")
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
    """Re-derive the tree from the entries' bytes and check every stored hash and checkpoint against it,
    then run the registered record audits (every release, deployment and signing key still says what its
    entry says).

    Records an ``AuditRun``; a failure is logged as CRITICAL and turns the site's integrity banner red.
    """
    latest = latest_checkpoint()
    size = latest.size if latest else 0
    try:
        message = _audit(size, chunk_size)
        for record_audit in _RECORD_AUDITS:
            message += " " + record_audit(chunk_size=chunk_size)
    except (LogCorrupted, VerifierError) as exc:
        logger.critical("TRANSPARENCY LOG INTEGRITY CHECK FAILED: %s", exc)
        return AuditRun.objects.create(ok=False, message=str(exc), tree_size=size)
    logger.info("log audit: %s", message)
    return AuditRun.objects.create(ok=True, message=message, tree_size=size)


def _audit(size, chunk_size):
    vkey = _verifier_key_or_none()
    checkpoints = (
        Checkpoint.objects.filter(size__lte=size).order_by("size").values_list("size", "root", "note")
    ).iterator(chunk_size=chunk_size)
    pending_checkpoint = next(checkpoints, None)
    builder = TreeBuilder()
    edge = {}  # the right edge of the tree: stored index -> hash, O(log n) of them

    def check_checkpoints():
        nonlocal pending_checkpoint
        while pending_checkpoint is not None and pending_checkpoint[0] == builder.size:
            _check_checkpoint(*pending_checkpoint, builder.root(), vkey)
            pending_checkpoint = next(checkpoints, None)

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
            expected = stored_hashes(index, computed, lambda indexes: [edge[i] for i in indexes])
            for h in expected:
                row_index, row_hash = next(rows)
                if bytes(row_hash) != h:
                    raise LogCorrupted(
                        f"stored tree hash {row_index} (written with entry {index}) differs from the hash "
                        "recomputed from the entries"
                    )
            _advance_edge(edge, index, expected)
            builder.append(computed)
            check_checkpoints()
    if pending_checkpoint is not None:
        raise LogCorrupted(f"checkpoint of size {pending_checkpoint[0]} is beyond the entries")
    checked_proofs = _check_new_checkpoints_consistent(size)
    signature = "signatures verified" if vkey else "signatures NOT verified (log key file unreadable)"
    return (
        f"{size} entries re-hashed; tree hashes and checkpoints match; {checked_proofs} consistency "
        f"proofs verified; {signature}."
    )


def _advance_edge(edge, index, hashes):
    """Entry ``index`` merged the left siblings of ``hashes[1:]`` into one subtree at the top level."""
    top = len(hashes) - 1
    for level in range(top):
        del edge[stored_hash_index(level, (index >> level) - 1)]
    edge[stored_hash_index(top, index >> top)] = hashes[-1]


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
    """Raise ``LogClosed`` while a failed self-audit is unresolved; ``append_entry`` always checks."""
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

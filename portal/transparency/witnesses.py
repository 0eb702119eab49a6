"""Witnesses: independent parties that cosign the log's checkpoints (C2SP tlog-witness, tlog-cosignature v1).

The one home of witnessing. An operator registers a witness by its verifier key and submission prefix
(``add_witness``; ``remove_witness`` stops asking it), each a log entry written with the row. The witness
task calls ``cosign_latest`` for each witness: it offers the latest checkpoint with a consistency proof
from the size the witness last held, and stores the cosignature only after it verifies under the
witness's key. A witness that holds a checkpoint the log cannot extend (a larger size, or the same size
with another root) is reported, never followed. A witness's failures are its own: they back off and are
recorded on its row, and appending to the log never waits for any witness.

``cosigned_note`` is what the log serves as a checkpoint (``/log/checkpoint``, the log API, the proof
bundles): the log's signed note with the stored cosignature lines appended. ``checkpoint_for_bundle``
picks the checkpoint a proof bundle carries.
"""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.http import Refusal
from verifier.cosignature import cosignatures_of, parse_cosigner_vkey, with_signatures
from verifier.entries import entry_body, entry_fields
from verifier.errors import CouldNotCheck, VerifierError
from verifier.note import MAX_SIGNATURES
from verifier.witness import WitnessConflict, request_cosignature

from . import services
from .actors import actor
from .models import Checkpoint, Cosignature, Witness

logger = logging.getLogger(__name__)

# After a failure a witness is asked again after 2 s, then 4, 8... up to 10 minutes.
FIRST_BACKOFF_SECONDS = 2
MAX_BACKOFF_SECONDS = 600
# A run holds a witness (``retry_at``) for its two attempts and this much more, so that overlapping runs
# of the task never ask the same witness twice at once; a run that died frees it when that time is over.
CLAIM_SLACK_SECONDS = 5
# A proof bundle's checkpoint is chosen among the newest this many checkpoints that cover its entry.
BUNDLE_CHECKPOINT_WINDOW = 1000
MAX_ERROR_CHARACTERS = 500


class Refused(Refusal):
    """An operator's request about a witness refused: the field at fault and one sentence (a 4xx, or 503
    while the log is closed)."""


# --- Registering ----------------------------------------------------------------------------------


@transaction.atomic
def add_witness(name, verifier_key, url, *, user=None):
    """Register a witness: its public name (the name of its key), its cosignature/v1 verifier key and its
    submission prefix (http or https). The row and its ``witness_added`` entry are written together.

    A name or key already registered, even to a witness since removed, is refused (409): one witness never
    counts twice.
    """
    name, verifier_key, url = (name or "").strip(), (verifier_key or "").strip(), (url or "").strip()
    try:
        cosigner = parse_cosigner_vkey(verifier_key)
    except VerifierError as exc:
        raise Refused("verifier_key", f"{exc}.") from exc
    if len(verifier_key) > Witness._meta.get_field("verifier_key").max_length:
        raise Refused("verifier_key", "The verifier key is too long for a cosignature/v1 Ed25519 key.")
    if name != cosigner.name:
        raise Refused(
            "name",
            f"The name {name[:60]!r} is not the name in the verifier key ({cosigner.name!r}); a witness is "
            "named by its key.",
        )
    if len(name) > Witness._meta.get_field("name").max_length:
        raise Refused("name", "The name is longer than 200 characters.")
    _check_url(url)
    if Witness.objects.filter(name=name).exists():
        raise Refused("name", f"There is already a witness named '{name}'.", status=409)
    holder = Witness.objects.filter(verifier_key=verifier_key).first()
    if holder is not None:
        raise Refused("verifier_key", f"This key is already the key of witness '{holder.name}'.", status=409)
    witness = Witness.objects.create(name=name, verifier_key=verifier_key, url=url, added_at=timezone.now())
    _append("witness_added", witness_added_entry_body(witness, by=actor(user=user)), witness)
    return witness


@transaction.atomic
def remove_witness(witness, *, user=None):
    """Stop asking ``witness`` to cosign from now on; its ``witness_removed`` entry is written with the row.
    The cosignatures it gave stay. Removing a removed witness changes nothing."""
    witness = Witness.objects.select_for_update().get(pk=witness.pk)
    if witness.removed_at is not None:
        return witness
    witness.removed_at = timezone.now()
    witness.save(update_fields=["removed_at"])
    _append("witness_removed", witness_removed_entry_body(witness, by=actor(user=user)), witness)
    return witness


def witness_added_entry_body(witness, *, by=None):
    return _row_entry_body("witness_added", witness, by)


def witness_removed_entry_body(witness, *, by=None):
    return _row_entry_body("witness_removed", witness, by)


def _row_entry_body(kind, witness, by):
    return entry_body(kind, {name: getattr(witness, name) for name in entry_fields(kind).members}, by=by)


def _append(kind, body, witness):
    try:
        services.append_entry(kind, body, object_id=witness.pk)
    except services.LogClosed as exc:
        raise Refused(None, exc.message, status=503) from exc


def _check_url(url):
    if len(url) > Witness._meta.get_field("url").max_length:
        raise Refused("url", "The submission prefix is longer than 500 characters.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise Refused(
            "url",
            f"The submission prefix {url[:80]!r} is not an http or https URL, e.g. "
            "https://witness.example/ (the portal posts to <prefix>/add-checkpoint).",
        ) from None
    if "?" in url or "#" in url:
        raise Refused("url", "The submission prefix must not have a query or a fragment.")


def active_witnesses():
    return Witness.objects.filter(removed_at__isnull=True)


def key_id(witness):
    """The witness's key ID as its verifier key spells it (8 hex digits), as its signature lines carry it."""
    return witness.verifier_key.split("+")[1]


# --- Asking for cosignatures ------------------------------------------------------------------------


def witnesses_due(checkpoint, now=None):
    """The active witnesses not backing off that have not cosigned ``checkpoint``: one query."""
    now = now or timezone.now()
    return (
        active_witnesses()
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .exclude(cosignatures__checkpoint=checkpoint)
    )


def cosign_latest(witness, *, timeout):
    """Ask ``witness`` to cosign the latest checkpoint, if it is active, not backing off and has not yet;
    return the stored ``Cosignature``, or None when there is none to store (not due, or the witness failed).

    The old size offered is the size the witness last said it holds (``known_size``), else that of its
    latest stored cosignature, else 0. A 409 naming a size the log has is taken as the witness's word and
    the request made again at once from that size; a 409 naming a larger size, or the same size with
    another root, is a fork of the log or the witness's fault: it is recorded and logged, nothing is
    stored, and the size is not followed. Refusals, garbage and network trouble back off (2 s doubling up
    to 10 minutes) with the reason in ``last_error``; a success resets them. Never raises for a witness's
    fault; a cosignature is stored only after it verifies under the witness's key.
    """
    checkpoint = services.latest_checkpoint()
    if checkpoint is None or not witnesses_due(checkpoint).filter(pk=witness.pk).exists():
        return None
    if not _claim(witness, timeout):
        return None
    witness.refresh_from_db()
    try:
        cosigner = parse_cosigner_vkey(witness.verifier_key)
    except VerifierError as exc:
        return _failed(witness, f"its verifier key cannot be read: {exc}")
    old = _old_size(witness)
    if old > checkpoint.size:
        return _not_followed(witness, checkpoint, old)
    for attempt in (1, 2):
        try:
            found = request_cosignature(
                witness.url,
                checkpoint.note,
                old,
                _proof(old, checkpoint.size),
                cosigner,
                timeout=timeout,
                allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES,
            )
        except WitnessConflict as conflict:
            if conflict.size is None or conflict.size > checkpoint.size:
                return _not_followed(witness, checkpoint, conflict.size)
            if attempt == 2 or conflict.size == old:
                return _failed(witness, f"it answered 409 (it holds size {conflict.size}) to old size {old}")
            old = conflict.size
            Witness.objects.filter(pk=witness.pk).update(known_size=old)
            continue
        except (CouldNotCheck, VerifierError) as exc:
            return _failed(witness, str(exc))
        return _store(witness, checkpoint, cosigner, found)
    return None


def _claim(witness, timeout):
    """Hold the witness for this run, unless another run holds it or it is backing off."""
    now = timezone.now()
    until = now + datetime.timedelta(seconds=2 * timeout + CLAIM_SLACK_SECONDS)
    held = (
        Witness.objects.filter(pk=witness.pk, removed_at__isnull=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .update(retry_at=until)
    )
    return held == 1


def _old_size(witness):
    if witness.known_size is not None:
        return witness.known_size
    latest = witness.cosignatures.order_by("-checkpoint__size").values_list("checkpoint__size", flat=True)
    return latest.first() or 0


def _proof(old, new):
    if old == 0 or old == new:
        return []
    return services.get_consistency_proof(old, new)


def _store(witness, checkpoint, cosigner, found):
    """Store ``found`` once it verifies as ``cosigner``'s cosignature of ``checkpoint`` (checked here too,
    whatever the client checked: nothing a witness says that does not verify is ever stored)."""
    try:
        verified = cosignatures_of(with_signatures(checkpoint.note, [found.line]), [cosigner])
    except VerifierError as exc:
        return _failed(witness, f"its cosignature does not verify: {exc}")
    if not verified or verified[0].line != found.line:
        return _failed(witness, "its answer holds no cosignature of the checkpoint by its key")
    try:
        with transaction.atomic():
            cosignature = Cosignature.objects.create(
                checkpoint=checkpoint, witness=witness, timestamp=verified[0].timestamp, line=found.line
            )
    except IntegrityError:  # another run stored one first
        cosignature = Cosignature.objects.get(checkpoint=checkpoint, witness=witness)
    Witness.objects.filter(pk=witness.pk).update(
        known_size=checkpoint.size, failures=0, retry_at=None, last_error=""
    )
    logger.info("witness %s cosigned the checkpoint of size %d", witness.name, checkpoint.size)
    return cosignature


def _not_followed(witness, checkpoint, size):
    """A witness that holds what the log cannot extend: a fork of the log, or the witness's fault."""
    if size is None:
        said = f"it holds another checkpoint of the same size {checkpoint.size}"
    else:
        said = f"it holds size {size}, more than the log's latest checkpoint (size {checkpoint.size})"
    logger.warning(
        "witness %s: %s: a fork of the log or a fault of the witness; not followed, nothing stored "
        "(witness size %s, log size %d)",
        witness.name,
        said,
        "the same" if size is None else size,
        checkpoint.size,
    )
    return _failed(witness, f"{said}: a fork of the log or a fault of the witness; not followed")


def _failed(witness, reason):
    """Record a failure in one sentence and back off; nothing is stored."""
    failures = witness.failures + 1
    delay = min(FIRST_BACKOFF_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
    sentence = reason.strip().rstrip(".")[:MAX_ERROR_CHARACTERS] + "."
    Witness.objects.filter(pk=witness.pk).update(
        failures=failures,
        retry_at=timezone.now() + datetime.timedelta(seconds=delay),
        last_error=sentence[0].upper() + sentence[1:],
    )
    logger.info("witness %s: %s (failure %d, next try in %d s)", witness.name, sentence, failures, delay)
    return None


# --- Serving cosigned checkpoints ------------------------------------------------------------------


def cosigned_note(checkpoint):
    """``checkpoint``'s signed note with the stored cosignature lines appended (each witness's, removed
    witnesses' too: each verified when it was stored). The one checkpoint the log serves."""
    lines = checkpoint.cosignatures.order_by("witness_id").values_list("line", flat=True)
    return with_signatures(checkpoint.note, list(lines[: MAX_SIGNATURES - 1]))


def checkpoint_for_bundle(entry_index):
    """The checkpoint a proof bundle of entry ``entry_index`` carries: among the newest
    ``BUNDLE_CHECKPOINT_WINDOW`` checkpoints that cover the entry, the one with the most cosignatures of
    active witnesses, the newest of those; so the latest when none is cosigned. One query; None when no
    checkpoint covers the entry yet."""
    covering = Checkpoint.objects.filter(size__gt=entry_index)
    window_start = covering.order_by("-size").values("size")[
        BUNDLE_CHECKPOINT_WINDOW - 1 : BUNDLE_CHECKPOINT_WINDOW
    ]
    active = Q(cosignatures__witness__removed_at__isnull=True)
    return (
        covering.filter(
            size__gte=Coalesce(Subquery(window_start), Value(entry_index + 1), output_field=IntegerField())
        )
        .annotate(cosigned_by=Count("cosignatures", filter=active))
        .order_by("-cosigned_by", "-size")
        .first()
    )

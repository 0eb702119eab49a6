"""The append-only transparency log's rows.

A ``LogEntry`` is one record's canonical JSON (RFC 8785) with its RFC 9162 leaf hash and its index in
the log. Entries are written in the same transaction as the record they describe and are never
changed or deleted.

Integrating entries into the Merkle tree writes ``TreeHash`` rows (one per complete subtree, numbered
as in ``verifier.merkle.stored_hash_index``) and a signed ``Checkpoint``. Both are append-only too,
and so are ``AuditRun``, the history of the self-audit that re-derives the tree from the entries, and
``AuditResolution``, an operator's reopening of the log after a failed audit. On PostgreSQL, triggers
refuse UPDATE, DELETE and TRUNCATE on these tables even behind the ORM's back.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnly(Exception):
    """Raised on any attempt to change or delete a row that is written once: a log row or a record."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise self.model.refusal("updated")

    def delete(self):
        raise self.model.refusal("deleted")


class AppendOnlyModel(models.Model):
    """A row written once and never changed or deleted through the ORM, one by one or in bulk.

    A subclass may name its own exception (a subclass of ``AppendOnly``) and what its rows are.
    """

    refused = AppendOnly
    rows_are = "rows are append-only"

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise self.refusal("changed", self.pk)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise self.refusal("deleted", self.pk)

    @classmethod
    def refusal(cls, done, pk=None):
        name = cls.__name__ if pk is None else f"{cls.__name__} {pk}"
        return cls.refused(f"{name}: {cls.rows_are}; they cannot be {done}.")


class LogEntry(AppendOnlyModel):
    class Kind(models.TextChoices):
        RELEASE = "release", _("release")
        DEPLOYMENT = "deployment", _("deployment")
        KEY_ADDED = "key_added", _("key added")
        KEY_REVOKED = "key_revoked", _("key revoked")
        IDENTITY_ADDED = "identity_added", _("CI identity added")
        IDENTITY_REMOVED = "identity_removed", _("CI identity removed")
        STATUS = "status", _("status change")
        NOTE = "note", _("operator's note")
        OBSERVER_ADDED = "observer_added", _("observer added")
        OBSERVER_REMOVED = "observer_removed", _("observer removed")
        OBSERVER_REPORT = "observer_report", _("observer's report")
        REBUILDER_ADDED = "rebuilder_added", _("rebuilder added")
        REBUILDER_REMOVED = "rebuilder_removed", _("rebuilder removed")
        REBUILD = "rebuild", _("rebuild")
        REBUILD_ANSWER = "rebuild_answer", _("answer to a rebuild")
        WITNESS_ADDED = "witness_added", _("witness added")
        WITNESS_REMOVED = "witness_removed", _("witness removed")

    index = models.BigIntegerField(_("index"), primary_key=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    object_id = models.BigIntegerField(_("object ID"), null=True, db_index=True)
    entry = models.BinaryField(_("entry"))
    leaf_hash = models.BinaryField(_("leaf hash"), max_length=32)
    logged_at = models.DateTimeField(_("logged at"), default=timezone.now)

    class Meta:
        ordering = ["index"]
        verbose_name = _("log entry")
        verbose_name_plural = _("log entries")
        indexes = [models.Index(fields=["kind", "object_id"])]

    def __str__(self):
        return f"#{self.index} {self.kind}"


class TreeHash(AppendOnlyModel):
    """The hash of one complete subtree; ``index`` is its ``verifier.merkle.stored_hash_index``."""

    index = models.BigIntegerField(_("index"), primary_key=True)
    hash = models.BinaryField(_("hash"), max_length=32)

    class Meta:
        ordering = ["index"]
        verbose_name = _("tree hash")
        verbose_name_plural = _("tree hashes")

    def __str__(self):
        return f"stored hash {self.index}"


class Checkpoint(AppendOnlyModel):
    """A signed checkpoint: the tree of the first ``size`` entries has root ``root``.

    One per tree size: a checkpoint is signed only when the tree grew (and once for the empty tree).
    """

    size = models.BigIntegerField(_("size"), unique=True)
    root = models.BinaryField(_("root hash"), max_length=32)
    note = models.TextField(_("signed note"), help_text=_("The C2SP signed note, exactly as served."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-size"]
        verbose_name = _("checkpoint")
        verbose_name_plural = _("checkpoints")
        get_latest_by = "size"

    def __str__(self):
        return f"checkpoint of size {self.size}"


class AuditRun(AppendOnlyModel):
    """One run of the self-audit. The latest run decides the site-wide log integrity banner."""

    ok = models.BooleanField(_("passed"))
    message = models.TextField(_("message"))
    tree_size = models.BigIntegerField(
        _("tree size"), help_text=_("Size of the latest checkpoint the run checked.")
    )
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        verbose_name = _("audit run")
        verbose_name_plural = _("audit runs")
        # Every append looks for the latest failed run (``services.log_closure``); failures are rare.
        indexes = [models.Index(fields=["id"], condition=Q(ok=False), name="transparency_auditrun_failed")]

    def __str__(self):
        return f"audit at {self.checked_at:%Y-%m-%d %H:%M:%S}: {'ok' if self.ok else 'FAILED'}"


class AuditResolution(AppendOnlyModel):
    """An operator's resolution of a failed self-audit: it reopens the log to new entries.

    ``run`` is the passing audit the operator ran to resolve it; a failed run recorded after ``run`` closes
    the log again. ``failed_run`` is the failure it resolves, kept as evidence beside the operator's note.
    """

    run = models.OneToOneField(
        AuditRun, on_delete=models.PROTECT, related_name="resolution", verbose_name=_("passing audit run")
    )
    failed_run = models.ForeignKey(
        AuditRun, on_delete=models.PROTECT, related_name="+", verbose_name=_("failed audit run")
    )
    note = models.TextField(_("note"), help_text=_("What the operator found and did, in their words."))
    resolved_at = models.DateTimeField(_("resolved at"), default=timezone.now)

    class Meta:
        ordering = ["-run_id"]
        verbose_name = _("audit resolution")
        verbose_name_plural = _("audit resolutions")

    def __str__(self):
        return f"audit failure of {self.failed_run.checked_at:%Y-%m-%d %H:%M:%S} resolved"


class PendingEntry(models.Model):
    """An entry appended in its record's transaction and not yet given its index: the sequencer's queue.

    ``append_entry`` only inserts here (no lock, no read of the log), so appends of many writers commit in
    parallel; ``services.integrate`` then takes the committed rows in ``id`` order under the integration
    lock, gives them the next indexes, writes them to ``LogEntry`` with their tree hashes and a signed
    checkpoint, and deletes them from here, all in one transaction. A row lives here for about a second.
    """

    id = models.BigAutoField(_("ID"), primary_key=True)
    kind = models.CharField(_("kind"), max_length=20, choices=LogEntry.Kind.choices)
    object_id = models.BigIntegerField(_("object ID"), null=True)
    entry = models.BinaryField(_("entry"))
    leaf_hash = models.BinaryField(_("leaf hash"), max_length=32)
    logged_at = models.DateTimeField(_("logged at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("pending log entry")
        verbose_name_plural = _("pending log entries")
        indexes = [models.Index(fields=["kind", "object_id"], name="transparency_pending_object")]

    def __str__(self):
        return f"pending {self.kind} {self.id}"


class Witness(models.Model):
    """A witness the portal asks to cosign its checkpoints (C2SP tlog-witness ``add-checkpoint``).

    Named in public with its verifier key (signature type 0x04); adding and removing one are log entries.
    The fields after ``removed_at`` are the client's bookkeeping, not evidence: the size the witness last
    said it holds, when to try again after a failure, and the last failure in one sentence.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    verifier_key = models.CharField(
        _("verifier key"), max_length=300, unique=True, help_text=_("C2SP vkey of signature type 0x04.")
    )
    url = models.URLField(_("submission prefix"), max_length=500)
    added_at = models.DateTimeField(_("added at"), default=timezone.now)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)
    known_size = models.BigIntegerField(_("size the witness holds"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    retry_at = models.DateTimeField(_("next attempt after"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("witness")
        verbose_name_plural = _("witnesses")

    def __str__(self):
        return self.name


class Cosignature(AppendOnlyModel):
    """A witness's verified cosignature of a checkpoint (C2SP tlog-cosignature v1): its signature line,
    exactly as the witness returned it, and its timestamp. ``/log/checkpoint`` and the proof bundles serve
    the checkpoint's note with these lines appended."""

    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.PROTECT, related_name="cosignatures", verbose_name=_("checkpoint")
    )
    witness = models.ForeignKey(
        Witness, on_delete=models.PROTECT, related_name="cosignatures", verbose_name=_("witness")
    )
    timestamp = models.BigIntegerField(_("timestamp"), help_text=_("POSIX seconds, as the witness signed."))
    line = models.TextField(_("signature line"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        ordering = ["checkpoint", "witness"]
        verbose_name = _("cosignature")
        verbose_name_plural = _("cosignatures")
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "witness"], name="transparency_one_cosignature")
        ]

    def __str__(self):
        return f"{self.witness} on size {self.checkpoint.size}"

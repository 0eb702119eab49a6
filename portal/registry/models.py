"""The registry: projects, their environments and signing keys, and the releases and deployments
recorded for them.

Releases and deployments are history: once written they are never edited or deleted, through the ORM,
the admin or the API. The transparency log makes any edit made behind the ORM's back detectable.
"""

import hashlib
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.transparency.models import AppendOnly, AppendOnlyModel, LogEntry
from verifier.errors import FormatError
from verifier.release import TrustedKey
from verifier.repo import check_repo_url

DIGEST_VALIDATOR = RegexValidator(r"^sha256:[0-9a-f]{64}$", "Expected sha256: followed by 64 lowercase hex.")
COMMIT_VALIDATOR = RegexValidator(r"^([0-9a-f]{40}|[0-9a-f]{64})$", "Expected a 40 or 64 hex git commit id.")
SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$", "Lowercase letters, digits and -.")


MAX_ENTRY_PAGES = 20


def check_entry_pages(paths):
    """The entry pages as given, each a path on the site starting with ``/``; ``FormatError`` otherwise."""
    if len(paths) > MAX_ENTRY_PAGES:
        raise FormatError(f"at most {MAX_ENTRY_PAGES} entry pages, got {len(paths)}")
    for path in paths:
        if not path.startswith("/") or path.startswith("//") or len(path) > 500:
            raise FormatError(f"an entry page is a path on the site starting with '/', got {path[:80]!r}")
    return list(paths)


def validate_live_url(url, field="live_url"):
    """Refuse a live URL that carries a user name or password: the live URL is published.

    Environment pages and ``GET /api/v1/projects/<slug>/`` show it to anyone, so credentials in it
    would be given away; a live endpoint is public by design and needs none. The message never repeats
    the URL, so the secret is not echoed back either.
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return  # not a URL at all: the field's own URL validation says so
    if "@" in netloc:
        raise ValidationError(
            {
                field: _(
                    "This URL must not carry a user name or password (user:password@): it is "
                    "published on the portal and in the API, and what it serves is public."
                )
            }
        )


class ImmutableRecord(AppendOnly):
    """Raised on any attempt to change or delete a release or deployment."""


class ImmutableModel(AppendOnlyModel):
    refused = ImmutableRecord
    rows_are = "records are immutable"

    class Meta:
        abstract = True


class Project(models.Model):
    slug = models.SlugField(_("slug"), max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    repo_url = models.CharField(
        _("public repository URL"), max_length=500, help_text=_("Where anyone can fetch the source code.")
    )
    protected_branch = models.CharField(_("protected branch"), max_length=200, default="main")
    # The layers of evidence a green light needs beyond the chain every light needs (signed and logged,
    # commit on the protected branch, the server's own report). Shown to the public on the project page.
    require_served_files = models.BooleanField(
        _("require the served files to match"),
        default=True,
        help_text=_(
            "For environments with a site URL: green only when every script and style sheet the site "
            "serves is in the release's signed list."
        ),
    )
    inline_scripts_must_be_declared = models.BooleanField(
        _("inline scripts must be declared"),
        default=True,
        help_text=_("An inline script whose hash the release does not declare turns the light red."),
    )
    rebuilds_required = models.PositiveSmallIntegerField(
        _("matching rebuilds required"),
        default=0,
        help_text=_(
            "How many independent rebuilders must have reproduced a release for a green light where it "
            "runs (0: none needed). A rebuild that got something else turns it red until answered."
        ),
    )
    observers_required = models.PositiveSmallIntegerField(
        _("observers required"),
        default=0,
        help_text=_(
            "How many independent observers must have seen the deployed release recently for a green "
            "light (0: none needed). An observer who saw something else turns it red either way."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("web:project", args=[self.slug])

    def clean(self):
        """The repository URL must pass the rule every fetch applies, so a hostile one is never stored."""
        super().clean()
        try:
            check_repo_url(self.repo_url)
        except FormatError as exc:
            raise ValidationError({"repo_url": str(exc)}) from None

    def trusted_keys_at(self, moment):
        """Keys that may sign a release at ``moment``: valid then and not revoked by then."""
        return [key for key in self.signing_keys.all() if key.is_valid_at(moment)]

    def repo_web_url(self):
        """The repository as a browsable https URL, when it looks like one (for commit links)."""
        url = self.repo_url.removesuffix(".git")
        return url if url.startswith("https://") else ""


class Environment(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="environments", verbose_name=_("project")
    )
    name = models.SlugField(
        _("name"), max_length=50, validators=[SLUG_VALIDATOR], help_text=_("e.g. production")
    )
    live_url = models.URLField(
        _("live digest endpoint"),
        max_length=500,
        help_text=_("The URL where the running server reports its digest."),
    )
    site_url = models.URLField(
        _("site URL"),
        max_length=500,
        blank=True,
        help_text=_(
            "The public web site this environment serves to browsers, e.g. https://vote.example.org; "
            "its scripts and style sheets are compared with the release's signed list. Empty: none."
        ),
    )
    entry_pages = models.TextField(
        _("entry pages"),
        blank=True,
        help_text=_(
            "Paths of the site's pages to read scripts and style sheets from, one per line (default /). "
            "A script path (a service worker, /sw.js) is compared as a file itself."
        ),
    )
    check_interval = models.PositiveIntegerField(
        _("check interval (seconds)"), default=60, validators=[MinValueValidator(10)]
    )
    next_check_at = models.DateTimeField(
        _("next check at"), default=timezone.now, db_index=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["project__name", "name"]
        verbose_name = _("environment")
        verbose_name_plural = _("environments")
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_environment_name")]

    def __str__(self):
        return f"{self.project.slug}/{self.name}"

    def get_absolute_url(self):
        return reverse("web:environment", args=[self.project.slug, self.name])

    def clean(self):
        super().clean()
        validate_live_url(self.live_url)
        validate_live_url(self.site_url, field="site_url")
        try:
            self.entry_pages = "\n".join(check_entry_pages(self.entry_pages.split()))
        except FormatError as exc:
            raise ValidationError({"entry_pages": str(exc)}) from None

    def entry_page_list(self):
        """The entry pages' paths, ``["/"]`` when none is set."""
        return self.entry_pages.split() or ["/"]

    def latest_deployment(self):
        return self.deployments.select_related("release").order_by("-deployed_at", "-id").first()


class SigningKey(models.Model):
    ALGORITHMS = [("ed25519", "Ed25519"), ("ecdsa-p256", "ECDSA P-256 / SHA-256")]

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="signing_keys", verbose_name=_("project")
    )
    label = models.CharField(_("label"), max_length=200, blank=True)
    public_key_pem = models.TextField(_("public key (PEM)"))
    algorithm = models.CharField(_("algorithm"), max_length=20, choices=ALGORITHMS, editable=False)
    key_id = models.CharField(_("key ID"), max_length=64, editable=False, db_index=True)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        constraints = [models.UniqueConstraint(fields=["project", "key_id"], name="unique_key_per_project")]

    def __str__(self):
        return f"{self.key_id[:16]} ({self.algorithm})"

    @property
    def short_id(self):
        return self.key_id[:16]

    def trusted(self):
        """The key as the verifier's one check of a release's evidence takes it (``TrustedKey``)."""
        return TrustedKey(
            key_id=self.key_id,
            public_key_pem=self.public_key_pem,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            revoked_at=self.revoked_at,
        )

    def is_valid_at(self, moment):
        return self.trusted().is_valid_at(moment)

    def public_key(self):
        from verifier.keys import load_public_key

        return load_public_key(self.public_key_pem)

    def clean(self):
        from verifier.errors import FormatError

        try:
            key = self.public_key()
        except FormatError as exc:
            raise ValidationError({"public_key_pem": str(exc)}) from exc
        self.algorithm = key.algorithm
        self.key_id = key.key_id


class TrustedIdentity(models.Model):
    """A CI identity a project trusts for keyless releases: a policy a Sigstore bundle's short-lived
    certificate must meet (``verifier.keyless.Identity``). Added and removed like a signing key, never
    edited: a change is a removal and a new identity, each in the log."""

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="identities", verbose_name=_("project")
    )
    issuer = models.CharField(
        _("OIDC issuer"),
        max_length=500,
        help_text=_("Exact, e.g. https://token.actions.githubusercontent.com for GitHub Actions."),
    )
    repository = models.CharField(
        _("source repository"), max_length=500, help_text=_("The project's repository, as CI names it.")
    )
    workflow = models.CharField(
        _("workflow pattern"),
        max_length=500,
        blank=True,
        help_text=_(
            "Pattern (* and ?) the signing workflow must match, e.g. "
            "https://github.com/org/app/.github/workflows/release.yml@*; empty: any workflow."
        ),
    )
    ref = models.CharField(
        _("ref pattern"),
        max_length=300,
        blank=True,
        help_text=_("Pattern the source ref must match, e.g. refs/heads/main or refs/tags/v*; empty: any."),
    )
    added_at = models.DateTimeField(_("added at"), default=timezone.now, editable=False)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name = _("trusted CI identity")
        verbose_name_plural = _("trusted CI identities")

    def __str__(self):
        return f"{self.repository} ({self.workflow or '*'} @ {self.ref or '*'})"

    def identity(self):
        """The policy as the verifier's keyless check takes it (``verifier.keyless.Identity``)."""
        from verifier.keyless import Identity

        return Identity(issuer=self.issuer, repository=self.repository, workflow=self.workflow, ref=self.ref)

    def is_trusted_at(self, moment):
        return self.added_at <= moment and (self.removed_at is None or moment < self.removed_at)


class ApiToken(models.Model):
    """A CI token scoped to one project. Only its SHA-256 is stored; the token is shown once."""

    PREFIX = "vtr_"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tokens", verbose_name=_("project")
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What uses this token, e.g. 'GitHub Actions'.")
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    hint = models.CharField(
        _("hint"), max_length=12, editable=False, help_text=_("First characters, to tell tokens apart.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def hash(raw):
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, project, name):
        """Create a token; returns (token row, raw token). The raw token is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(project=project, name=name, token_hash=cls.hash(raw), hint=raw[:8])
        return token, raw

    @classmethod
    def authenticate(cls, raw):
        token = (
            cls.objects.select_related("project").filter(token_hash=cls.hash(raw), revoked_at=None).first()
        )
        if token is not None:
            cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token


def author_token_field(verbose_name):
    """The column naming the CI token that entered a record through the API (None if it did not)."""
    return models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.PROTECT, verbose_name=verbose_name
    )


def author_user_field(verbose_name):
    """The column naming the operator who entered a record by hand in the admin (None if none did)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=verbose_name,
    )


class EnteredRecord(ImmutableModel):
    """A release or a deployment: history entered at ``registered_at`` by a CI pipeline's token, by an
    operator in the admin, or by neither (by Vitrina itself).

    Each model names its two author columns, token then user, in ``AUTHOR_FIELDS`` (declared with
    ``author_token_field`` and ``author_user_field``); everything else reads and writes the author here.
    """

    AUTHOR_FIELDS: tuple[str, str]

    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)

    class Meta:
        abstract = True

    @classmethod
    def authored_by(cls, token=None, user=None):
        """The author columns' values, as keyword arguments of ``create``."""
        return dict(zip(cls.AUTHOR_FIELDS, (token, user), strict=True))

    @property
    def author_token(self):
        return getattr(self, self.AUTHOR_FIELDS[0])

    @property
    def author_user(self):
        return getattr(self, self.AUTHOR_FIELDS[1])

    @property
    def entered_by_hand(self):
        return getattr(self, f"{self.AUTHOR_FIELDS[1]}_id") is not None


class Release(EnteredRecord):
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="releases", verbose_name=_("project")
    )
    version = models.CharField(_("version"), max_length=100)
    source_commit = models.CharField(_("source commit"), max_length=64, validators=[COMMIT_VALIDATOR])
    repo_url = models.CharField(_("repository URL"), max_length=500)
    ci_build_url = models.CharField(_("CI build log URL"), max_length=500, blank=True)
    artifact_name = models.CharField(_("artifact name"), max_length=300, blank=True)
    artifact_digest = models.CharField(
        _("artifact digest"), max_length=71, validators=[DIGEST_VALIDATOR], db_index=True
    )
    # A release's evidence is a DSSE envelope signed by a project key, or (keyless) a Sigstore bundle
    # whose certificate names the CI identity that signed; the other's fields stay empty.
    envelope = models.TextField(_("DSSE envelope, as received"), blank=True)
    envelope_sha256 = models.CharField(_("envelope SHA-256"), max_length=64, blank=True, editable=False)
    signer_key = models.ForeignKey(
        SigningKey,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="releases",
        verbose_name=_("signing key"),
    )
    sigstore_bundle = models.TextField(_("Sigstore bundle, as stored"), blank=True)
    sigstore_bundle_sha256 = models.CharField(
        _("Sigstore bundle SHA-256"), max_length=64, blank=True, editable=False
    )
    certificate_issuer = models.CharField(_("certificate issuer"), max_length=500, blank=True)
    certificate_identity = models.CharField(_("certificate identity (workflow)"), max_length=500, blank=True)
    source_ref = models.CharField(_("source ref"), max_length=300, blank=True)
    sigstore_log_index = models.BigIntegerField(_("Sigstore log index"), null=True, blank=True)
    registered_by_token = author_token_field(_("registered by token"))
    registered_by_user = author_user_field(_("registered by operator"))
    AUTHOR_FIELDS = ("registered_by_token", "registered_by_user")

    class Meta:
        ordering = ["-registered_at", "-id"]
        verbose_name = _("release")
        verbose_name_plural = _("releases")
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="unique_release_version")]
        indexes = [
            models.Index(fields=["project", "artifact_digest"]),
            # Search finds a release by a prefix of its digest or commit, or by its version alone. The
            # pattern opclass lets PostgreSQL use an index for LIKE 'prefix%' whatever the collation.
            models.Index(
                fields=["artifact_digest"], opclasses=["varchar_pattern_ops"], name="release_digest_prefix"
            ),
            models.Index(
                fields=["source_commit"], opclasses=["varchar_pattern_ops"], name="release_commit_prefix"
            ),
            models.Index(fields=["version"], name="release_version"),
        ]

    def __str__(self):
        return f"{self.project.slug} {self.version}"

    def get_absolute_url(self):
        return reverse("web:release", args=[self.project.slug, self.version])

    @property
    def is_keyless(self):
        """Registered with a Sigstore bundle rather than an envelope signed by a project key."""
        return self.sigstore_log_index is not None

    def workflow_name(self):
        """The signing workflow's file and ref, from the certificate's identity (the last path part)."""
        return (self.certificate_identity or "").rsplit("/", 1)[-1]


class ReleaseComponent(ImmutableModel):
    """One named component of a release of several (a ``web`` image, a ``worker`` image, a ``static``
    bundle) with its digest set, as its signed statement names it. Written with its release, in the same
    transaction, and never changed; a one-artifact release has none (its artifact is the release's own)."""

    release = models.ForeignKey(
        Release, on_delete=models.PROTECT, related_name="components", verbose_name=_("release")
    )
    position = models.PositiveSmallIntegerField(_("position in the statement"))
    name = models.CharField(_("name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    sha512 = models.CharField(_("SHA-512"), max_length=128, blank=True)

    class Meta:
        ordering = ["release", "position"]
        verbose_name = _("release component")
        verbose_name_plural = _("release components")
        constraints = [
            models.UniqueConstraint(fields=["release", "name"], name="unique_component_name"),
            models.UniqueConstraint(fields=["release", "position"], name="unique_component_position"),
        ]

    def __str__(self):
        return f"{self.release} {self.name}"

    @property
    def digests(self):
        """The digest set, algorithm to hex, as ``verifier.statement.Subject.digests``."""
        return {name: value for name, value in (("sha256", self.sha256), ("sha512", self.sha512)) if value}

    @property
    def digest(self):
        """The strongest digest, as text (``sha512:<hex>`` or ``sha256:<hex>``), for the pages."""
        name = "sha512" if self.sha512 else "sha256"
        return f"{name}:{self.digests[name]}"

    def to_json(self):
        """The component as a statement's subject and the release's log entry spell it."""
        return {"name": self.name, "digest": dict(sorted(self.digests.items()))}


class Deployment(EnteredRecord):
    environment = models.ForeignKey(
        Environment, on_delete=models.PROTECT, related_name="deployments", verbose_name=_("environment")
    )
    release = models.ForeignKey(
        Release, on_delete=models.PROTECT, related_name="deployments", verbose_name=_("release")
    )
    deployed_at = models.DateTimeField(_("deployed at"), default=timezone.now)
    pipeline_run_url = models.CharField(_("pipeline run URL"), max_length=500, blank=True)
    reported_by_token = author_token_field(_("reported by token"))
    reported_by_user = author_user_field(_("reported by operator"))
    AUTHOR_FIELDS = ("reported_by_token", "reported_by_user")

    class Meta:
        ordering = ["-deployed_at", "-id"]
        verbose_name = _("deployment")
        verbose_name_plural = _("deployments")
        indexes = [models.Index(fields=["environment", "-deployed_at"])]

    def __str__(self):
        return f"{self.release} -> {self.environment.name} at {self.deployed_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self):
        return reverse("web:deployment", args=[self.pk])


NOTE_MAX_LENGTH = 280


class StatusNote(EnteredRecord):
    """An operator's public note on the status of an environment, or of every environment of a project:
    "mantenimiento programado", "investigando". It is shown beside the light and never changes it.

    Append-only like every entered record: a note is never edited, deleted or ended by hand. The note an
    environment shows is the newest one that applies to it and has started (``current_notes``), while it
    has not ended: so ending a note early is posting a newer one (kind "resolved", with a short end).
    """

    class Kind(models.TextChoices):
        MAINTENANCE = "maintenance", _("scheduled maintenance")
        INVESTIGATING = "investigating", _("investigating")
        RESOLVED = "resolved", _("resolved")
        INFO = "info", _("information")

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="notes", verbose_name=_("project")
    )
    environment = models.ForeignKey(
        Environment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notes",
        verbose_name=_("environment"),
        help_text=_("Leave empty for a note on every environment of the project."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    text = models.CharField(
        _("text"),
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Plain text, one line, shown to the public exactly as written, in your language."),
    )
    starts_at = models.DateTimeField(_("starts at"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    posted_by_token = author_token_field(_("posted by token"))
    posted_by_user = author_user_field(_("posted by operator"))
    AUTHOR_FIELDS = ("posted_by_token", "posted_by_user")

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("public note on a status")
        verbose_name_plural = _("public notes on a status")
        indexes = [models.Index(fields=["project", "-starts_at", "-id"])]

    def __str__(self):
        where = self.environment.name if self.environment_id else "*"
        return f"{self.project.slug}/{where}: {self.text[:40]}"

    def get_absolute_url(self):
        """Where the note is shown: its environment's page, or its project's for a note on all of them."""
        return (self.environment or self.project).get_absolute_url()

    def is_current(self, moment):
        """The note applies at ``moment``: it has started and has not ended."""
        return self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)


def current_notes(environment_ids, moment):
    """{environment id: the note that environment shows at ``moment``, or None}, in three queries
    whatever the number of environments; each note carries ``.log_index``, its entry in the log.

    An environment's notes are its own and its project's; the newest of them to have started (latest
    ``starts_at``, then latest posted) replaces every earlier one, and is shown until its end.
    """
    newest = (
        StatusNote.objects.filter(project_id=models.OuterRef("project_id"), starts_at__lte=moment)
        .filter(models.Q(environment_id=None) | models.Q(environment_id=models.OuterRef("pk")))
        .order_by("-starts_at", "-id")
        .values("pk")[:1]
    )
    newest_ids = dict(
        Environment.objects.filter(pk__in=list(environment_ids))
        .annotate(note_id=models.Subquery(newest))
        .values_list("pk", "note_id")
    )
    notes = StatusNote.objects.select_related(*StatusNote.AUTHOR_FIELDS).in_bulk(
        {note_id for note_id in newest_ids.values() if note_id is not None}
    )
    shown = {pk: note for pk, note in notes.items() if note.is_current(moment)}
    indexes = dict(
        LogEntry.objects.filter(kind=LogEntry.Kind.NOTE, object_id__in=list(shown)).values_list(
            "object_id", "index"
        )
    )
    for note in shown.values():
        note.log_index = indexes.get(note.pk)
    return {env_id: shown.get(note_id) for env_id, note_id in newest_ids.items()}


class RegisteredParty(models.Model):
    """A party other than the project that signs statements Vitrina logs: an observer or a rebuilder.

    Registered by an operator with its public key; its name is public. It posts with its own token (only
    the token's SHA-256 is stored; ``TOKEN_PREFIX`` tells the kinds apart). Added and removed like a signing
    key, never edited, each in the log.
    """

    TOKEN_PREFIX: str

    name = models.CharField(
        _("name"), max_length=100, unique=True, help_text=_("Public, e.g. 'Universidad de la República'.")
    )
    public_key_pem = models.TextField(_("public key (PEM)"))
    algorithm = models.CharField(_("algorithm"), max_length=20, editable=False)
    key_id = models.CharField(_("key ID"), max_length=64, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    added_at = models.DateTimeField(_("added at"), default=timezone.now, editable=False)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def short_id(self):
        return self.key_id[:16]

    def is_active_at(self, moment):
        return self.added_at <= moment and (self.removed_at is None or moment < self.removed_at)


class Observer(RegisteredParty):
    """An independent observer: a party (a university, a journalist, a member with a spare machine) that
    checks environments from its own network with ``vitrina-verify observe`` and posts signed reports."""

    TOKEN_PREFIX = "vto_"  # noqa: S105 (a prefix, not a secret)

    class Meta(RegisteredParty.Meta):
        verbose_name = _("observer")
        verbose_name_plural = _("observers")


class Rebuilder(RegisteredParty):
    """An independent rebuilder: a party that rebuilds a release's commit with ``vitrina-verify rebuild``
    by the release's recorded build instructions and posts a signed attestation of what it got."""

    TOKEN_PREFIX = "vtb_"  # noqa: S105 (a prefix, not a secret)

    class Meta(RegisteredParty.Meta):
        verbose_name = _("rebuilder")
        verbose_name_plural = _("rebuilders")


class ObserverReport(ImmutableModel):
    """What an observer saw of an environment, as it signed it: an in-toto statement in a DSSE envelope
    (``verifier.observe``), verified under the observer's key when it was received, then logged."""

    observer = models.ForeignKey(
        Observer, on_delete=models.PROTECT, related_name="reports", verbose_name=_("observer")
    )
    environment = models.ForeignKey(
        Environment, on_delete=models.PROTECT, related_name="observer_reports", verbose_name=_("environment")
    )
    deployment = models.ForeignKey(
        "Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="observer_reports",
        verbose_name=_("deployment compared with"),
    )
    observed_at = models.DateTimeField(_("observed at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    result = models.CharField(_("result"), max_length=20)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    message = models.TextField(_("message"), blank=True)
    live_digest = models.CharField(_("digest served"), max_length=71, blank=True)
    expected_digest = models.CharField(_("expected digest"), max_length=71, blank=True)
    served_files_checked = models.PositiveIntegerField(_("served files checked"), null=True, blank=True)
    served_files_matched = models.PositiveIntegerField(_("served files matched"), null=True, blank=True)
    envelope = models.TextField(_("DSSE envelope, as received"))
    envelope_sha256 = models.CharField(_("envelope SHA-256"), max_length=64, editable=False)

    class Meta:
        ordering = ["-observed_at", "-id"]
        verbose_name = _("observer report")
        verbose_name_plural = _("observer reports")
        indexes = [models.Index(fields=["environment", "-observed_at"])]

    def __str__(self):
        return f"{self.observer} on {self.environment} at {self.observed_at:%Y-%m-%d %H:%M}: {self.result}"


class Rebuild(ImmutableModel):
    """A rebuilder's attestation of what it got when it rebuilt a release: an in-toto statement (SLSA
    provenance naming the rebuilder as builder) in a DSSE envelope, verified under the rebuilder's key when
    received, then logged. ``result`` is the portal's comparison of its subjects with the release's."""

    class Result(models.TextChoices):
        REPRODUCED = "reproduced", _("reproduced")
        DIFFERS = "differs", _("different result")

    rebuilder = models.ForeignKey(
        Rebuilder, on_delete=models.PROTECT, related_name="rebuilds", verbose_name=_("rebuilder")
    )
    release = models.ForeignKey(
        Release, on_delete=models.PROTECT, related_name="rebuilds", verbose_name=_("release")
    )
    rebuilt_at = models.DateTimeField(_("rebuilt at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    result = models.CharField(_("result"), max_length=20, choices=Result.choices)
    # What the rebuilder got: [{"name", "digest": {algorithm: hex}}], in its statement's order.
    subjects = models.JSONField(_("what it got"))
    envelope = models.TextField(_("DSSE envelope, as received"))
    envelope_sha256 = models.CharField(_("envelope SHA-256"), max_length=64, editable=False)

    class Meta:
        ordering = ["-rebuilt_at", "-id"]
        verbose_name = _("rebuild")
        verbose_name_plural = _("rebuilds")
        indexes = [models.Index(fields=["release", "-rebuilt_at"])]

    def __str__(self):
        return f"{self.rebuilder} rebuilt {self.release} at {self.rebuilt_at:%Y-%m-%d %H:%M}: {self.result}"


class RebuildAnswer(EnteredRecord):
    """An operator's public answer to a rebuild that got something else ("the rebuilder used another
    compiler; fixed in 1.4.3"). Until a differing rebuild is answered, environments running its release
    are red; the answer does not make the rebuild match, it says why the project still stands by it."""

    rebuild = models.OneToOneField(
        Rebuild, on_delete=models.PROTECT, related_name="answer", verbose_name=_("rebuild")
    )
    text = models.CharField(
        _("text"),
        max_length=NOTE_MAX_LENGTH * 2,
        help_text=_("Plain text, shown to the public exactly as written beside the rebuild."),
    )
    answered_by_token = author_token_field(_("answered by token"))
    answered_by_user = author_user_field(_("answered by operator"))
    AUTHOR_FIELDS = ("answered_by_token", "answered_by_user")

    class Meta:
        ordering = ["-registered_at", "-id"]
        verbose_name = _("answer to a rebuild")
        verbose_name_plural = _("answers to rebuilds")

    def __str__(self):
        return f"{self.rebuild}: {self.text[:40]}"

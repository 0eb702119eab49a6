"""What the workers saw: one ``Observation`` per check, and each environment's current ``Status``;
where status changes are announced (``NotificationChannel`` for operators, ``Subscriber`` for the public)
and how each announcement went (``Delivery``).

The status is never green by default: an environment that was never checked is "unchecked", shown as
"not yet checked".
"""

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.http import public_time
from portal.registry.models import Environment, Release
from verifier.reasons import Reason, Result

from . import reasons


class ResultChoices(models.TextChoices):
    VERIFIED = Result.VERIFIED.value, _("verified")
    MISMATCH = Result.MISMATCH.value, _("mismatch")
    UNVERIFIABLE = Result.UNVERIFIABLE.value, _("could not verify")
    UNCHECKED = Result.UNCHECKED.value, _("not yet checked")


REASON_CHOICES = [(reason.value, reason.value) for reason in Reason]


class Light:
    GREEN = "green"
    RED = "red"
    AMBER = "amber"
    NONE = "none"
    CHOICES = (GREEN, RED, AMBER, NONE)


# Red is kept for evidence against what was declared; "could not verify" is no evidence either way (a
# server or repository out of reach), so it has a light of its own rather than looking like tampering.
LIGHTS = {
    Result.VERIFIED.value: Light.GREEN,
    Result.MISMATCH.value: Light.RED,
    Result.UNVERIFIABLE.value: Light.AMBER,
    Result.UNCHECKED.value: Light.NONE,
}
NOT_YET_CHECKED = "Not yet checked."


@dataclass(frozen=True)
class PublicState:
    """What the public is shown of a status or a check: ``light`` (green, red, amber, none), ``result``,
    ``reason`` (a code, only for a red or amber light, else None) and ``checked_at`` (None if never
    checked)."""

    light: str
    result: str
    reason: str | None
    checked_at: datetime.datetime | None

    @property
    def word(self):
        """The result in one translated word or two, e.g. "not yet checked"."""
        return reasons.result_word(self.result)

    @property
    def needs_reason(self):
        """Whether the light is one a reader must be told the reason for (red or amber)."""
        return self.light in (Light.RED, Light.AMBER)

    @property
    def sentence(self):
        """What the light means, in a translated sentence for someone who never heard of a digest."""
        return reasons.status_sentence(self.result, self.reason or "")

    def as_api(self):
        """The light, result and reason as the API writes them."""
        return {"light": self.light, "result": self.result, "reason": self.reason}


def public_state(status):
    """The one rule for what the public sees of ``status``: never green without a check.

    ``status`` is a ``Status``, an ``Observation``, anything with ``result``, ``reason`` and
    ``checked_at`` (a row read for a badge), or None. One with no check time, or with a result this
    version does not know, is shown as not yet checked, whatever it says. The API, the pages, the
    badges, the feeds and the notifications all show this.
    """
    checked_at = status.checked_at if status is not None else None
    result = status.result if status is not None else None
    if checked_at is None or result not in LIGHTS:
        result = Result.UNCHECKED.value
    light = LIGHTS[result]
    reason = (status.reason or None) if light in (Light.RED, Light.AMBER) else None
    return PublicState(light=light, result=result, reason=reason, checked_at=checked_at)


class CheckResult(models.Model):
    """The columns of what a check found, shared by the check's ``Observation`` and by the ``Status``
    that takes them over (``shared_fields``) when the check changes it: the result, its reason and
    message, when it was checked, what the live endpoint served and what was expected."""

    result = models.CharField(_("result"), max_length=20, choices=ResultChoices.choices)
    reason = models.CharField(_("reason"), max_length=40, choices=REASON_CHOICES, blank=True)
    message = models.TextField(_("message"), blank=True)
    checked_at = models.DateTimeField(_("checked at"), db_index=True)
    live_digest = models.CharField(_("digest served"), max_length=71, blank=True)
    live_commit = models.CharField(_("commit served"), max_length=64, blank=True)
    live_version = models.CharField(_("version served"), max_length=100, blank=True)
    expected_digest = models.CharField(_("expected digest"), max_length=71, blank=True)
    # What a service of several components reported: component name to digest text; empty otherwise.
    live_components = models.JSONField(_("components served"), default=dict, blank=True)
    live_release = models.ForeignKey(
        Release,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("release served"),
    )
    ahead_by = models.IntegerField(_("commits ahead of the release"), null=True, blank=True)
    # The layers of evidence beyond the server's own report, each {"result", "reason", "message", ...}
    # under its name ("served_files", "observers"); a layer not checked is absent.
    layers = models.JSONField(_("layers of evidence"), default=dict, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def shared_fields():
        """The names of these columns, which a status takes over from the check that changes it."""
        return tuple(field.name for field in CheckResult._meta.fields)

    @property
    def light(self):
        return public_state(self).light

    def api_digests(self):
        """The digests the API shows: the one served and the one expected, None rather than "" when
        there is none."""
        return {"live_digest": self.live_digest or None, "expected_digest": self.expected_digest or None}


class Status(CheckResult):
    environment = models.OneToOneField(
        Environment,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="status",
        verbose_name=_("environment"),
    )
    # Never green by default: an environment's status starts unchecked, with no check time.
    result = models.CharField(
        _("result"), max_length=20, choices=ResultChoices.choices, default=ResultChoices.UNCHECKED
    )
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("status")
        verbose_name_plural = _("statuses")

    def __str__(self):
        return f"{self.environment}: {self.result} {self.reason}".strip()

    def as_api(self):
        """The public API's status object: a stable contract, see docs/api.md."""
        state = public_state(self)
        return {
            **state.as_api(),
            "message": self.message if state.result == self.result else NOT_YET_CHECKED,
            "checked_at": public_time(self.checked_at),
            **self.api_digests(),
            "layers": self.layers if state.result == self.result else {},
        }


def status_of(environment):
    """The environment's Status, or an unsaved 'unchecked' one. Use select_related('status') upstream."""
    try:
        return environment.status
    except Status.DoesNotExist:
        return Status(environment=environment, result=ResultChoices.UNCHECKED, message=NOT_YET_CHECKED)


class Observation(CheckResult):
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="observations", verbose_name=_("environment")
    )
    expected_release = models.ForeignKey(
        Release,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("expected release"),
    )
    http_status = models.IntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.IntegerField(_("duration (ms)"), default=0)
    # The scheduled time this check answers (the environment's next_check_at when the dispatcher claimed
    # it). Unique per environment, so a check task delivered twice writes one observation, not two.
    # Empty for checks run by hand.
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, editable=False)
    # Whether this observation changed the environment's status; exactly these are in the log.
    changed_status = models.BooleanField(_("changed the status"), default=False, editable=False)

    class Meta:
        ordering = ["-checked_at", "-id"]
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        indexes = [
            models.Index(fields=["environment", "-checked_at"]),
            # The status changes alone (a few rows among a year of checks): the history bars read them,
            # and the last change before a window, without walking every check back to it.
            models.Index(
                fields=["environment", "-checked_at"],
                condition=models.Q(changed_status=True),
                name="observation_status_changes",
            ),
            # What search looks for among checks: a digest a server reported that no release has.
            models.Index(
                fields=["live_digest"],
                opclasses=["varchar_pattern_ops"],
                condition=models.Q(reason="unregistered_artifact"),
                name="observation_unregistered",
            ),
            # The admin's list filtered by result, newest first, without reading every check.
            models.Index(fields=["result", "-checked_at"], name="observation_result_recent"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["environment", "due_at"], name="one_observation_per_claim"),
        ]

    def __str__(self):
        return f"{self.environment} {self.checked_at:%Y-%m-%d %H:%M:%S} {self.result}"

    def as_api(self):
        """One entry of the public observations API: a stable contract, see docs/monitoring.md."""
        return {
            "checked_at": public_time(self.checked_at),
            **public_state(self).as_api(),
            "message": self.message,
            **self.api_digests(),
            "ahead_by": self.ahead_by,
            "duration_ms": self.duration_ms,
            "layers": self.layers,
        }


def status_changes(environment, limit=20):
    """The observations that changed the environment's status, newest first: its public history.

    A change is an observation whose result or reason differs from the status before it; each was
    appended to the transparency log as a ``status`` entry whose object id is the observation's id.
    """
    return list(Observation.objects.filter(environment=environment, changed_status=True)[:limit])


class ReleaseRepositoryCheck(models.Model):
    """What the repository said of a release's source commit: on the project's protected branch, not on
    it (or missing), or could not be asked (``on_branch`` None). Asked once the release is registered,
    and again while no answer came (``monitoring.releases``); pages show the latest, never a live fetch.
    """

    release = models.ForeignKey(
        Release, on_delete=models.CASCADE, related_name="repository_checks", verbose_name=_("release")
    )
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)
    on_branch = models.BooleanField(_("on the protected branch"), null=True)
    reason = models.CharField(_("reason"), max_length=40, choices=REASON_CHOICES, blank=True)
    message = models.TextField(_("message"), blank=True)
    ahead_by = models.IntegerField(_("commits behind the branch head"), null=True, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["release", "-checked_at"])]
        verbose_name = _("release repository check")
        verbose_name_plural = _("release repository checks")

    def __str__(self):
        return f"{self.release} {self.checked_at:%Y-%m-%d %H:%M:%S} {self.result}"

    @property
    def result(self):
        """The answer as a check's result: verified (on the branch), mismatch, or could not verify."""
        if self.on_branch is None:
            return Result.UNVERIFIABLE.value
        return Result.VERIFIED.value if self.on_branch else Result.MISMATCH.value


def latest_repository_check(release):
    """The latest ``ReleaseRepositoryCheck`` of ``release``, or None while it was never asked."""
    return ReleaseRepositoryCheck.objects.filter(release=release).first()


class NotificationChannel(models.Model):
    """Where status changes are sent: a webhook URL or an email address, for one project or for all.

    A webhook's HMAC key is not stored: it is derived from ``SECRET_KEY`` and the channel's id
    (``webhook_key``), shown once to the operator when the channel is created. Rotating ``SECRET_KEY``
    rotates every channel's key.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("webhook")
        EMAIL = "email", _("email")

    name = models.CharField(_("name"), max_length=100, help_text=_("What this channel is, e.g. 'ops chat'."))
    project = models.ForeignKey(
        "registry.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_channels",
        verbose_name=_("project"),
        help_text=_("Leave empty to hear about every project."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    email = models.EmailField(_("email address"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")

    def __str__(self):
        return f"{self.name} ({self.kind})"

    def clean(self):
        if self.kind == self.Kind.WEBHOOK and not self.url:
            raise ValidationError({"url": _("A webhook channel needs a URL.")})
        if self.kind == self.Kind.WEBHOOK and not self.url.startswith(("https://", "http://")):
            raise ValidationError({"url": _("A webhook URL must be http or https.")})
        if self.kind == self.Kind.EMAIL and not self.email:
            raise ValidationError({"email": _("An email channel needs an address.")})

    def webhook_key(self):
        """The HMAC key receivers use to check ``X-Vitrina-Signature``: HMAC-SHA256(SECRET_KEY, id)."""
        if self.pk is None:
            raise ValueError("a channel has a webhook key only once it is saved")
        message = f"vitrina-webhook-channel:{self.pk}".encode()
        return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()

    def sign(self, body):
        """The ``X-Vitrina-Signature`` header value for ``body`` (bytes)."""
        return "sha256=" + hmac.new(self.webhook_key().encode(), body, hashlib.sha256).hexdigest()

    @classmethod
    def for_project(cls, project):
        return cls.objects.filter(enabled=True).filter(models.Q(project=project) | models.Q(project=None))


class Subscriber(models.Model):
    """A member of the public who asked to hear about status changes by email: of one project, or of all.

    Nothing is sent until the address is confirmed (double opt-in). The confirmation link carries a random
    token of which only the SHA-256 is stored (``confirm_hash``), valid for ``CONFIRM_HOURS`` and once:
    confirming clears it. The unsubscribe link's token is not stored: it is derived from ``SECRET_KEY``
    and the row's id (``unsubscribe_token``), as a webhook channel's key is. Unsubscribing deletes the
    row, and with it its pending deliveries; an unconfirmed row is deleted once its link has expired.
    ``__str__`` never shows the address, so it cannot reach a log or a page by accident.
    """

    CONFIRM_HOURS = 48

    email = models.EmailField(_("email address"))
    project = models.ForeignKey(
        "registry.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="subscribers",
        verbose_name=_("project"),
        help_text=_("Empty: every project."),
    )
    # The language the visitor read the form in: every email to them is written in it.
    language = models.CharField(_("language"), max_length=10)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    confirm_hash = models.CharField(
        _("confirmation token's SHA-256"), max_length=64, blank=True, db_index=True, editable=False
    )
    confirm_sent_at = models.DateTimeField(_("confirmation sent at"), null=True, blank=True, editable=False)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("email subscriber")
        verbose_name_plural = _("email subscribers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "project"],
                condition=models.Q(project__isnull=False),
                name="one_subscription_per_address_and_project",
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(project__isnull=True),
                name="one_subscription_per_address_to_all",
            ),
        ]

    def __str__(self):
        return f"subscriber #{self.pk} ({self.project.slug if self.project else 'all projects'})"

    @staticmethod
    def token_hash(token):
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def subscribe(cls, email, project, language, now=None):
        """The subscription of ``email`` (normalised to lower case) to ``project`` (None: all), and a fresh
        confirmation token if it is not confirmed yet (None if it is). A new token replaces the last one.
        """
        now = now or timezone.now()
        cls.objects.filter(confirmed_at=None, confirm_sent_at__lt=now - cls.confirm_lifetime()).delete()
        subscriber, _ = cls.objects.get_or_create(
            email=email.strip().lower(), project=project, defaults={"language": language}
        )
        if subscriber.confirmed_at is not None:
            return subscriber, None
        token = secrets.token_urlsafe(32)
        subscriber.confirm_hash, subscriber.confirm_sent_at = cls.token_hash(token), now
        subscriber.language = language
        subscriber.save(update_fields=["confirm_hash", "confirm_sent_at", "language"])
        return subscriber, token

    @classmethod
    def confirm_lifetime(cls):
        return datetime.timedelta(hours=cls.CONFIRM_HOURS)

    @classmethod
    def awaiting(cls, token):
        """The unconfirmed subscription whose confirmation token is ``token``, or None."""
        if not token:
            return None
        return cls.objects.filter(confirmed_at=None, confirm_hash=cls.token_hash(token)).first()

    def expired(self, now=None):
        return self.confirm_sent_at + self.confirm_lifetime() < (now or timezone.now())

    def confirm(self, now=None):
        """Confirm the subscription; its confirmation token is spent."""
        self.confirmed_at, self.confirm_hash = now or timezone.now(), ""
        self.save(update_fields=["confirmed_at", "confirm_hash"])

    def unsubscribe_token(self):
        return self.derive_unsubscribe_token(self.pk)

    @staticmethod
    def derive_unsubscribe_token(pk):
        """HMAC-SHA256(SECRET_KEY, id), so a link can be checked even after its row is gone."""
        message = f"vitrina-unsubscribe:{pk}".encode()
        return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()

    @classmethod
    def unsubscribe_link_is_valid(cls, pk, token):
        return hmac.compare_digest(cls.derive_unsubscribe_token(pk), token)

    def confirm_url(self, token):
        return settings.SITE_URL + reverse("web:subscribe_confirm", args=[token])

    def unsubscribe_url(self):
        return settings.SITE_URL + reverse("web:unsubscribe", args=[self.pk, self.unsubscribe_token()])

    @classmethod
    def for_project(cls, project):
        """The confirmed subscribers who hear about ``project``: its own and those of every project."""
        return cls.objects.exclude(confirmed_at=None).filter(
            models.Q(project=project) | models.Q(project=None)
        )


class Delivery(models.Model):
    """One status change to announce on one channel or to one subscriber: the outbox row, written in the
    transaction that records the change, so a change and its pending announcements exist together or not
    at all.

    A pending delivery is sent when its ``next_attempt_at`` has come: right after the change commits if
    the broker takes the task, and otherwise by the periodic sweep (``notifications.send_due``). Whoever
    sends it first claims it by moving ``next_attempt_at`` forward in a conditional UPDATE, so two
    workers never send it together; a worker that dies mid-send only delays it by the claim's length.
    The fields ``attempted_at`` to ``duration_ms`` describe the latest attempt.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    # Exactly one of the two: an operator's channel, or a subscriber (whose deliveries go when they do).
    channel = models.ForeignKey(
        NotificationChannel,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("channel"),
    )
    subscriber = models.ForeignKey(
        Subscriber,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("email subscriber"),
    )
    observation = models.ForeignKey(
        Observation, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("observation")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    attempted_at = models.DateTimeField(_("attempted at"), null=True, blank=True)
    status_code = models.IntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.IntegerField(_("duration (ms)"), default=0)

    # What each attempt writes, and so what the admin lists of a delivery.
    ATTEMPT_FIELDS = (
        "state",
        "attempts",
        "attempted_at",
        "next_attempt_at",
        "status_code",
        "error",
        "duration_ms",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "observation"], name="one_delivery_per_channel_and_change"
            ),
            models.UniqueConstraint(
                fields=["subscriber", "observation"], name="one_delivery_per_subscriber_and_change"
            ),
            models.CheckConstraint(
                condition=models.Q(channel__isnull=False, subscriber__isnull=True)
                | models.Q(channel__isnull=True, subscriber__isnull=False),
                name="delivery_to_a_channel_or_a_subscriber",
            ),
        ]

    def __str__(self):
        outcome = self.error or f"HTTP {self.status_code}" if self.state == self.State.FAILED else self.state
        target = self.channel or self.subscriber
        return f"{target} #{self.observation_id} after {self.attempts} attempt(s): {outcome}"

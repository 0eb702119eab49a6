"""What the workers saw: one ``Observation`` per check, and each environment's current ``Status``.

The status is never green by default: an environment that was never checked is "unchecked", shown as
"not yet checked".
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.registry.models import Environment, Release
from verifier.reasons import Reason, Result


class ResultChoices(models.TextChoices):
    VERIFIED = Result.VERIFIED.value, _("verified")
    MISMATCH = Result.MISMATCH.value, _("mismatch")
    UNVERIFIABLE = Result.UNVERIFIABLE.value, _("could not verify")
    UNCHECKED = Result.UNCHECKED.value, _("not yet checked")


REASON_CHOICES = [(reason.value, reason.value) for reason in Reason]


class Light:
    GREEN = "green"
    RED = "red"
    NONE = "none"


def light_for(result):
    if result == Result.VERIFIED.value:
        return Light.GREEN
    if result in (Result.MISMATCH.value, Result.UNVERIFIABLE.value):
        return Light.RED
    return Light.NONE


class Status(models.Model):
    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, primary_key=True, related_name="status")
    result = models.CharField(max_length=20, choices=ResultChoices.choices, default=ResultChoices.UNCHECKED)
    reason = models.CharField(max_length=40, choices=REASON_CHOICES, blank=True)
    message = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    live_digest = models.CharField(max_length=71, blank=True)
    live_commit = models.CharField(max_length=64, blank=True)
    live_version = models.CharField(max_length=100, blank=True)
    expected_digest = models.CharField(max_length=71, blank=True)
    live_release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ahead_by = models.IntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "statuses"

    def __str__(self):
        return f"{self.environment}: {self.result} {self.reason}".strip()

    @property
    def light(self):
        return light_for(self.result)

    def as_api(self):
        """The public API's status object: a stable contract, see docs/api.md."""
        return {
            "light": self.light,
            "result": self.result,
            "reason": self.reason or None,
            "message": self.message,
            "checked_at": self.checked_at.isoformat().replace("+00:00", "Z") if self.checked_at else None,
            "live_digest": self.live_digest or None,
            "expected_digest": self.expected_digest or None,
        }

    @classmethod
    def unchecked_api(cls):
        return cls(result=ResultChoices.UNCHECKED, message="Not yet checked.").as_api()


def status_of(environment):
    """The environment's Status, or an unsaved 'unchecked' one. Use select_related('status') upstream."""
    try:
        return environment.status
    except Status.DoesNotExist:
        return Status(environment=environment, result=ResultChoices.UNCHECKED, message="Not yet checked.")


class Observation(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="observations")
    checked_at = models.DateTimeField(db_index=True)
    result = models.CharField(max_length=20, choices=ResultChoices.choices)
    reason = models.CharField(max_length=40, choices=REASON_CHOICES, blank=True)
    message = models.TextField(blank=True)
    live_digest = models.CharField(max_length=71, blank=True)
    live_commit = models.CharField(max_length=64, blank=True)
    live_version = models.CharField(max_length=100, blank=True)
    expected_digest = models.CharField(max_length=71, blank=True)
    expected_release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    live_release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    http_status = models.IntegerField(null=True, blank=True)
    ahead_by = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["environment", "-checked_at"])]

    def __str__(self):
        return f"{self.environment} {self.checked_at:%Y-%m-%d %H:%M:%S} {self.result}"

    @property
    def light(self):
        return light_for(self.result)

"""Admin forms for the records that only the registry's services may write.

Releases and deployments are checked and written by ``services`` in one step (signature, claims, log
entry). A refusal must reach the operator as a form error, and only ``clean()`` can produce one, so
these forms call the service there; the admin's transaction around the whole request keeps it atomic.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.transparency.services import LogClosed, check_open
from verifier.errors import FormatError
from verifier.keys import load_public_key

from . import services
from .models import ApiToken, Deployment, Release, SigningKey, StatusNote


class ServiceForm(forms.ModelForm):
    """A form whose ``clean()`` asks a service to write the record; ``user`` is the operator."""

    user = None

    def add_refusal(self, refused):
        self.add_error(refused.field if refused.field in self.fields else None, refused.message)


class ReleaseAddForm(ServiceForm):
    envelope = forms.CharField(
        label=_("DSSE envelope"),
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text=_("Paste the signed envelope (JSON) that CI produced for this release."),
    )

    class Meta:
        model = Release
        fields = ["project", "version", "envelope", "ci_build_url"]
        help_texts = {"ci_build_url": _("Optional; the signed statement's own build URL takes precedence.")}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            release, created = services.register_release(
                cleaned["project"],
                cleaned["envelope"],
                version=cleaned["version"],
                ci_build_url=cleaned.get("ci_build_url", ""),
                user=self.user,
            )
        except services.Refused as refused:
            self.add_refusal(refused)
            return cleaned
        if not created:
            self.add_error("version", _("This release is already registered, with this same envelope."))
            return cleaned
        self.instance = release
        cleaned["ci_build_url"] = release.ci_build_url
        return cleaned


class DeploymentAddForm(ServiceForm):
    class Meta:
        model = Deployment
        fields = ["environment", "release", "pipeline_run_url"]
        help_texts = {"release": _("A release of the environment's project.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = self.fields["environment"].queryset.select_related("project")
        self.fields["release"].queryset = self.fields["release"].queryset.select_related("project")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = services.record_deployment(
                cleaned["environment"],
                cleaned["release"],
                pipeline_run_url=cleaned.get("pipeline_run_url", ""),
                user=self.user,
            )
        except services.Refused as refused:
            self.add_refusal(refused)
        return cleaned


class SigningKeyAddForm(forms.ModelForm):
    """Validates the pasted key; the admin then trusts it through ``services.add_signing_key``.

    A PEM that cannot be read is reported by ``SigningKey.clean()`` with the verifier's own sentence.
    """

    class Meta:
        model = SigningKey
        fields = ["project", "label", "public_key_pem", "valid_from", "valid_until"]
        widgets = {"public_key_pem": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}
        help_texts = {
            "public_key_pem": _(
                "An Ed25519 or ECDSA P-256 public key, starting with -----BEGIN PUBLIC KEY-----."
            )
        }

    def clean(self):
        cleaned = super().clean()
        project, pem = cleaned.get("project"), cleaned.get("public_key_pem")
        if project is None or not pem:
            return cleaned
        try:
            key = load_public_key(pem)
        except FormatError:
            return cleaned
        try:
            # Checked here because the admin trusts the key after validation, where it cannot show an error.
            check_open()
        except LogClosed as exc:
            self.add_error(None, exc.message)
        if SigningKey.objects.filter(project=project, key_id=key.key_id).exists():
            self.add_error(
                "public_key_pem",
                _("This key (%(key_id)s) is already trusted for this project.") % {"key_id": key.short_id},
            )
        valid_from, valid_until = cleaned.get("valid_from"), cleaned.get("valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            self.add_error("valid_until", _("The end of validity must come after its start."))
        return cleaned


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["project", "name"]


class StatusNoteAddForm(ServiceForm):
    """An operator's public note, posted through ``services.post_note`` (which logs it)."""

    class Meta:
        model = StatusNote
        fields = ["project", "environment", "kind", "text", "starts_at", "ends_at"]
        widgets = {"text": forms.TextInput(attrs={"size": 80})}
        help_texts = {
            "starts_at": _("Leave empty to start now; a later time schedules the note."),
            "ends_at": _(
                "Optional. Without an end the note stays until a newer note replaces it. A note is never "
                "edited or deleted: to end it early, post a newer one (kind “resolved”) with a short end."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = self.fields["environment"].queryset.select_related("project")
        # Empty means "when posted": a start filled in when the form opened would be past when it is sent.
        self.fields["starts_at"].required = False
        self.fields["starts_at"].initial = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = services.post_note(
                cleaned["project"],
                environment=cleaned.get("environment"),
                kind=cleaned["kind"],
                text=cleaned["text"],
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
                user=self.user,
            )
        except services.Refused as refused:
            self.add_refusal(refused)
        return cleaned

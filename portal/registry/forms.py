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
from .models import ApiToken, Deployment, Release, SigningKey, StatusNote, TrustedIdentity


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


# What the layers above know of a release that an operator must confirm before declaring it deployed
# (monitoring: its source is off the protected branch, or the repository never answered). The registry
# cannot import them, so they hand their check in at start-up; each takes a release and returns a
# sentence, or "". Confirming is the form's matter: what may be deployed is ``record_deployment``'s.
DEPLOY_CAUTIONS = []


def register_deploy_caution(caution):
    if caution not in DEPLOY_CAUTIONS:
        DEPLOY_CAUTIONS.append(caution)


def deploy_cautions(release):
    return [sentence for caution in DEPLOY_CAUTIONS if (sentence := caution(release))]


class ProjectReleaseField(forms.ModelChoiceField):
    """Releases grouped by project, each named by its version."""

    def label_from_instance(self, release):
        return release.version


class DeploymentAddForm(ServiceForm):
    """Declare a deployment. The release select offers only the environment's project's releases once
    the environment is known (``?environment=<id>`` in the address, or the form sent), and until then
    groups them by project. A release whose source the repository did not confirm on the protected
    branch needs "deploy anyway" ticked: the warning comes before anything is written."""

    deploy_anyway = forms.BooleanField(
        label=_("Deploy anyway"),
        required=False,
        help_text=_(
            "Needed only when the release's source is not confirmed on the protected branch: tick it to "
            "declare the release deployed all the same, in public."
        ),
    )

    class Meta:
        model = Deployment
        fields = ["environment", "release", "pipeline_run_url"]
        field_classes = {"release": ProjectReleaseField}
        help_texts = {
            "release": _(
                "A release of the environment's project. Choose the environment first: once the form is "
                "sent, only its project's releases are offered."
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        environments = self.fields["environment"].queryset.select_related("project")
        self.fields["environment"].queryset = environments
        releases = Release.objects.select_related("project").order_by(
            "project__name", "-registered_at", "-id"
        )
        environment = environments.filter(pk=self.chosen_environment_id()).first()
        if environment is not None:
            releases = releases.filter(project_id=environment.project_id)
            self.fields["release"].error_messages["invalid_choice"] = _(
                "Choose a release of the environment's project, %(project)s."
            ) % {"project": environment.project.name}
        field = self.fields["release"]
        field.queryset = releases
        field.choices = self.grouped_choices(releases)
        # The admin wraps the select (its "+" link); the wrapped select renders the choices.
        if hasattr(field.widget, "widget"):
            field.widget.widget.choices = field.choices

    def chosen_environment_id(self):
        value = self.data.get("environment") if self.is_bound else self.initial.get("environment")
        value = getattr(value, "pk", value)
        return int(value) if str(value or "").isdigit() else None

    def grouped_choices(self, releases):
        groups = {}
        for release in releases:
            groups.setdefault(release.project.name, []).append((release.pk, release.version))
        return [("", "---------"), *groups.items()]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        cautions = deploy_cautions(cleaned["release"])
        if cautions and not cleaned.get("deploy_anyway"):
            for caution in cautions:
                self.add_error("deploy_anyway", caution)
            self.add_error(
                "deploy_anyway",
                _("Tick “Deploy anyway” to declare it deployed all the same, or choose another release."),
            )
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


class TrustedIdentityAddForm(forms.ModelForm):
    """Checks the policy with the service's own rule; the admin then trusts it through
    ``services.add_identity``, which logs it."""

    class Meta:
        model = TrustedIdentity
        fields = ["project", "issuer", "repository", "workflow", "ref"]

    def clean(self):
        cleaned = super().clean()
        project, issuer, repository = (cleaned.get(name) for name in ("project", "issuer", "repository"))
        if project is None or not issuer or not repository:
            return cleaned
        try:
            check_open()
            services.check_identity(project, issuer=issuer, repository=repository)
        except LogClosed as exc:
            self.add_error(None, exc.message)
        except services.Refused as refused:
            self.add_error(refused.field, refused.message)
        return cleaned

"""The operators' admin: projects and environments, trusted keys, CI tokens, releases and deployments,
independent observers and rebuilders, and the answers to rebuilds that got other bytes.

Everything that must reach the transparency log (keys, releases, deployments) is written through
``services``, exactly as the API writes it. Releases and deployments are history: they can be added and
viewed, never changed or deleted. Keys are revoked, never deleted or edited.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from . import services
from .forms import (
    ApiTokenAddForm,
    DeploymentAddForm,
    ReleaseAddForm,
    ServiceForm,
    SigningKeyAddForm,
    StatusNoteAddForm,
    TrustedIdentityAddForm,
)
from .models import (
    ApiToken,
    Deployment,
    Environment,
    Observer,
    ObserverReport,
    Project,
    Rebuild,
    RebuildAnswer,
    Rebuilder,
    Release,
    SigningKey,
    StatusNote,
    TrustedIdentity,
)
from .words import entered_by

# A live endpoint typed without a scheme is https (Django 6's default; said explicitly for 5.2).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class EnvironmentInline(admin.TabularInline):
    """Existing environments at a glance; new ones are added on the environment page, where the name is
    chosen once (log entries name it, so it never changes afterwards)."""

    model = Environment
    formfield_overrides = URL_FIELDS
    fields = ["name", "live_url", "check_interval"]
    readonly_fields = ["name"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "repo_url", "protected_branch"]
    search_fields = ["slug", "name"]
    inlines = [EnvironmentInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug is written into every log entry of the project: renaming it would rewrite history.
        return ["slug"] if obj is not None else []


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "live_url", "check_interval", "next_check_at"]
    list_editable = ["check_interval"]
    # Every row is a form (the interval is edited in the list): fifty rows render in well under 300 ms.
    list_per_page = 50
    list_filter = ["project"]
    list_select_related = ["project"]
    fields = ["project", "name", "live_url", "site_url", "entry_pages", "check_interval", "next_check_at"]
    formfield_overrides = URL_FIELDS

    def get_readonly_fields(self, request, obj=None):
        # Deployment and status entries name the environment: once created, it keeps its name and project.
        return ["project", "name", "next_check_at"] if obj is not None else ["next_check_at"]


class AddOnlyAdmin(admin.ModelAdmin):
    """Records that are added once and then only viewed: the add form differs from the detail view."""

    add_form = None
    add_fields = []

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, **kwargs)
        # The operator who adds the record is recorded as its author (and in its log entry).
        return type(form.__name__, (form,), {"user": request.user}) if obj is None else form

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """The form's ``clean()`` already wrote the record through the service."""

    def has_permission_to(self, request, action):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


@admin.register(SigningKey)
class SigningKeyAdmin(AddOnlyAdmin):
    add_form = SigningKeyAddForm
    add_fields = ["project", "label", "public_key_pem", "valid_from", "valid_until"]
    fields = [
        "project",
        "label",
        "algorithm",
        "key_id",
        "public_key_pem",
        "valid_from",
        "valid_until",
        "revoked_at",
        "created_at",
    ]
    list_display = ["short_id", "project", "algorithm", "label", "valid_from", "valid_until", "revoked_at"]
    list_filter = ["project", "algorithm"]
    list_select_related = ["project"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        """Trust the key through the service, so its log entry is written with the operator's name."""
        key, _created = services.add_signing_key(
            obj.project,
            obj.public_key_pem,
            label=obj.label,
            valid_from=obj.valid_from,
            valid_until=obj.valid_until,
            user=request.user,
        )
        obj.pk, obj.key_id, obj.algorithm = key.pk, key.key_id, key.algorithm
        obj._state.adding = False

    def has_revoke_permission(self, request):
        return self.has_permission_to(request, "change")

    @admin.action(
        description=_("Revoke the selected keys (releases signed before stay valid)"), permissions=["revoke"]
    )
    def revoke(self, request, queryset):
        keys = [key for key in queryset.select_related("project") if key.revoked_at is None]
        try:
            for key in keys:
                services.revoke_signing_key(key, user=request.user)
        except services.Refused as refused:
            # A closed log refuses the first key already; each revocation is its own transaction.
            self.message_user(request, refused.message, messages.ERROR)
            return
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", len(keys)) % {"count": len(keys)},
        )


@admin.register(TrustedIdentity)
class TrustedIdentityAdmin(AddOnlyAdmin):
    """The CI identities a project trusts for keyless releases: added and removed, each logged."""

    add_form = TrustedIdentityAddForm
    add_fields = ["project", "issuer", "repository", "workflow", "ref"]
    fields = ["project", "issuer", "repository", "workflow", "ref", "added_at", "removed_at"]
    list_display = ["repository", "project", "issuer", "workflow", "ref", "added_at", "removed_at"]
    list_filter = ["project"]
    list_select_related = ["project"]
    actions = ["remove"]

    def save_model(self, request, obj, form, change):
        """Trust the identity through the service, so its log entry names the operator."""
        identity, _created = services.add_identity(
            obj.project,
            issuer=obj.issuer,
            repository=obj.repository,
            workflow=obj.workflow,
            ref=obj.ref,
            user=request.user,
        )
        obj.pk, obj.added_at = identity.pk, identity.added_at
        obj._state.adding = False

    def has_remove_permission(self, request):
        return self.has_permission_to(request, "change")

    @admin.action(
        description=_("Stop trusting the selected identities (releases registered before stay valid)"),
        permissions=["remove"],
    )
    def remove(self, request, queryset):
        identities = [
            identity for identity in queryset.select_related("project") if identity.removed_at is None
        ]
        try:
            for identity in identities:
                services.remove_identity(identity, user=request.user)
        except services.Refused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        self.message_user(
            request,
            ngettext("%(count)d identity removed.", "%(count)d identities removed.", len(identities))
            % {"count": len(identities)},
        )


@admin.register(ApiToken)
class ApiTokenAdmin(AddOnlyAdmin):
    add_form = ApiTokenAddForm
    add_fields = ["project", "name"]
    fields = ["project", "name", "hint", "created_at", "last_used_at", "revoked_at"]
    list_display = ["name", "project", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["project"]
    list_select_related = ["project"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        """Issue the token and show it this once: only its hash is stored, so it can never be shown again."""
        token, raw = ApiToken.issue(obj.project, obj.name)
        obj.pk, obj.token_hash, obj.hint, obj.created_at = (
            token.pk,
            token.token_hash,
            token.hint,
            token.created_at,
        )
        obj._state.adding = False
        messages.success(
            request,
            gettext("The new token is %(token)s — copy it now: it will not be shown again.") % {"token": raw},
        )

    def has_revoke_permission(self, request):
        return self.has_permission_to(request, "change")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", count) % {"count": count},
        )


@admin.register(Release)
class ReleaseAdmin(AddOnlyAdmin):
    add_form = ReleaseAddForm
    add_fields = ["project", "version", "envelope", "ci_build_url"]
    fields = [
        "project",
        "version",
        "artifact_name",
        "artifact_digest",
        "source_commit",
        "repo_url",
        "ci_build_url",
        "signer_key",
        "entered",
        "registered_at",
        "envelope",
        "envelope_sha256",
    ]
    list_display = ["version", "project", "artifact_digest", "registered_at", "entered"]
    list_filter = ["project"]
    list_select_related = ["project", *Release.AUTHOR_FIELDS]
    search_fields = ["version", "artifact_digest", "source_commit"]

    @admin.display(description=_("entered"))
    def entered(self, release):
        return entered_by(release)


@admin.register(Deployment)
class DeploymentAdmin(AddOnlyAdmin):
    add_form = DeploymentAddForm
    add_fields = ["environment", "release", "pipeline_run_url", "deploy_anyway"]
    fields = ["environment", "release", "deployed_at", "pipeline_run_url", "entered", "registered_at"]
    list_display = ["__str__", "deployed_at", "entered"]
    list_filter = ["environment__project"]
    list_select_related = ["environment__project", "release__project", *Deployment.AUTHOR_FIELDS]

    @admin.display(description=_("entered"))
    def entered(self, deployment):
        return entered_by(deployment)


@admin.register(StatusNote)
class StatusNoteAdmin(AddOnlyAdmin):
    """Public notes on a status: posted and logged, never edited or deleted (a newer note replaces one)."""

    add_form = StatusNoteAddForm
    add_fields = ["project", "environment", "kind", "text", "starts_at", "ends_at"]
    fields = ["project", "environment", "kind", "text", "starts_at", "ends_at", "entered", "registered_at"]
    list_display = ["text", "project", "environment", "kind", "starts_at", "ends_at", "entered"]
    list_filter = ["project", "kind"]
    list_select_related = ["project", "environment", *StatusNote.AUTHOR_FIELDS]

    @admin.display(description=_("entered"))
    def entered(self, note):
        return entered_by(note)


class PartyAddForm(ServiceForm):
    """Register an independent party of the form's model (an observer, a rebuilder) through
    ``services.add_party`` (which logs it); the token it returns is kept on the form for the admin to show
    once."""

    token = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance, self.token = services.add_party(
                self._meta.model, cleaned["name"], cleaned["public_key_pem"], user=self.user
            )
        except services.Refused as refused:
            self.add_refusal(refused)
        return cleaned

    def validate_unique(self):
        """The service says why a name or key is taken (the one sentence the operator sees); the row is
        the one it just wrote."""


PEM_WIDGETS = {"public_key_pem": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}


class ObserverAddForm(PartyAddForm):
    class Meta:
        model = Observer
        fields = ["name", "public_key_pem"]
        widgets = PEM_WIDGETS
        help_texts = {
            "public_key_pem": _(
                "The observer's own Ed25519 or ECDSA P-256 public key, starting with "
                "-----BEGIN PUBLIC KEY-----: its reports must verify under it."
            )
        }


class RebuilderAddForm(PartyAddForm):
    class Meta:
        model = Rebuilder
        fields = ["name", "public_key_pem"]
        widgets = PEM_WIDGETS
        help_texts = {
            "public_key_pem": _(
                "The rebuilder's own Ed25519 or ECDSA P-256 public key, starting with "
                "-----BEGIN PUBLIC KEY-----: its rebuild attestations must verify under it."
            )
        }


class PartyAdmin(AddOnlyAdmin):
    """Independent parties (observers, rebuilders): added with their public key and removed, each logged;
    never edited or deleted, so every statement they signed stays checkable under the key they had. A
    subclass sets ``add_form``, the words shown with a new party's token (``token_message``, with
    ``%(token)s``) and after a removal (``removed_message``, with ``%(count)d``), and names its ``remove``
    action, which calls ``remove_parties``."""

    token_message = None
    removed_message = None

    add_fields = ["name", "public_key_pem"]
    fields = ["name", "algorithm", "key_id", "public_key_pem", "added_at", "removed_at"]
    list_display = ["name", "short_id", "algorithm", "added_at", "removed_at"]
    search_fields = ["name", "key_id"]
    actions = ["remove"]

    def has_remove_permission(self, request):
        return self.has_permission_to(request, "change")

    def save_model(self, request, obj, form, change):
        """The form's ``clean()`` registered the party; its token is shown this once (only its hash is
        stored)."""
        messages.success(request, self.token_message % {"token": form.token})

    def remove_parties(self, request, queryset):
        """Remove the selected parties not removed yet, each logged, and say how many (or why not)."""
        parties = [party for party in queryset if party.removed_at is None]
        try:
            for party in parties:
                services.remove_party(party, user=request.user)
        except services.Refused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        self.message_user(request, self.removed_message % {"count": len(parties)})


@admin.register(Observer)
class ObserverAdmin(PartyAdmin):
    add_form = ObserverAddForm
    token_message = _(
        "The observer's token is %(token)s — copy it now and give it to the observer (it is "
        "VITRINA_OBSERVER_TOKEN for vitrina-verify observe --publish): it will not be shown again."
    )
    removed_message = ngettext_lazy("%(count)d observer removed.", "%(count)d observers removed.", "count")

    @admin.action(
        description=_("Remove the selected observers (their earlier reports stay)"), permissions=["remove"]
    )
    def remove(self, request, queryset):
        self.remove_parties(request, queryset)


@admin.register(Rebuilder)
class RebuilderAdmin(PartyAdmin):
    add_form = RebuilderAddForm
    token_message = _(
        "The rebuilder's token is %(token)s — copy it now and give it to the rebuilder (it is "
        "VITRINA_REBUILDER_TOKEN for vitrina-verify rebuild --publish): it will not be shown again."
    )
    removed_message = ngettext_lazy("%(count)d rebuilder removed.", "%(count)d rebuilders removed.", "count")

    @admin.action(
        description=_("Remove the selected rebuilders (their earlier rebuilds stay)"), permissions=["remove"]
    )
    def remove(self, request, queryset):
        self.remove_parties(request, queryset)


@admin.register(ObserverReport)
class ObserverReportAdmin(admin.ModelAdmin):
    """What observers signed, as received and logged: read only."""

    fields = [
        "observer",
        "environment",
        "deployment",
        "observed_at",
        "received_at",
        "result",
        "reason",
        "message",
        "live_digest",
        "expected_digest",
        "served_files_checked",
        "served_files_matched",
        "envelope",
        "envelope_sha256",
    ]
    readonly_fields = fields
    list_display = ["observer", "environment", "observed_at", "result", "reason"]
    list_filter = ["result", "observer", "environment__project"]
    list_select_related = ["observer", "environment__project"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rebuild)
class RebuildAdmin(admin.ModelAdmin):
    """What rebuilders signed, as received, compared and logged: read only. A rebuild that got other bytes
    links to the form that answers it in public."""

    fields = [
        "rebuilder",
        "release",
        "rebuilt_at",
        "received_at",
        "result",
        "subjects",
        "answer_link",
        "envelope",
        "envelope_sha256",
    ]
    readonly_fields = fields
    list_display = ["release", "rebuilder", "rebuilt_at", "result", "answer_link"]
    list_filter = ["result", "rebuilder", "release__project"]
    list_select_related = ["rebuilder", "release__project", "answer"]

    @admin.display(description=_("answer"))
    def answer_link(self, rebuild):
        answer = getattr(rebuild, "answer", None)
        if answer is not None:
            return answer.text
        if rebuild.result != Rebuild.Result.DIFFERS:
            return "—"
        url = reverse("admin:registry_rebuildanswer_add") + f"?rebuild={rebuild.pk}"
        return format_html('<a href="{}">{}</a>', url, gettext("Answer in public"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RebuildAnswerAddForm(ServiceForm):
    """An operator's public answer to a differing rebuild, through ``services.answer_rebuild`` (which
    logs it)."""

    class Meta:
        model = RebuildAnswer
        fields = ["rebuild", "text"]
        widgets = {"text": forms.TextInput(attrs={"size": 80})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only what can be answered: a rebuild that got other bytes, not answered yet.
        unanswered = Rebuild.objects.filter(result=Rebuild.Result.DIFFERS, answer__isnull=True)
        self.fields["rebuild"].queryset = unanswered.select_related("rebuilder", "release__project")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = services.answer_rebuild(cleaned["rebuild"], cleaned["text"], user=self.user)
        except services.Refused as refused:
            self.add_refusal(refused)
        return cleaned

    def validate_unique(self):
        """The service says when a rebuild is already answered; the row is the one it just wrote."""


@admin.register(RebuildAnswer)
class RebuildAnswerAdmin(AddOnlyAdmin):
    """Public answers to rebuilds that got other bytes: given once, logged, never edited or deleted."""

    add_form = RebuildAnswerAddForm
    add_fields = ["rebuild", "text"]
    fields = ["rebuild", "text", "entered", "registered_at"]
    list_display = ["text", "rebuild", "registered_at", "entered"]
    list_select_related = ["rebuild__rebuilder", "rebuild__release__project", *RebuildAnswer.AUTHOR_FIELDS]

    @admin.display(description=_("entered"))
    def entered(self, answer):
        return entered_by(answer)

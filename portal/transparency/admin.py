"""The operators' admin of the log's witnesses: add one, remove it, see how it is doing, and read the
cosignatures it gave.

A witness is added through ``witnesses.add_witness`` and removed through ``witnesses.remove_witness``, each
logged, as the management commands do; it is never edited or deleted: its name and key are in the log,
and the cosignatures it gave stay checkable under them. Cosignatures are read only.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import witnesses
from .models import Cosignature, Witness

# A prefix typed without a scheme is https (Django 6's default; said explicitly for 5.2).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def https_by_default(field, **kwargs):
    return field.formfield(**URL_FIELDS.get(type(field), {}), **kwargs)


class WitnessAddForm(forms.ModelForm):
    """Register a witness through ``witnesses.add_witness`` (which logs it); ``user`` is the operator."""

    user = None

    class Meta:
        formfield_callback = https_by_default
        model = Witness
        fields = ["name", "verifier_key", "url"]
        widgets = {"verifier_key": forms.TextInput(attrs={"size": 80, "spellcheck": "false"})}
        help_texts = {
            "name": _("The witness's name, as its verifier key starts (e.g. witness.example.org/w1)."),
            "verifier_key": _(
                "The witness's cosignature/v1 verifier key, name+hash+base64, as "
                "python -m verifier witness init or key prints it."
            ),
            "url": _("Its submission prefix: the portal posts checkpoints to <prefix>/add-checkpoint."),
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = witnesses.add_witness(
                cleaned["name"], cleaned["verifier_key"], cleaned["url"], user=self.user
            )
        except witnesses.Refused as refused:
            self.add_error(refused.field if refused.field in self.fields else None, refused.message)
        return cleaned

    def validate_unique(self):
        """The service says why a name or key is taken; the row is the one it just wrote."""


@admin.register(Witness)
class WitnessAdmin(admin.ModelAdmin):
    """Witnesses: added and removed (each logged), never edited or deleted."""

    formfield_overrides = URL_FIELDS
    add_fields = ["name", "verifier_key", "url"]
    fields = [
        "name",
        "verifier_key",
        "url",
        "added_at",
        "removed_at",
        "known_size",
        "failures",
        "retry_at",
        "last_error",
    ]
    list_display = ["name", "key_id", "url", "added_at", "removed_at", "known_size", "failures", "last_error"]
    search_fields = ["name", "verifier_key"]
    actions = ["remove"]

    @admin.display(description=_("key ID"))
    def key_id(self, witness):
        return witnesses.key_id(witness)

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = WitnessAddForm
        form = super().get_form(request, obj, **kwargs)
        # The operator who adds the witness is named in its log entry.
        return type(form.__name__, (form,), {"user": request.user}) if obj is None else form

    def save_model(self, request, obj, form, change):
        """The form's ``clean()`` already registered the witness through the service."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_remove_permission(self, request):
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(
        description=_("Remove the selected witnesses (their cosignatures stay)"), permissions=["remove"]
    )
    def remove(self, request, queryset):
        chosen = [witness for witness in queryset if witness.removed_at is None]
        try:
            for witness in chosen:
                witnesses.remove_witness(witness, user=request.user)
        except witnesses.Refused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        self.message_user(
            request,
            ngettext("%(count)d witness removed.", "%(count)d witnesses removed.", len(chosen))
            % {"count": len(chosen)},
        )


@admin.register(Cosignature)
class CosignatureAdmin(admin.ModelAdmin):
    """Cosignatures the witnesses gave, each verified when it was stored: read only."""

    fields = ["checkpoint", "witness", "timestamp", "received_at", "line"]
    readonly_fields = fields
    list_display = ["checkpoint", "witness", "timestamp", "received_at"]
    list_filter = ["witness"]
    list_select_related = ["checkpoint", "witness"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

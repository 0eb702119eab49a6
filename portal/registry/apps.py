from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "portal.registry"
    verbose_name = _("Registry")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The log's self-audit also checks that every record still says what it logged; the log cannot
        # import the registry, so the registry hands it the check.
        from portal.transparency.services import register_record_audit

        from .audit import audit_records

        register_record_audit(audit_records)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransparencyConfig(AppConfig):
    name = "portal.transparency"
    verbose_name = _("Transparency log")
    default_auto_field = "django.db.models.BigAutoField"

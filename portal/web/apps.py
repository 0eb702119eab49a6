from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "portal.web"
    verbose_name = _("Public site")
    default_auto_field = "django.db.models.BigAutoField"

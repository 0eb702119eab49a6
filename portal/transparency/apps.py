from django.apps import AppConfig


class TransparencyConfig(AppConfig):
    name = "portal.transparency"
    default_auto_field = "django.db.models.BigAutoField"

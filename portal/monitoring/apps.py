from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "portal.monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The app's modules queue its tasks by name (``app.tasks[name]``); registering them here makes
        # the names known in every process that queues one, the web process included.
        from . import tasks  # noqa: F401

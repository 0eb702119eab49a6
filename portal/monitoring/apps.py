from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "portal.monitoring"
    verbose_name = _("Monitoring")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The app's modules queue its tasks by name (``app.tasks[name]``); registering them here makes
        # the names known in every process that queues one, the web process included.
        from . import tasks  # noqa: F401

        # Every release is asked about its source once registered, however it was registered (API,
        # admin, command): the registry cannot import monitoring, so monitoring listens.
        post_save.connect(release_saved, sender="registry.Release", dispatch_uid="monitoring-release-check")

        # The admin's deployment form asks for a confirmation before deploying a release whose source the
        # repository did not confirm on the protected branch; the registry cannot import monitoring.
        from portal.registry.forms import register_deploy_caution

        from .evidence import deploy_caution

        register_deploy_caution(deploy_caution)


def release_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from .releases import queue_check

        queue_check(instance.pk)

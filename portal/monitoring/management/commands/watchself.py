"""``manage.py watchself``: let this Vitrina watch itself (run by ``make run`` on first start)."""

from django.core.management.base import BaseCommand, CommandError

from portal.monitoring.selfwatch import SelfWatchError, watch_self


class Command(BaseCommand):
    help = (
        "Register this Vitrina as project 'vitrina' with environment 'local', a signed release of the "
        "running code and a deployment, so its own status page shows a real check. Safe to run again."
    )

    def handle(self, *args, **options):
        try:
            environment, release, deployment = watch_self()
        except SelfWatchError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Watching {environment} at {environment.live_url}")
        self.stdout.write(
            f"Running release {release.version} ({release.artifact_digest}, commit {release.source_commit})"
        )
        if deployment is not None:
            self.stdout.write(
                f"Recorded deployment {deployment.pk}; the first check follows within a minute."
            )

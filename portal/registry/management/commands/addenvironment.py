"""``manage.py addenvironment SLUG ENV --url LIVE_URL``: add an environment to watch, or update it."""

from django.core.management.base import BaseCommand

from portal.registry.models import Environment

from ._common import clean_or_error, project_or_error


class Command(BaseCommand):
    help = "Add an environment (e.g. production) and the URL of its live digest endpoint. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("environment", help="the environment's name, e.g. production")
        parser.add_argument(
            "--url", required=True, help="the live endpoint where the server reports its digest"
        )
        parser.add_argument("--interval", type=int, help="seconds between checks (at least 10; default 60)")

    def handle(self, *args, slug, environment, url, interval, **options):
        project = project_or_error(slug)
        instance = Environment.objects.filter(project=project, name=environment).first()
        created = instance is None
        if created:
            instance = Environment(project=project, name=environment)
        instance.live_url = url
        if interval is not None:
            instance.check_interval = interval
        clean_or_error(instance)
        instance.save()
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} environment {instance}: {instance.live_url}, checked every {instance.check_interval} s."
        )

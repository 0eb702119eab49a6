"""``manage.py addenvironment SLUG ENV --url LIVE_URL``: add an environment to watch, or update it."""

from portal.registry.models import Environment

from ._common import ProjectCommand, create_or_update


class Command(ProjectCommand):
    help = "Add an environment (e.g. production) and the URL of its live digest endpoint. Safe to run again."

    def add_project_arguments(self, parser):
        parser.add_argument("environment", help="the environment's name, e.g. production")
        parser.add_argument(
            "--url", required=True, help="the live endpoint where the server reports its digest"
        )
        parser.add_argument("--interval", type=int, help="seconds between checks (at least 10; default 60)")

    def handle_project(self, project, *, environment, url, interval, **options):
        instance, verb = create_or_update(
            Environment, {"project": project, "name": environment}, live_url=url, check_interval=interval
        )
        self.stdout.write(
            f"{verb} environment {instance}: {instance.live_url}, checked every {instance.check_interval} s."
        )

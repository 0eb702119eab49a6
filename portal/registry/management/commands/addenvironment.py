"""``manage.py addenvironment SLUG ENV --url LIVE_URL [--site-url URL] [--entry-page PATH ...]``: add an
environment to watch, or update it."""

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
        parser.add_argument(
            "--site-url",
            help="the public web site it serves; its scripts and style sheets are compared with the release",
        )
        parser.add_argument(
            "--entry-page",
            action="append",
            dest="entry_pages",
            metavar="PATH",
            help="a page of the site to read scripts and style sheets from (repeat; default /)",
        )

    def handle_project(self, project, *, environment, url, interval, site_url, entry_pages, **options):
        instance, verb = create_or_update(
            Environment,
            {"project": project, "name": environment},
            live_url=url,
            check_interval=interval,
            site_url=site_url,
            entry_pages=None if entry_pages is None else "\n".join(entry_pages),
        )
        site = (
            f" Site {instance.site_url}, pages {' '.join(instance.entry_page_list())}."
            if instance.site_url
            else ""
        )
        self.stdout.write(
            f"{verb} environment {instance}: {instance.live_url}, checked every {instance.check_interval} s."
            + site
        )

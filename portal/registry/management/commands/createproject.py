"""``manage.py createproject SLUG --name N --repo URL``: create a project, or update the one of that slug."""

from django.core.management.base import BaseCommand

from portal.registry.models import Project

from ._common import create_or_update


class Command(BaseCommand):
    help = "Create a project, or update its name, repository, branch and description. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lowercase letters, digits and -, e.g. city-portal")
        parser.add_argument("--name", required=True, help="the name shown to the public")
        parser.add_argument(
            "--repo", required=True, help="public repository URL, where anyone can fetch the code"
        )
        parser.add_argument("--branch", help="the protected branch releases must come from (default main)")
        parser.add_argument("--description", help="one paragraph for the project's page")

    def handle(self, *args, slug, name, repo, branch, description, **options):
        project, verb = create_or_update(
            Project,
            {"slug": slug},
            name=name,
            repo_url=repo,
            protected_branch=branch,
            description=description,
        )
        self.stdout.write(
            f"{verb} project '{project.slug}' ({project.repo_url}, branch {project.protected_branch})."
        )

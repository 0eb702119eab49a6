"""``manage.py createtoken SLUG``: issue an API token for a project's CI and print it, once."""

from django.core.management.base import BaseCommand, CommandError

from portal.registry.models import ApiToken

from ._common import project_or_error


class Command(BaseCommand):
    help = (
        "Issue a token that lets CI register releases and deployments for one project. The token is "
        "printed once, alone on stdout, and only its hash is stored: each run issues a new token, since "
        "an old one cannot be shown again. Revoke old tokens in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("--name", default="ci", help="what will use the token, e.g. 'GitHub Actions'")

    def handle(self, *args, slug, name, **options):
        project = project_or_error(slug)
        name = name.strip()
        max_length = ApiToken._meta.get_field("name").max_length
        if not name or len(name) > max_length:
            raise CommandError(f"--name must be 1 to {max_length} characters.")
        token, raw = ApiToken.issue(project, name)
        self.stderr.write(
            f"Token '{token.name}' for '{project.slug}' ({token.hint}…): store it now, it is not shown again."
        )
        self.stdout.write(raw)

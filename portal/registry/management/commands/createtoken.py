"""``manage.py createtoken SLUG``: issue an API token for a project's CI and print it, once."""

from portal.registry.models import ApiToken

from ._common import ProjectCommand, name_or_error, print_once


class Command(ProjectCommand):
    help = (
        "Issue a token that lets CI register releases and deployments for one project. The token is "
        "printed once, alone on stdout, and only its hash is stored: each run issues a new token, since "
        "an old one cannot be shown again. Revoke old tokens in the admin."
    )

    def add_project_arguments(self, parser):
        parser.add_argument("--name", default="ci", help="what will use the token, e.g. 'GitHub Actions'")

    def handle_project(self, project, *, name, **options):
        token, raw = ApiToken.issue(project, name_or_error(ApiToken, name))
        print_once(
            self,
            raw,
            f"Token '{token.name}' for '{project.slug}' ({token.hint}…): "
            "store it now, it is not shown again.",
        )

"""``manage.py addidentity SLUG --issuer URL --repository URL [--workflow PATTERN] [--ref PATTERN]``: trust a
CI identity for a project's keyless releases (Sigstore bundles); prints the identity's id."""

from django.core.management.base import CommandError

from portal.registry import services

from ._common import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Trust a CI identity for a project's keyless releases: a Sigstore bundle is accepted when its "
        "certificate's issuer is ISSUER, its source repository is REPOSITORY (the project's) and, when "
        "given, its signing workflow and source ref match the patterns (* and ?). Adding the same identity "
        "again changes nothing. The change is logged."
    )

    def add_project_arguments(self, parser):
        parser.add_argument(
            "--issuer", required=True, help="e.g. https://token.actions.githubusercontent.com"
        )
        parser.add_argument("--repository", required=True, help="e.g. https://github.com/org/app")
        parser.add_argument(
            "--workflow",
            default="",
            help="e.g. https://github.com/org/app/.github/workflows/release.yml@*; default: any workflow",
        )
        parser.add_argument("--ref", default="", help="e.g. refs/heads/main or refs/tags/v*; default: any")

    def handle_project(self, project, *, issuer, repository, workflow, ref, **options):
        try:
            identity, created = services.add_identity(
                project, issuer=issuer, repository=repository, workflow=workflow, ref=ref
            )
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        if not created:
            self.stderr.write(
                f"Project '{project.slug}' already trusts this identity (since {identity.added_at:%Y-%m-%d})."
            )
        self.stdout.write(str(identity.pk))

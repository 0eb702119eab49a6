"""``manage.py addkey SLUG PEM_FILE``: trust a public key for a project's releases; prints its key id."""

from django.core.management.base import CommandError

from portal.registry import services

from ._common import ProjectCommand, read_pem


class Command(ProjectCommand):
    help = (
        "Trust an Ed25519 or ECDSA P-256 public key (PEM) for a project's releases, and print its key id. "
        "Adding the same key again changes nothing and prints the same id."
    )

    def add_project_arguments(self, parser):
        parser.add_argument("pem_file", help="the public key, as a PEM file (e.g. cosign.pub)")
        parser.add_argument(
            "--label", default="", help="a note to tell keys apart, e.g. 'GitHub Actions 2026'"
        )

    def handle_project(self, project, *, pem_file, label, **options):
        pem = read_pem(pem_file)
        try:
            key, created = services.add_signing_key(project, pem, label=label)
        except services.Refused as exc:
            raise CommandError(f"{pem_file}: {exc.message}") from exc
        if not created:
            self.stderr.write(
                f"Project '{project.slug}' already trusts this key (since {key.valid_from:%Y-%m-%d})."
            )
        # Only the key id on stdout, so a script can capture it.
        self.stdout.write(key.key_id)

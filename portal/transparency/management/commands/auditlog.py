"""Run the log's self-audit now; exits non-zero when it fails."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency import services


class Command(BaseCommand):
    help = "Re-derive the transparency log's tree from its entries and check every checkpoint."

    def handle(self, *args, **options):
        run = services.audit()
        if not run.ok:
            raise CommandError(f"log integrity check FAILED: {run.message}")
        self.stdout.write(run.message)

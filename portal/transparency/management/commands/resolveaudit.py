"""``manage.py resolveaudit --note "..."``: reopen the log after a failed self-audit, once it passes again."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency import services


class Command(BaseCommand):
    help = (
        "Run the log's self-audit again after repairing what it found, and reopen the log to new releases, "
        "deployments, keys and status changes only if it passes. The note is kept with the passing audit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--note",
            required=True,
            help="what was found and what was repaired, e.g. 'release 1.4.0 restored from backup'",
        )

    def handle(self, *args, note, **options):
        try:
            run, resolution = services.resolve_audit(note)
        except ValueError as exc:
            raise CommandError(f"--note: {exc}.") from exc
        if not run.ok:
            raise CommandError(
                f"The self-audit still fails: {run.message} The log stays closed to new entries; repair "
                "what the audit names (e.g. restore the rows from a backup) and run this again."
            )
        if resolution is None:
            self.stdout.write(f"The log was not closed; the self-audit passes: {run.message}")
            return
        self.stdout.write(f"The log is open again; the self-audit passes: {run.message}")

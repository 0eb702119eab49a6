"""Sequence pending log entries into the Merkle tree and sign a checkpoint, as the Celery task does."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency import services
from portal.transparency.signing import LogKeyError


class Command(BaseCommand):
    help = (
        "Give pending transparency log entries their indexes, integrate them into the Merkle tree and sign "
        "a checkpoint."
    )

    def handle(self, *args, **options):
        try:
            checkpoint = services.integrate()
        except (LogKeyError, services.LogCorrupted) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"tree size {checkpoint.size}")
